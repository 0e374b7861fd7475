package roster

import (
	"testing"
	"time"
)

func TestAcademicYearHasFourteenBlocksCoveringEveryDay(t *testing.T) {
	for y := AcademicYear(2020); y <= 2035; y++ {
		blocks := y.Blocks()
		if len(blocks) != 14 {
			t.Fatalf("%d: %d blocks", y, len(blocks))
		}
		if blocks[0].Start != y.First() || blocks[13].End != y.Last() {
			t.Fatalf("%d: blocks span %v to %v", y, blocks[0].Start, blocks[13].End)
		}
		if n := blocks[0].Days(); n < 0 || n > 6 {
			t.Fatalf("%d: orientation of %d days", y, n)
		}
		for i := 1; i <= 12; i++ {
			b := blocks[i]
			if b.Days() != 28 || b.Start.Weekday() != time.Thursday || b.End.Weekday() != time.Wednesday {
				t.Fatalf("%d block %d: %v..%v (%d days)", y, i, b.Start, b.End, b.Days())
			}
		}
		for i := 1; i < 14; i++ {
			if blocks[i].Start != blocks[i-1].End.AddDays(1) {
				t.Fatalf("%d: gap or overlap between blocks %d and %d", y, i-1, i)
			}
		}
		days := y.Last().Sub(y.First()) + 1
		if got := len(Slots(y.First(), y.Last())); got != 2*days {
			t.Fatalf("%d: %d slots for %d days", y, got, days)
		}
	}
	// 2026-07-01 is a Wednesday: orientation is that one day and block 1 starts on July 2.
	b := AcademicYear(2026).Blocks()
	if b[0].Days() != 1 || b[1].Start != (Date{2026, time.July, 2}) {
		t.Fatalf("2026: %+v %+v", b[0], b[1])
	}
	if n := len(Slots(AcademicYear(2026).First(), AcademicYear(2026).Last())); n != 730 {
		t.Fatalf("2026-27 has %d slots, want 730", n)
	}
	// 2027-07-01 is a Thursday: the orientation block is empty.
	if d := AcademicYear(2027).Blocks()[0].Days(); d != 0 {
		t.Fatalf("2027 orientation %d days", d)
	}
}

func TestBlockOfAndSlotIndexes(t *testing.T) {
	if b := BlockOf(Date{2027, time.June, 30}); b.Number != 13 {
		t.Fatalf("June 30 in block %d", b.Number)
	}
	if b := BlockOf(Date{2026, time.July, 29}); b.Number != 1 {
		t.Fatalf("July 29 in block %d", b.Number)
	}
	if b := BlockOf(Date{2026, time.July, 30}); b.Number != 2 {
		t.Fatalf("July 30 in block %d", b.Number)
	}
	from := Date{2026, time.July, 2}
	for i := range 100 {
		if got := SlotAt(from, i).Index(from); got != i {
			t.Fatalf("slot %d round-trips to %d", i, got)
		}
	}
	var d Date
	if err := d.UnmarshalText([]byte("2026-02-30")); err == nil {
		t.Fatal("2026-02-30 accepted")
	}
}

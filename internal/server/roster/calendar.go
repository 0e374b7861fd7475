package roster

import (
	"fmt"
	"time"
)

// Half is the part of a day a slot covers.
type Half string

// The two halves of a day.
const (
	AM Half = "AM"
	PM Half = "PM"
)

// Date is a calendar day (no time, no zone).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar day of t in its location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// In returns midnight of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDays returns the day n days after d.
func (d Date) AddDays(n int) Date { return DateOf(d.In(time.UTC).AddDate(0, 0, n)) }

// Sub returns the number of days from e to d.
func (d Date) Sub(e Date) int { return int(d.In(time.UTC).Sub(e.In(time.UTC)).Hours() / 24) }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Sub(e) < 0 }

// Weekday is d's day of the week.
func (d Date) Weekday() time.Weekday { return d.In(time.UTC).Weekday() }

// String is YYYY-MM-DD.
func (d Date) String() string { return d.In(time.UTC).Format(time.DateOnly) }

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Slot is one half-day of the calendar.
type Slot struct {
	Date Date `json:"date"`
	Half Half `json:"time_of_day"`
}

// Index is the slot's position counted from the first slot of day `from` (AM = even).
func (s Slot) Index(from Date) int {
	i := 2 * s.Date.Sub(from)
	if s.Half == PM {
		i++
	}
	return i
}

// SlotAt is the inverse of Index.
func SlotAt(from Date, i int) Slot {
	h := AM
	if i%2 == 1 {
		h = PM
	}
	return Slot{Date: from.AddDays(i / 2), Half: h}
}

// Block is one academic block: block 0 is orientation (July 1 to the day before the first
// Thursday, 0 to 6 days), blocks 1 to 12 are 28 days from Thursday to Wednesday, and block 13
// runs from there to June 30.
type Block struct {
	Number int  `json:"block_number"`
	Start  Date `json:"start_date"`
	End    Date `json:"end_date"` // inclusive
}

// Days is the block's length in days (0 for an empty orientation block).
func (b Block) Days() int { return b.End.Sub(b.Start) + 1 }

// AcademicYear is the year that starts on July 1 of Start.
type AcademicYear int

// AcademicYearOf returns the academic year a day belongs to.
func AcademicYearOf(d Date) AcademicYear {
	if d.Month >= time.July {
		return AcademicYear(d.Year)
	}
	return AcademicYear(d.Year - 1)
}

// First and Last are the year's first and last days.
func (y AcademicYear) First() Date { return Date{int(y), time.July, 1} }

// Last is June 30 of the following calendar year.
func (y AcademicYear) Last() Date { return Date{int(y) + 1, time.June, 30} }

// Blocks returns the year's 14 academic blocks.
func (y AcademicYear) Blocks() []Block {
	first := y.First()
	thursday := first
	for thursday.Weekday() != time.Thursday {
		thursday = thursday.AddDays(1)
	}
	out := []Block{{Number: 0, Start: first, End: thursday.AddDays(-1)}}
	for n := 1; n <= 12; n++ {
		s := thursday.AddDays(28 * (n - 1))
		out = append(out, Block{Number: n, Start: s, End: s.AddDays(27)})
	}
	out = append(out, Block{Number: 13, Start: thursday.AddDays(28 * 12), End: y.Last()})
	return out
}

// BlockOf returns the academic block d falls in.
func BlockOf(d Date) Block {
	for _, b := range AcademicYearOf(d).Blocks() {
		if !d.Before(b.Start) && !b.End.Before(d) {
			return b
		}
	}
	panic("unreachable: every day of an academic year is in one of its blocks")
}

// Slots returns the AM and PM slots of the days [from, to] (inclusive).
func Slots(from, to Date) []Slot {
	var out []Slot
	for d := from; !to.Before(d); d = d.AddDays(1) {
		out = append(out, Slot{d, AM}, Slot{d, PM})
	}
	return out
}

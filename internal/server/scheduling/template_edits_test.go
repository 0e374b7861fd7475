package scheduling

import (
	"fmt"
	"testing"

	"github.com/rsched/rsched/internal/server/roster"
)

// The ranges an edit is judged on: a day either side, at least 7 days, dates within Margin days
// in one range, a gap over Margin or a range over MaxRangeDays starting another.
func TestEditWindows(t *testing.T) {
	d := func(s string) roster.Date {
		x, err := roster.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	start := d("2026-07-01")
	year := make([]roster.Date, 0, 500)
	for i := range 500 {
		year = append(year, start.AddDays(i))
	}
	for _, c := range []struct {
		name  string
		dates []roster.Date
		want  string
	}{
		{"one date", []roster.Date{start}, "[2026-06-30..2026-07-06]"},
		{"unsorted with a repeat", []roster.Date{start.AddDays(3), start, start.AddDays(3)}, "[2026-06-30..2026-07-06]"},
		{"a gap of Margin days from the range's end", []roster.Date{start, start.AddDays(2 + Margin)}, "[2026-06-30..2026-07-31]"},
		{"one day further", []roster.Date{start, start.AddDays(3 + Margin)}, "[2026-06-30..2026-07-06 2026-07-30..2026-08-05]"},
		{"across 1 July", []roster.Date{d("2026-06-20"), d("2026-07-10")}, "[2026-06-19..2026-06-25 2026-07-09..2026-07-15]"},
		{"500 days", year, "[2026-06-30..2027-07-01 2027-06-30..2027-11-13]"},
		{"four months apart: four ranges", []roster.Date{d("2026-07-10"), d("2026-08-20"), d("2026-10-01"), d("2026-11-12")},
			"[2026-07-09..2026-07-15 2026-08-19..2026-08-25 2026-09-30..2026-10-06 2026-11-11..2026-11-17]"},
		{"monthly: one range for the year", []roster.Date{d("2026-07-10"), d("2026-08-20"), d("2026-10-01"), d("2026-11-12"), d("2027-01-05"), d("2027-07-02")},
			"[2026-07-09..2027-01-06 2027-07-01..2027-07-07]"},
	} {
		var got []string
		for _, w := range editWindows(c.dates) {
			got = append(got, w.from.String()+".."+w.to.String())
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// CheckEdit's one range: a publication's ends judge everything between them.
	if w := spanWindow([]roster.Date{start.AddDays(60), start}); w.from.String() != "2026-06-30" || w.to.String() != "2026-08-31" {
		t.Errorf("span %s..%s", w.from, w.to)
	}
	if w := spanWindow([]roster.Date{start}); w.to.String() != "2026-07-06" {
		t.Errorf("span of one day to %s", w.to)
	}
	for _, w := range editWindows(year) {
		if n := w.to.Sub(w.from) + 1; n > roster.MaxRangeDays {
			t.Errorf("a range of %d days", n)
		}
	}
}

// Only the name leaves a template's sessions as they were; the levels allowed are a set.
func TestSessionsChanged(t *testing.T) {
	nine := roster.ClockTime(9 * 60)
	base := roster.Template{ID: "t", Name: "Wards", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 3, AllowedPGY: []int{1, 2}}
	for _, c := range []struct {
		name string
		edit func(*roster.Template)
		want bool
	}{
		{"nothing", func(*roster.Template) {}, false},
		{"the name", func(x *roster.Template) { x.Name = "Inpatient wards" }, false},
		{"levels reordered", func(x *roster.Template) { x.AllowedPGY = []int{2, 1, 2} }, false},
		{"hours", func(x *roster.Template) { x.HoursPerSession = 6.5 }, true},
		{"a start time", func(x *roster.Template) { x.StartTime = &nine }, true},
		{"fewer levels", func(x *roster.Template) { x.AllowedPGY = []int{2} }, true},
		{"every level", func(x *roster.Template) { x.AllowedPGY = nil }, true},
		{"a credential", func(x *roster.Template) { x.RequiredCredential = "procedures" }, true},
		{"the maximum", func(x *roster.Template) { x.MaxResidents = 2 }, true},
	} {
		after := base
		c.edit(&after)
		if got := SessionsChanged(base, after); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	empty, none := base, base
	empty.AllowedPGY, none.AllowedPGY = []int{}, nil
	if SessionsChanged(empty, none) {
		t.Error("no levels listed, as nil or empty, is one meaning")
	}
}

package roster

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestTemplateRunsOnHolidaysOnlyWhenItSaysSo(t *testing.T) {
	july4 := Date{2026, time.July, 3} // a Friday observed for the 4th
	holidays := []Holiday{{Date: july4, Name: "Independence Day (observed)"}}
	clinic := Template{ID: "clinic", Activity: Clinic, HoursPerSession: 4, MaxResidents: 2}
	ward := Template{ID: "ward", Activity: Inpatient, HoursPerSession: 6, MaxResidents: 2, Weekends: true, Holidays: true}
	call := Template{ID: "call", Activity: Call, HoursPerSession: 18, MaxResidents: 1, Weekends: true, Holidays: true}
	cases := []struct {
		name string
		t    Template
		s    Slot
		want bool
	}{
		{"a clinic on an ordinary weekday", clinic, Slot{july4.AddDays(-1), AM}, true},
		{"a clinic on a holiday", clinic, Slot{july4, AM}, false},
		{"a ward on a holiday", ward, Slot{july4, AM}, true},
		{"a call on a holiday night", call, Slot{july4, PM}, true},
		{"a call's morning is never staffed", call, Slot{july4, AM}, false},
		// Holidays open nothing that weekends close.
		{"a clinic that runs on holidays, on a Saturday", Template{ID: "c", Activity: Clinic, HoursPerSession: 4, MaxResidents: 1, Holidays: true}, Slot{july4.AddDays(1), AM}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.t.RunsOn(c.s, holidays); got != c.want {
				t.Fatalf("RunsOn = %v, want %v", got, c.want)
			}
		})
	}
}

// A clinic closed on a holiday: its minimum is not a coverage gap that day, someone placed on it
// is an eligibility violation, and the solver places no one on it; a ward that runs on holidays
// is still held to its minimum.
func TestHolidayClosesTemplatesThatDoNotRunOnHolidays(t *testing.T) {
	p := plantProgram()
	holiday := p.From.AddDays(1) // Friday 2026-07-03
	p.Holidays = []Holiday{{Date: holiday, Name: "Independence Day (observed)"}}
	p.Templates[1].MinResidents = 1 // clinic: weekdays, not holidays
	p.Templates[1].SupervisionRequired = false
	p.Templates[0].Holidays = true // the ward runs on holidays
	p.Templates[0].MinResidents = 1

	vs, err := Validate(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Two ward half-days that day, no clinic ones.
	gaps := 0
	for _, v := range vs {
		if v.Rule == RuleCoverage && DateOf(v.Start) == holiday {
			gaps++
			if !strings.Contains(v.Message, "on ward") {
				t.Fatalf("a closed clinic reported as a gap: %s", v.Message)
			}
		}
	}
	if gaps != 2 {
		t.Fatalf("%d coverage gaps on the holiday, want the ward's 2: %+v", gaps, vs)
	}

	vs, err = Validate(p, []Assignment{at2(p, 1, AM, "r2", "clinic")})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vs {
		found = found || (v.Rule == RuleEligibility && v.PersonID == "r2")
	}
	if !found {
		t.Fatalf("someone on a closed clinic is not an eligibility violation: %+v", vs)
	}

	res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 2000, TimeBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Assignments {
		if a.Slot.Date == holiday && a.TemplateID == "clinic" {
			t.Fatalf("the solver placed %s on the clinic on the holiday", a.PersonID)
		}
	}
	vs, err = Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 {
		t.Fatalf("hard violations: %+v", hard)
	}
}

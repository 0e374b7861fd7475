package roster

import (
	"context"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// TestPostCallDayBoundaries: which duties the day an overnight in-house call ends may hold.
func TestPostCallDayBoundaries(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(loc *time.Location, day, h, m int) time.Time {
		return time.Date(2026, time.July, day, h, m, 0, 0, loc)
	}
	call := func(loc *time.Location, hours float64) acgme.Duty {
		s := at(loc, 6, 13, 0)
		return acgme.Duty{Start: s, End: s.Add(time.Duration(hours * float64(time.Hour))), Call: true}
	}
	work := func(loc *time.Location, day, h, m int, hours float64) acgme.Duty {
		s := at(loc, day, h, m)
		return acgme.Duty{Start: s, End: s.Add(time.Duration(hours * float64(time.Hour)))}
	}
	whole := acgme.Range{From: at(time.UTC, 1, 0, 0), To: at(time.UTC, 20, 0, 0)}
	cases := []struct {
		name   string
		loc    *time.Location
		duties []acgme.Duty
		r      acgme.Range
		want   int
	}{
		{"18-hour call, clinic at 07:00 the next morning", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 7, 0, 4)}, whole, 1},
		{"18-hour call, ward the next afternoon", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 13, 0, 6)}, whole, 1},
		{"18-hour call, a night shift at 23:59 of the post-call day", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 23, 59, 8)}, whole, 1},
		{"18-hour call, ward at 00:00 the day after the post-call day", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 8, 0, 0, 6)}, whole, 0},
		{"18-hour call, ward two mornings later", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 8, 7, 0, 6)}, whole, 0},
		{"18-hour call, conference the next morning", time.UTC, []acgme.Duty{call(time.UTC, 18), {Start: at(time.UTC, 7, 7, 0), End: at(time.UTC, 7, 10, 0), Education: true}}, whole, 0},
		{"ward the morning of the call (before it)", time.UTC, []acgme.Duty{work(time.UTC, 6, 7, 0, 6), call(time.UTC, 18)}, whole, 0},
		{"a call ending at midnight is not overnight", time.UTC, []acgme.Duty{call(time.UTC, 11), work(time.UTC, 7, 7, 0, 4)}, whole, 0},
		{"a call ending at 00:30 is overnight", time.UTC, []acgme.Duty{call(time.UTC, 11.5), work(time.UTC, 7, 7, 0, 4)}, whole, 1},
		{"an overnight ward shift is not in-house call", time.UTC, []acgme.Duty{{Start: at(time.UTC, 6, 19, 0), End: at(time.UTC, 7, 7, 0)}, work(time.UTC, 7, 13, 0, 4)}, whole, 0},
		{"two sessions on the post-call day are two violations", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 7, 0, 4), work(time.UTC, 7, 13, 0, 6)}, whole, 2},
		{"the post-call day in the program's time zone", ny, []acgme.Duty{call(ny, 18), work(ny, 7, 7, 0, 4)}, whole, 1},
		{"judged where the duty meets the range", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 7, 0, 4)},
			acgme.Range{From: at(time.UTC, 7, 0, 0), To: at(time.UTC, 8, 0, 0)}, 1},
		{"judged where the call meets the range", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 7, 0, 4)},
			acgme.Range{From: at(time.UTC, 6, 0, 0), To: at(time.UTC, 7, 0, 0)}, 1},
		{"neither meets the range", time.UTC, []acgme.Duty{call(time.UTC, 18), work(time.UTC, 7, 7, 0, 4)},
			acgme.Range{From: at(time.UTC, 8, 0, 0), To: at(time.UTC, 9, 0, 0)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs := PostCallDay(c.loc, c.duties, c.r)
			if len(vs) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(vs), c.want, vs)
			}
			for _, v := range vs {
				if v.Rule != RulePostCallDay || v.Message == "" || !Hard(v.Rule) {
					t.Errorf("violation %+v", v)
				}
			}
		})
	}
}

// The solver keeps the post-call day: a resident locked on a call is not placed on the wards the
// next morning although nobody else is there to cover them; switched off, they are (22 hours of
// continuous duty, within ACGME's 24).
func TestSolverKeepsThePostCallDay(t *testing.T) {
	for _, off := range []bool{false, true} {
		p := plantProgram()
		p.To = p.From.AddDays(6)
		p.Templates[0].MinResidents = 1
		for _, id := range []string{"r1", "r3", "r4"} {
			p.Absences = append(p.Absences, Absence{PersonID: id, Start: p.From.AddDays(3), End: p.From.AddDays(3)})
		}
		p.Fixed = []Assignment{{Slot: Slot{p.From.AddDays(2), PM}, PersonID: "r2", TemplateID: "call", Locked: true}}
		p.NoPostCallDay = off
		res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 20000, TimeBudget: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		next := 0
		for _, a := range res.Assignments {
			if a.PersonID == "r2" && a.Slot.Date == p.From.AddDays(3) {
				next++
			}
		}
		vs, err := Validate(p, res.Assignments)
		if err != nil {
			t.Fatal(err)
		}
		if hard := hardOnly(vs); len(hard) > 0 {
			t.Fatalf("off=%v: hard violations %v", off, hard)
		}
		if !off && next != 0 || off && next == 0 {
			t.Errorf("post-call day off=%v: r2 holds %d half-days the day after the call", off, next)
		}
	}
}

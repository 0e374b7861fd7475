package roster

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

func clock(h, m int) *ClockTime { c := ClockTime(h*60 + m); return &c }

func TestParseClockBoundaries(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ClockTime
		ok   bool
	}{
		{"00:00", 0, true}, {"07:00", 420, true}, {"12:59", 779, true}, {"13:00", 780, true}, {"23:59", 1439, true},
		{"24:00", 0, false}, {"7:00", 0, false}, {"07:00:00", 0, false}, {"07:60", 0, false}, {"", 0, false}, {"-1:00", 0, false},
	} {
		got, err := ParseClock(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseClock(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && got.String() != c.in {
			t.Errorf("%q prints as %q", c.in, got.String())
		}
	}
	for _, c := range []struct {
		at   *ClockTime
		half Half
	}{{clock(0, 0), AM}, {clock(12, 59), AM}, {clock(13, 0), PM}, {clock(23, 59), PM}} {
		if c.at.Half() != c.half {
			t.Errorf("a shift at %s is placed in %s, want %s", c.at, c.at.Half(), c.half)
		}
	}
	// A message never echoes a long value back whole.
	if _, err := ParseClock(strings.Repeat("9", 100000)); err == nil || len(err.Error()) > 200 {
		t.Errorf("a 100,000-character start_time: %d characters of error", len(err.Error()))
	}
	var tp Template
	if err := json.Unmarshal([]byte(`{"id":"n","start_time":"19:00"}`), &tp); err != nil || tp.StartTime == nil || *tp.StartTime != 19*60 {
		t.Fatalf("%v %+v", err, tp)
	}
	if b, _ := json.Marshal(tp); string(b) == "" || !json.Valid(b) {
		t.Fatal(string(b))
	}
	if err := json.Unmarshal([]byte(`{"id":"n","start_time":"25:00"}`), &tp); err == nil {
		t.Fatal("25:00 accepted")
	}
}

func TestShiftHoursBoundaries(t *testing.T) {
	for _, c := range []struct {
		name string
		t    Template
		ok   bool
	}{
		{"half-day of 6 hours", Template{ID: "a", Activity: Clinic, HoursPerSession: 6, MaxResidents: 1}, true},
		{"half-day of 6.01 hours", Template{ID: "a", Activity: Clinic, HoursPerSession: 6.01, MaxResidents: 1}, false},
		{"half-day call of 18 hours", Template{ID: "a", Activity: Call, HoursPerSession: 18, MaxResidents: 1}, true},
		{"half-day call of 18.5 hours", Template{ID: "a", Activity: Call, HoursPerSession: 18.5, MaxResidents: 1}, false},
		{"shift of 12 hours", Template{ID: "a", Activity: Inpatient, StartTime: clock(7, 0), HoursPerSession: 12, MaxResidents: 1}, true},
		{"shift of 24 hours", Template{ID: "a", Activity: Call, StartTime: clock(7, 0), HoursPerSession: 24, MaxResidents: 1}, true},
		{"shift of 24.01 hours", Template{ID: "a", Activity: Call, StartTime: clock(7, 0), HoursPerSession: 24.01, MaxResidents: 1}, false},
		{"shift at 24:00", Template{ID: "a", Activity: Inpatient, StartTime: clock(24, 0), HoursPerSession: 4, MaxResidents: 1}, false},
	} {
		if err := c.t.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// A shift starts at its own time in the half-day its start falls in, and ends by the wall clock:
// across the autumn change a 19–07 night float is 13 real hours, which the rules count.
func TestShiftDutyIsItsOwnHours(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	night := Template{ID: "nf", Activity: Inpatient, StartTime: clock(19, 0), HoursPerSession: 12, MaxResidents: 1, Weekends: true}
	day := Template{ID: "d", Activity: Inpatient, StartTime: clock(7, 0), HoursPerSession: 12, MaxResidents: 1, Weekends: true}
	sat := Date{2026, time.October, 31} // the night the clocks go back in New York
	for _, c := range []struct {
		t     Template
		s     Slot
		staff bool
		start string
		end   int // wall-clock hour
		real  float64
	}{
		{night, Slot{sat, PM}, true, "2026-10-31T19:00:00-04:00", 7, 13},
		{night, Slot{sat.AddDays(1), PM}, true, "2026-11-01T19:00:00-05:00", 7, 12},
		{night, Slot{sat, AM}, false, "", 0, 0},
		{day, Slot{sat, AM}, true, "2026-10-31T07:00:00-04:00", 19, 12},
		{day, Slot{sat, PM}, false, "", 0, 0},
	} {
		if got := c.t.Staffed(c.s); got != c.staff {
			t.Fatalf("%s in %v: staffed %v", c.t.ID, c.s, got)
		}
		if !c.staff {
			continue
		}
		d, ok := c.t.Duty(c.s, ny)
		if !ok || d.Start.Format(time.RFC3339) != c.start || d.End.Sub(d.Start).Hours() != c.real || d.End.In(ny).Hour() != c.end {
			t.Errorf("%s in %v: %v to %v (%v h), want start %s, %v real hours", c.t.ID, c.s, d.Start, d.End, d.End.Sub(d.Start).Hours(), c.start, c.real)
		}
	}
	if !night.Overnight(Slot{sat, PM}, ny) || day.Overnight(Slot{sat, AM}, ny) {
		t.Error("a night float runs overnight, a day shift does not")
	}
}

// shiftProgram is plantProgram with a 07–19 day shift, a 19–07 night float and a 07:00 24-hour
// in-house call beside its half-day templates.
func shiftProgram() *Problem {
	p := plantProgram()
	p.Templates = append(p.Templates,
		Template{ID: "day", Activity: Inpatient, StartTime: clock(7, 0), HoursPerSession: 12, MaxResidents: 2, Weekends: true},
		Template{ID: "night", Activity: Inpatient, StartTime: clock(19, 0), HoursPerSession: 12, MaxResidents: 2, Weekends: true},
		Template{ID: "call24", Activity: Call, StartTime: clock(7, 0), HoursPerSession: 24, MaxResidents: 1, Weekends: true},
		Template{ID: "handover", Activity: Conference, StartTime: clock(7, 0), HoursPerSession: 4, MaxResidents: 2, Weekends: true},
	)
	return p
}

// Each shift rule planted once: the validator finds exactly it.
func TestValidatorFindsPlantedShiftViolations(t *testing.T) {
	type want struct {
		rule   acgme.Rule
		person string
	}
	cases := []struct {
		name string
		as   func(p *Problem) []Assignment
		want []want
	}{
		{"a day shift then a night float: end to start, 12 hours each", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 1, AM, "r2", "day"), at2(p, 3, PM, "r2", "night"), at2(p, 4, PM, "r2", "night")}
		}, nil},
		{"an afternoon clinic inside a day shift", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 1, AM, "r2", "day"), at2(p, 1, PM, "r2", "procedures")}
		}, []want{{acgme.RuleOverlap, "r2"}}},
		// Days 4 and 5 are a Monday and a Tuesday.
		{"a night float and the next morning's ward: one 18-hour period", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, PM, "r3", "night"), at2(p, 5, AM, "r3", "ward")}
		}, nil},
		{"a night float and the next afternoon's procedures: 6 hours off", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, PM, "r3", "night"), at2(p, 5, PM, "r3", "procedures")}
		}, []want{{acgme.RuleRest, "r3"}}},
		{"a 24-hour call and hand-over: allowed", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, AM, "r3", "call24"), at2(p, 5, AM, "r3", "handover")}
		}, nil},
		{"a 24-hour call and morning procedures: patient care in hours 24-28", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, AM, "r3", "call24"), at2(p, 5, AM, "r3", "procedures")}
		}, []want{{acgme.RuleDutyAfter24h, "r3"}, {RulePostCallDay, "r3"}}},
		{"a 24-hour call and a 6-hour morning ward: 30 hours", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, AM, "r3", "call24"), at2(p, 5, AM, "r3", "ward")}
		}, []want{{acgme.RuleContinuousDuty, "r3"}, {RulePostCallDay, "r3"}}},
		{"a 24-hour call and afternoon procedures the next day", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 4, AM, "r3", "call24"), at2(p, 5, PM, "r3", "procedures")}
		}, []want{{acgme.RuleRestAfterCall, "r3"}, {RulePostCallDay, "r3"}}},
		{"a night float before a day of leave", func(p *Problem) []Assignment {
			p.Absences = []Absence{{PersonID: "r4", Start: p.From.AddDays(2), End: p.From.AddDays(3)}}
			return []Assignment{at2(p, 1, PM, "r4", "night")}
		}, []want{{RuleAvailability, "r4"}}},
		{"a day shift in the afternoon half-day", func(p *Problem) []Assignment {
			return []Assignment{at2(p, 1, PM, "r2", "day")}
		}, []want{{RuleEligibility, "r2"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := shiftProgram()
			vs, err := Validate(p, c.as(p))
			if err != nil {
				t.Fatal(err)
			}
			got := map[want]bool{}
			for _, v := range vs {
				got[want{v.Rule, v.PersonID}] = true
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("planted %v not found in %+v", w, vs)
				}
				delete(got, w)
			}
			if len(got) > 0 {
				t.Errorf("found more than was planted: %v in %+v", got, vs)
			}
		})
	}
}

// The solver schedules a shift-based program (day shifts, night float, hand-over, clinic
// half-days) within every hard rule, overlaps included, and covers it.
func TestSolverSchedulesShifts(t *testing.T) {
	from := Date{2026, time.July, 2}
	for seed := uint64(1); seed <= 3; seed++ {
		p, err := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: from.AddDays(27), AbsenceRate: 0.05, Seed: seed, Shifts: true})
		if err != nil {
			t.Fatal(err)
		}
		res := solveCompliant(t, fmt.Sprintf("seed %d", seed), p, Options{Seed: seed, TimeBudget: 2 * time.Second})
		held := map[string]int{}
		for _, a := range res.Assignments {
			held[a.TemplateID]++
		}
		if held["day-shift"] == 0 || held["night-float"] == 0 || held["clinic"] == 0 {
			t.Fatalf("seed %d: shifts not scheduled: %v", seed, held)
		}
		t.Logf("seed %d: %v, shortfall %d (bound %d), %v", seed, held, res.Stats.Shortfall, res.Stats.ShortfallLowerBound, res.Stats.StoppedBy)
	}
}

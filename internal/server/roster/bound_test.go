package roster

import (
	"context"
	"testing"
	"time"
)

// The shortfall bound on hand-built programs whose optimum is plain, and the solver reaching it
// (coverage alone: on programs this small, fairness can outweigh a half-day of coverage).
func TestShortfallLowerBound(t *testing.T) {
	mon := Date{2026, time.July, 6} // a Monday
	res := func(id string, pgy int) Person { return Person{ID: id, Type: Resident, PGY: pgy} }
	fac := Person{ID: "f1", Type: Faculty}
	clinic := func(id string, lo int, pgy ...int) Template {
		return Template{ID: id, Activity: Clinic, HoursPerSession: 4, MinResidents: lo, MaxResidents: lo + 1, AllowedPGY: pgy, Weekends: true}
	}
	cases := []struct {
		name        string
		p           Problem
		bound, best int
	}{
		{"enough residents", Problem{From: mon, To: mon, People: []Person{res("a", 1), res("b", 2)},
			Templates: []Template{clinic("c", 1)}}, 0, 0},
		{"one resident, two templates (the flow, not each template alone)", Problem{From: mon, To: mon,
			People: []Person{res("a", 1)}, Templates: []Template{clinic("c", 1), clinic("d", 1)}}, 2, 2},
		{"the level the template takes is away", Problem{From: mon, To: mon, People: []Person{res("a", 1), res("b", 2), res("c", 2)},
			Templates: []Template{clinic("senior", 2, 2, 3)}, Absences: []Absence{{PersonID: "b", Start: mon, End: mon}}}, 2, 2},
		{"supervision without faculty", Problem{From: mon, To: mon, People: []Person{res("a", 2), fac},
			Templates: []Template{func() Template { c := clinic("c", 1); c.SupervisionRequired = true; return c }()},
			Absences:  []Absence{{PersonID: "f1", Start: mon, End: mon}}}, 2, 2},
		{"seven days for one resident: one must be off", Problem{From: mon, To: mon.AddDays(6), People: []Person{res("a", 1)},
			Templates: []Template{clinic("c", 1)}}, 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.p.Weights = Weights{Coverage: 1000}
			r, err := Solve(context.Background(), &c.p, Options{Seed: 1, TimeBudget: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			st := r.Stats
			if st.ShortfallLowerBound != c.bound || st.Shortfall != c.best || st.ShortfallGap != c.best-c.bound {
				t.Fatalf("bound %d shortfall %d gap %d; want %d, %d", st.ShortfallLowerBound, st.Shortfall, st.ShortfallGap, c.bound, c.best)
			}
			if st.StoppedBy == StopConvergedAboveBound {
				t.Fatalf("stopped %s at the bound", st.StoppedBy)
			}
		})
	}
}

// A converged solve above its bound says so. One resident asked for an 18-hour call every night
// of a week can hold at most one in two (8 hours off between periods), fewer under the six-day
// cap (a call's morning after is a duty day); the bound models neither rule, only the day off,
// so the solver stops above it and reports the gap.
func TestConvergedAboveTheBoundSaysSo(t *testing.T) {
	mon := Date{2026, time.July, 6}
	p := &Problem{From: mon, To: mon.AddDays(6), People: []Person{{ID: "a", Type: Resident, PGY: 2}},
		Templates: []Template{{ID: "call", Activity: Call, HoursPerSession: 18, MinResidents: 1, MaxResidents: 1, Weekends: true}}}
	r, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats
	t.Logf("%+v", st)
	if st.StoppedBy != StopConvergedAboveBound || st.ShortfallGap != st.Shortfall-st.ShortfallLowerBound || st.ShortfallGap <= 0 {
		t.Fatalf("stopped %s with shortfall %d, bound %d, gap %d", st.StoppedBy, st.Shortfall, st.ShortfallLowerBound, st.ShortfallGap)
	}
}

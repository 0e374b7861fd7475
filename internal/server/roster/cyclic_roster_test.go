package roster

import (
	"context"
	"testing"
	"time"
)

// icuTeam is the cyclic roster the realistic internal-medicine program found holes in: four
// residents on an ICU rotation all block, who must staff every day a 07:00 24-hour call, the
// next morning's hand-over and a 07-19 day shift. It is fully coverable (call, hand-over, day
// shift, day off, repeating; 70 hours a week) and only so: every day needs three of the four.
func icuTeam() *Problem {
	from := Date{2026, time.July, 2}
	at7 := ClockTime(7 * 60)
	p := &Problem{From: from, To: from.AddDays(27), Location: time.UTC}
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		p.People = append(p.People, Person{ID: id, Type: Resident, PGY: 2})
	}
	p.Templates = []Template{
		{ID: "call24", Activity: Call, StartTime: &at7, HoursPerSession: 24, MinResidents: 1, MaxResidents: 1, Weekends: true, Holidays: true},
		{ID: "handover", Activity: Conference, StartTime: &at7, HoursPerSession: 4, MinResidents: 1, MaxResidents: 1, Weekends: true, Holidays: true},
		{ID: "day", Activity: Inpatient, StartTime: &at7, HoursPerSession: 12, MinResidents: 1, MaxResidents: 2, Weekends: true, Holidays: true},
	}
	return p
}

// Searches that settle above the shortfall bound restart from a freed window of days (a large
// neighbourhood) before they stop: on the ICU team the solver covers every day. Before window
// restarts, with the same 3,000,000-iteration cap, seeds 1, 2, 5 and 6 of 1-8 settled 1, 1, 3 and
// 5 half-days short ("converged_above_bound"); with them all eight reach 0. The test runs two
// of those seeds and one that needed no window.
func TestCyclicRosterIsCoveredWhereTheBoundSaysSo(t *testing.T) {
	for _, seed := range []uint64{2, 5, 7} {
		p := icuTeam()
		res, err := Solve(context.Background(), p, Options{Seed: seed, TimeBudget: time.Minute, MaxIterations: 3_000_000})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Validate(p, res.Assignments)
		if err != nil {
			t.Fatal(err)
		}
		if hard := hardOnly(vs); len(hard) > 0 || res.Stats.ShortfallLowerBound != 0 {
			t.Fatalf("seed %d: bound %d, hard %+v", seed, res.Stats.ShortfallLowerBound, hard)
		}
		t.Logf("seed %d: shortfall %d after %d iterations, %d restarts (%s, %v)", seed, res.Stats.Shortfall, res.Stats.Iterations, res.Stats.Restarts, res.Stats.StoppedBy, res.Stats.Elapsed.Round(time.Millisecond))
		if res.Stats.Shortfall != 0 {
			t.Errorf("seed %d: %d half-days short where every day can be covered", seed, res.Stats.Shortfall)
		}
	}
}

package roster

import (
	"context"
	"testing"
	"time"
)

// callRosterProgram is the predecessor's size with the three call kinds: in-house night call,
// home call and backup call every night, the wards and the calls running on the block's holiday.
func callRosterProgram(t *testing.T) *Problem {
	t.Helper()
	from, to := block1()
	p, err := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.Templates = append(p.Templates,
		Template{ID: "home-call", Activity: HomeCall, HoursPerSession: 12, MinResidents: 1, MaxResidents: 1, Weekends: true},
		Template{ID: "backup-call", Activity: BackupCall, HoursPerSession: 12, MinResidents: 1, MaxResidents: 1, Weekends: true})
	withHolidays(p)
	for k := range p.Templates {
		if p.Templates[k].Activity.OnCallRoster() {
			p.Templates[k].Holidays = true
		}
	}
	return p
}

// The solver balances each call kind within every PGY level: on the block, every kind's calls,
// weekend calls and holiday calls, and the weekends off, differ by at most one between two
// residents of a level, with full coverage and no hard violation; without the equity weights
// the same block is uneven.
func TestSolverBalancesTheCallRoster(t *testing.T) {
	p := callRosterProgram(t)
	res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 300000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 || res.Stats.Shortfall > 0 {
		t.Fatalf("shortfall %d, hard violations %v", res.Stats.Shortfall, hard)
	}
	e := MeasureEquity(p, res.Assignments)
	w := e.Worst
	for name, spread := range map[string]int{"in-house calls": w.Calls, "in-house weekend calls": w.WeekendCalls, "in-house holiday calls": w.HolidayCalls,
		"home calls": w.HomeCall.Calls, "home weekend calls": w.HomeCall.WeekendCalls, "backup calls": w.BackupCall.Calls,
		"backup weekend calls": w.BackupCall.WeekendCalls, "weekends off": w.WeekendsOff} {
		if spread > 1 {
			t.Errorf("%s: spread %d within a level: %+v", name, spread, e.Levels)
		}
	}
	// The counters the search kept are the measures: the cost of the result, counted again from
	// scratch, is the cost the search ended with.
	if cost, _, err := Cost(p, res.Assignments); err != nil || cost < res.Stats.Objective-1e-6 || cost > res.Stats.Objective+1e-6 {
		t.Errorf("Cost %v (%v), the search's objective %v", cost, err, res.Stats.Objective)
	}

	q := callRosterProgram(t)
	q.Weights = DefaultWeights()
	q.Weights.CallEquity, q.Weights.WeekendCallEquity, q.Weights.HolidayCallEquity, q.Weights.WeekendOffEquity = 0, 0, 0, 0
	res, err = Solve(context.Background(), q, Options{Seed: 1, MaxIterations: 300000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if w := MeasureEquity(q, res.Assignments).Worst; w.Calls <= 1 && w.HomeCall.Calls <= 1 && w.BackupCall.Calls <= 1 {
		t.Errorf("without the equity weights the calls are as even (%+v): the test shows nothing", w)
	}
}

// The equity counters follow every cell change: after random changes and their rollback, and
// after a schedule is laid down cell by cell, each resident's counts are MeasureEquity's.
func TestEquityCountersFollowTheCells(t *testing.T) {
	p := callRosterProgram(t)
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
	s, err := newSolver(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	for range 20000 {
		i, j := s.randomResident(), s.randomSlot()
		tp := templateIdx(s.rng.IntN(int(s.nTemplates)+1)) - 1
		if tp == free || s.staffed[j][tp] {
			s.set(i, j, tp)
		}
	}
	mark := len(s.undoLog)
	for range 500 {
		s.set(s.randomResident(), s.randomSlot(), free)
	}
	s.rollback(mark)
	e := MeasureEquity(p, s.assignments())
	byLevel := map[int]LevelEquity{}
	for _, le := range e.Levels {
		byLevel[le.PGY] = le
	}
	for _, g := range s.eq.levels {
		le := byLevel[g]
		for _, c := range []struct {
			name string
			m    int
			want Spread
		}{
			{"calls", offsetCalls, le.Calls}, {"weekend calls", offsetWeekendCalls, le.WeekendCalls}, {"holiday calls", offsetHolidayCalls, le.HolidayCalls},
			{"home calls", measuresPerKind + offsetCalls, le.HomeCall.Calls}, {"backup weekend calls", 2*measuresPerKind + offsetWeekendCalls, le.BackupCall.WeekendCalls},
			{"weekends off", measureWeekendsOff, le.WeekendsOff},
		} {
			lo, hi, sum, sumSq := 1<<30, -1, 0, 0
			for _, i := range s.eq.byLevel[g] {
				n := s.eq.count[i][c.m]
				lo, hi, sum, sumSq = min(lo, n), max(hi, n), sum+n, sumSq+n*n
			}
			if lo != c.want.Min || hi != c.want.Max {
				t.Errorf("PGY-%d %s: counters %d-%d, MeasureEquity %+v", g, c.name, lo, hi, c.want)
			}
			if sum != s.eq.sum[c.m][g] || sumSq != s.eq.sumSq[c.m][g] {
				t.Errorf("PGY-%d %s: level sums %d/%d, counted %d/%d", g, c.name, s.eq.sum[c.m][g], s.eq.sumSq[c.m][g], sum, sumSq)
			}
		}
	}
}

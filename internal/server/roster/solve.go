package roster

import (
	"context"
	"time"
)

// Options steer one solver run.
type Options struct {
	// Seed makes the run reproducible: the same problem, seed and MaxIterations give the same
	// roster. A run stopped by its time budget returns the best schedule of the same
	// trajectory found so far.
	Seed uint64
	// TimeBudget bounds the run (default 10 s).
	TimeBudget time.Duration
	// MaxIterations bounds local search (0: until the budget, or convergence).
	MaxIterations int
	// Progress, if set, is called about every 100 ms and once at the end.
	Progress func(Progress)
}

// Progress is what a running solve reports.
type Progress struct {
	Phase      string        `json:"phase"`
	Iterations int           `json:"iterations"`
	Objective  float64       `json:"objective"`
	Shortfall  int           `json:"coverage_shortfall"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// StopReason says why a solve ended.
type StopReason string

// The reasons a solve ends. Each still returns a schedule without new hard violations.
const (
	// StopConverged: local search went a long stretch without a real improvement (or had
	// nothing to search).
	StopConverged StopReason = "converged"
	// StopIterations: Options.MaxIterations was reached.
	StopIterations StopReason = "iterations"
	// StopBudget: Options.TimeBudget ran out.
	StopBudget StopReason = "budget"
	// StopCancelled: the context ended; the caller should not keep the result.
	StopCancelled StopReason = "cancelled"
	// StopConvergedAboveBound: local search settled, as for StopConverged, but with a coverage
	// shortfall above Stats.ShortfallLowerBound: the schedule may miss up to Stats.ShortfallGap
	// resident-half-days more than the best schedule (the bound is not always reachable, so the
	// gap is what is not proven, not what is lost).
	StopConvergedAboveBound StopReason = "converged_above_bound"
)

// notStopped is what a phase returns when the solve goes on.
const notStopped StopReason = ""

// Stats describe a finished solve.
type Stats struct {
	Iterations int `json:"iterations"`
	Accepted   int `json:"accepted_moves"`
	// Restarts counts the kicks of iterated local search.
	Restarts int `json:"restarts"`
	// Objective is the final soft cost (DefaultWeights: 1000 per missing resident-half-day).
	Objective float64 `json:"objective"`
	// Shortfall is the number of resident-half-days below template minimums.
	Shortfall int `json:"coverage_shortfall"`
	// ShortfallLowerBound is a proven lower bound on the shortfall of any schedule of the
	// problem (bound.go): when Shortfall equals it, no schedule covers more.
	ShortfallLowerBound int `json:"shortfall_lower_bound"`
	// ShortfallGap is Shortfall - ShortfallLowerBound: how many of the missing resident-half-days
	// are not proven unavoidable (0: the coverage is optimal).
	ShortfallGap int `json:"shortfall_gap"`
	// CoverageRate is the share of the template minimums met (1 when all are).
	CoverageRate float64 `json:"coverage_rate"`
	// FairnessSpread is, per PGY level, the largest minus the smallest load (duty hours per
	// available day); the worst level is reported.
	FairnessSpread float64 `json:"fairness_spread_hours_per_day"`
	// StoppedBy says why the solve ended.
	StoppedBy StopReason    `json:"stopped_by"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// ConstructElapsed is when the construction ended: the first schedule without hard
	// violations (its coverage is in ConstructObj).
	ConstructElapsed time.Duration `json:"construct_elapsed_ns"`
	Assignments      int           `json:"assignments"`
	ConstructObj     float64       `json:"construction_objective"`
}

// Result is a solved roster.
type Result struct {
	Assignments []Assignment
	Stats       Stats
}

// Solve builds a schedule for p: a greedy construction that never breaks a hard rule, then local
// search that lowers the soft cost within the options' budget. It returns an InputError for a
// problem no schedule can satisfy.
func Solve(ctx context.Context, p *Problem, o Options) (*Result, error) {
	start := time.Now()
	if err := p.check(); err != nil {
		return nil, err
	}
	if o.TimeBudget <= 0 {
		o.TimeBudget = 10 * time.Second
	}
	s, err := newSolver(p, o.Seed)
	if err != nil {
		return nil, err
	}
	deadline := start.Add(o.TimeBudget)
	pr := &progressReporter{s: s, report: o.Progress, start: start, last: start}
	st := Stats{ShortfallLowerBound: s.shortfallLowerBound()}
	stopped := s.construct(ctx, deadline, func() { pr.tick("construct", 0, false) })
	st.ConstructObj, st.ConstructElapsed = s.objective(), time.Since(start)
	if stopped == notStopped {
		stopped = s.improve(ctx, deadline, o.MaxIterations, &st, func(it int) { pr.tick("improve", it, false) })
	}
	s.staffFacultyShifts()
	st.Objective, st.Shortfall = s.objective(), s.shortfall
	st.ShortfallGap = st.Shortfall - st.ShortfallLowerBound
	if stopped == StopConverged && st.ShortfallGap > 0 {
		stopped = StopConvergedAboveBound
	}
	st.StoppedBy = stopped
	st.CoverageRate, st.FairnessSpread = s.coverageRate(), s.spread()
	st.Elapsed = time.Since(start)
	out := s.assignments()
	st.Assignments = len(out)
	pr.tick("done", st.Iterations, true)
	return &Result{Assignments: out, Stats: st}, nil
}

// progressReporter calls Options.Progress at most every 100 ms, and at the end.
type progressReporter struct {
	s           *solver
	report      func(Progress)
	start, last time.Time
}

func (r *progressReporter) tick(phase string, iterations int, final bool) {
	if r.report == nil || (!final && time.Since(r.last) < 100*time.Millisecond) {
		return
	}
	r.last = time.Now()
	r.report(Progress{Phase: phase, Iterations: iterations, Objective: r.s.objective(), Shortfall: r.s.shortfall, Elapsed: time.Since(r.start)})
}

// Cost is the soft cost of a schedule of p (the objective Solve minimises) and its coverage
// shortfall.
func Cost(p *Problem, assignments []Assignment) (float64, int, error) {
	if err := p.check(); err != nil {
		return 0, 0, err
	}
	s, err := newSolver(p, 0)
	if err != nil {
		return 0, 0, err
	}
	for _, a := range assignments {
		i, okP := s.ids.person[a.PersonID]
		t, okT := s.ids.template[a.TemplateID]
		j := a.Slot.Index(p.From)
		if !okP || !okT || j < 0 || j >= int(s.nSlots) {
			return 0, 0, inputErrorf("assignment %+v is not of this problem", a)
		}
		s.apply(i, slotIdx(j), t)
	}
	return s.objective(), s.shortfall, nil
}

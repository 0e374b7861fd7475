package schedule

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// Options steer one solver run.
type Options struct {
	// Seed makes the run reproducible: the same problem, seed and MaxIterations give the same
	// schedule. A run stopped by its time budget returns the best schedule of the same
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
	// CoverageRate is the share of the template minimums met (1 when all are).
	CoverageRate float64 `json:"coverage_rate"`
	// FairnessSpread is, per PGY level, the largest minus the smallest load (duty hours per
	// available day); the worst level is reported.
	FairnessSpread float64 `json:"fairness_spread_hours_per_day"`
	// StoppedBy is "converged", "iterations", "budget" or "cancelled".
	StoppedBy string        `json:"stopped_by"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// ConstructElapsed is when the construction ended: the first schedule without hard
	// violations (its coverage is in ConstructObj).
	ConstructElapsed time.Duration `json:"construct_elapsed_ns"`
	Assignments      int           `json:"assignments"`
	ConstructObj     float64       `json:"construction_objective"`
}

// Result is a solved schedule.
type Result struct {
	Assignments []Assignment
	Stats       Stats
}

const free = -1

type solver struct {
	p       *Problem
	lim     acgme.Limits
	w       Weights
	loc     *time.Location
	slots   []Slot
	nS      int
	tmpl    []Template
	people  []Person
	res     []int // indexes of residents
	fac     []int // indexes of faculty
	grid    [][]int16
	locked  [][]bool
	absent  [][]bool
	staffed [][]bool // [s][t]
	count   [][]int  // residents per [s][t]
	units   [][]int
	facN    [][]int
	facWeek [][]int // [person][week]
	// context duties of each resident outside the range, by day
	ctx     [][]acgme.Duty
	pref    [][]float64 // [person][t]
	avail   []float64   // available days per person
	hours   []float64
	pgy     []int
	groupN  [4]float64
	groupX  [4]float64 // sum of loads
	groupX2 [4]float64 // sum of squared loads
	short   int        // coverage shortfall
	changes int        // continuity changes
	prefSum float64
	log     []undo
	rng     *rand.Rand
	scratch []acgme.Duty
	tl      acgme.Timeline
	// dirty marks residents whose fixed assignments already break a rule somewhere; for the
	// others every kept state has no violation at all, so a move's "before" count is 0.
	dirty []bool
}

type undo struct {
	person, slot int
	old          int16
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
	lastReport := start
	report := func(phase string, it int, final bool) {
		if o.Progress != nil && (final || time.Since(lastReport) >= 100*time.Millisecond) {
			lastReport = time.Now()
			o.Progress(Progress{Phase: phase, Iterations: it, Objective: s.objective(), Shortfall: s.short, Elapsed: time.Since(start)})
		}
	}
	stopped := s.construct(ctx, deadline, func() { report("construct", 0, false) })
	st := Stats{ConstructObj: s.objective(), ConstructElapsed: time.Since(start)}
	if stopped == "" {
		stopped = s.improve(ctx, deadline, o.MaxIterations, &st, func(it int) { report("improve", it, false) })
	}
	st.StoppedBy = stopped
	st.Objective, st.Shortfall = s.objective(), s.short
	st.CoverageRate, st.FairnessSpread = s.coverageRate(), s.spread()
	st.Elapsed = time.Since(start)
	out := s.assignments()
	st.Assignments = len(out)
	report("done", st.Iterations, true)
	return &Result{Assignments: out, Stats: st}, nil
}

func newSolver(p *Problem, seed uint64) (*solver, error) {
	s := &solver{p: p, lim: p.Limits, w: p.Weights, loc: p.Location, tmpl: p.Templates, people: p.People,
		rng: rand.New(rand.NewPCG(seed, 0x501)), slots: Slots(p.From, p.To)}
	s.nS = len(s.slots)
	nP, nT := len(p.People), len(p.Templates)
	byID := map[string]int{}
	for i, x := range p.People {
		byID[x.ID] = i
		if x.Type == Resident {
			s.res = append(s.res, i)
		} else {
			s.fac = append(s.fac, i)
		}
	}
	tByID := map[string]int{}
	for i, t := range p.Templates {
		tByID[t.ID] = i
	}
	s.grid, s.locked, s.absent = make([][]int16, nP), make([][]bool, nP), make([][]bool, nP)
	s.pref, s.avail, s.hours, s.pgy = make([][]float64, nP), make([]float64, nP), make([]float64, nP), make([]int, nP)
	s.ctx, s.facWeek = make([][]acgme.Duty, nP), make([][]int, nP)
	weeks := s.nS/14 + 2
	for i, x := range p.People {
		s.grid[i] = make([]int16, s.nS)
		for j := range s.grid[i] {
			s.grid[i][j] = free
		}
		s.locked[i], s.absent[i], s.pref[i] = make([]bool, s.nS), make([]bool, s.nS), make([]float64, nT)
		s.facWeek[i] = make([]int, weeks)
		s.pgy[i] = x.PGY
	}
	for _, a := range p.Absences {
		i := byID[a.PersonID]
		for j, sl := range s.slots {
			if a.Covers(sl.Date) {
				s.absent[i][j] = true
			}
		}
	}
	for _, pr := range p.Preferences {
		s.pref[byID[pr.PersonID]][tByID[pr.TemplateID]] += pr.Weight
	}
	s.staffed, s.count, s.units, s.facN = make([][]bool, s.nS), make([][]int, s.nS), make([][]int, s.nS), make([][]int, s.nS)
	for j, sl := range s.slots {
		s.staffed[j], s.count[j], s.units[j], s.facN[j] = make([]bool, nT), make([]int, nT), make([]int, nT), make([]int, nT)
		for t, tp := range p.Templates {
			s.staffed[j][t] = tp.Staffed(sl)
		}
	}
	for _, i := range s.res {
		for j := range s.slots {
			if !s.absent[i][j] {
				s.avail[i] += 0.5
			}
		}
		s.avail[i] = max(s.avail[i], 1)
		g := s.pgy[i]
		s.groupN[g]++
	}
	// Fixed assignments: inside the range they are locked cells, outside they are context.
	for _, a := range p.Fixed {
		i, t := byID[a.PersonID], tByID[a.TemplateID]
		j := a.Slot.Index(p.From)
		if j >= 0 && j < s.nS {
			s.set(i, j, int16(t))
			s.locked[i][j] = true
			continue
		}
		if d, ok := p.Templates[t].Duty(a.Slot, s.loc); ok && p.People[i].Type == Resident {
			s.ctx[i] = append(s.ctx[i], d)
		}
	}
	// Kept people: every cell locked, and a free one closed like an absence (so that neither a
	// move nor the supervision fill places them); availability was counted above, so fairness
	// sees their real load.
	for _, id := range p.Keep {
		i := byID[id]
		for j := range s.slots {
			s.locked[i][j] = true
			if s.grid[i][j] == free {
				s.absent[i][j] = true
			}
		}
	}
	s.log = s.log[:0]
	// The shortfall counted from scratch (placing the fixed cells above moved it from 0).
	s.short = 0
	for j := range s.slots {
		for t := range s.tmpl {
			if s.staffed[j][t] {
				s.short += max(0, s.tmpl[t].MinResidents-s.count[j][t])
			}
		}
	}
	// The locked cells may need faculty of their own. If there are not enough, the schedule
	// starts with a supervision violation there, which the validator reports; the solver adds none.
	for j := range s.slots {
		for t := range s.tmpl {
			s.superviseOK(j, t)
		}
	}
	s.log = s.log[:0]
	s.dirty = make([]bool, nP)
	for _, i := range s.res {
		s.dirty[i] = len(s.violations(i, 0, s.nS)) > 0
	}
	return s, nil
}

// baseline is resident i's violations around slot j before a move (none for a resident whose
// schedule breaks no rule anywhere, which every kept move preserves).
func (s *solver) baseline(i, j int) []acgme.Violation {
	if !s.dirty[i] {
		return nil
	}
	return s.violationsAround(i, j)
}

// noWorse says whether the violations after a move are all among those before it: a move may
// remove a violation, never add, extend or merge one.
func noWorse(before, after []acgme.Violation) bool {
	for _, a := range after {
		if !slices.ContainsFunc(before, func(b acgme.Violation) bool {
			return a.Rule == b.Rule && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Value == b.Value
		}) {
			return false
		}
	}
	return true
}

// load is resident i's duty hours per available day.
func (s *solver) load(i int) float64 { return s.hours[i] / s.avail[i] }

func (s *solver) sessionHours(t int16) float64 {
	if t == free {
		return 0
	}
	return s.tmpl[t].HoursPerSession
}

// set places person i on template t (or free) in slot j, logged for rollback.
func (s *solver) set(i, j int, t int16) {
	if old := s.grid[i][j]; old != t {
		s.log = append(s.log, undo{i, j, old})
		s.apply(i, j, t)
	}
}

// apply changes one cell and keeps every counter in step.
func (s *solver) apply(i, j int, t int16) {
	old := s.grid[i][j]
	if old == t {
		return
	}
	x := s.people[i]
	if x.Type == Faculty {
		if old != free {
			s.facN[j][old]--
			s.facWeek[i][j/14]--
		}
		if t != free {
			s.facN[j][t]++
			s.facWeek[i][j/14]++
		}
		s.grid[i][j] = t
		return
	}
	g := s.pgy[i]
	before := s.load(i)
	u := s.lim.SeniorUnits
	if x.PGY <= 1 {
		u = s.lim.PGY1Units
	}
	if old != free {
		if s.staffed[j][old] && s.count[j][old] <= s.tmpl[old].MinResidents {
			s.short++
		}
		s.count[j][old]--
		if s.tmpl[old].SupervisionRequired {
			s.units[j][old] -= u
		}
		s.prefSum -= s.pref[i][old]
	}
	if t != free {
		if s.staffed[j][t] && s.count[j][t] < s.tmpl[t].MinResidents {
			s.short--
		}
		s.count[j][t]++
		if s.tmpl[t].SupervisionRequired {
			s.units[j][t] += u
		}
		s.prefSum += s.pref[i][t]
	}
	s.changes -= s.changesAround(i, j)
	s.grid[i][j] = t
	s.changes += s.changesAround(i, j)
	s.hours[i] += s.sessionHours(t) - s.sessionHours(old)
	after := s.load(i)
	s.groupX[g] += after - before
	s.groupX2[g] += after*after - before*before
}

// changesAround counts template changes between slot j and the same half of the neighbouring days.
func (s *solver) changesAround(i, j int) int {
	c, t := 0, s.grid[i][j]
	if t == free {
		return 0
	}
	for _, k := range []int{j - 2, j + 2} {
		if k >= 0 && k < s.nS && s.grid[i][k] != free && s.grid[i][k] != t {
			c++
		}
	}
	return c
}

func (s *solver) fairness() float64 {
	f := 0.0
	for g := 1; g <= 3; g++ {
		if s.groupN[g] > 0 {
			f += s.groupX2[g] - s.groupX[g]*s.groupX[g]/s.groupN[g]
		}
	}
	return math.Max(f, 0)
}

func (s *solver) objective() float64 {
	return s.w.Coverage*float64(s.short) + s.w.Fairness*s.fairness() + s.w.Continuity*float64(s.changes) - s.w.Preference*s.prefSum
}

// rollback undoes every set since mark.
func (s *solver) rollback(mark int) {
	for len(s.log) > mark {
		u := s.log[len(s.log)-1]
		s.apply(u.person, u.slot, u.old)
		s.log = s.log[:len(s.log)-1]
	}
}

// violationsAround lists the ACGME violations of resident i in the days around slot j (every
// window, period and gap that a change in slot j can touch).
func (s *solver) violationsAround(i, j int) []acgme.Violation { return s.violations(i, j, j+4) }

// violations lists the ACGME violations of resident i that touch the days of slots [j, k), as
// far as they lie in the range (from From to the day after To, where a night call ends), which
// is what the validator judges.
func (s *solver) violations(i, j, k int) []acgme.Violation {
	if k <= j {
		return nil
	}
	d, e := s.slots[j].Date, SlotAt(s.p.From, k-1).Date.AddDays(1)
	if end := s.p.To.AddDays(1); end.Before(e) {
		e = end
	}
	from, to := d.AddDays(-s.lim.WindowDays-2), e.AddDays(s.lim.WindowDays+2)
	duties := s.scratch[:0]
	for _, c := range s.ctx[i] {
		if c.End.After(from.In(s.loc)) && c.Start.Before(to.In(s.loc)) {
			duties = append(duties, c)
		}
	}
	lo, hi := max(0, Slot{from, AM}.Index(s.p.From)), min(s.nS, Slot{to, AM}.Index(s.p.From))
	for k := lo; k < hi; k++ {
		if t := s.grid[i][k]; t != free {
			if du, ok := s.tmpl[t].Duty(s.slots[k], s.loc); ok {
				duties = append(duties, du)
			}
		}
	}
	s.scratch = duties
	s.tl.Reset(s.loc, duties, s.lim.MaxBreak)
	return acgme.Check("", &s.tl, acgme.Range{From: d.In(s.loc), To: e.In(s.loc)}, s.lim)
}

// superviseOK makes sure template t in slot j has the faculty its residents need, adding free
// faculty (least loaded first) and releasing surplus ones; false if it cannot.
func (s *solver) superviseOK(j, t int) bool {
	if !s.tmpl[t].SupervisionRequired {
		return true
	}
	need := acgme.FacultyNeeded(s.units[j][t], s.lim)
	for s.facN[j][t] > need {
		for _, f := range s.fac {
			if s.grid[f][j] == int16(t) && !s.locked[f][j] {
				s.set(f, j, free)
				break
			}
		}
		if s.facN[j][t] > need { // only locked faculty left
			break
		}
	}
	// Remaining sessions this week (uncapped faculty count as plenty); the one with the most
	// left is taken, so a member with a tight cap is kept for when nobody else can come.
	left := func(f int) int {
		if c := s.people[f].MaxSessionsPerWeek; c > 0 {
			return c - s.facWeek[f][j/14]
		}
		return 1 << 20
	}
	for s.facN[j][t] < need {
		best := -1
		for _, f := range s.fac {
			if s.grid[f][j] != free || s.absent[f][j] || left(f) <= 0 {
				continue
			}
			if best < 0 || left(f) > left(best) || (left(f) == left(best) && s.facWeek[f][j/14] < s.facWeek[best][j/14]) {
				best = f
			}
		}
		if best < 0 {
			return false
		}
		s.set(best, j, int16(t))
	}
	return true
}

// allowed says whether resident i may hold template t in slot j as far as the cell itself goes
// (availability, staffing, PGY level); capacity and rules are checked by the callers.
func (s *solver) allowed(i, j int, t int16) bool {
	if t == free {
		return true
	}
	return !s.absent[i][j] && s.staffed[j][t] && s.tmpl[t].Allows(s.pgy[i])
}

// try moves resident i to template t in slot j, keeping it only if no hard rule breaks.
func (s *solver) try(i, j int, t int16) bool {
	if s.locked[i][j] || s.grid[i][j] == t || !s.allowed(i, j, t) {
		return false
	}
	if t != free && s.count[j][t] >= s.tmpl[t].MaxResidents {
		return false
	}
	before := s.baseline(i, j)
	mark := len(s.log)
	old := s.grid[i][j]
	s.set(i, j, t)
	ok := noWorse(before, s.violationsAround(i, j)) && s.supervised(j, old, t)
	if !ok {
		s.rollback(mark)
	}
	return ok
}

// supervised re-staffs the faculty of the (at most two) templates a move touched in slot j.
func (s *solver) supervised(j int, a, b int16) bool {
	if a != free && !s.superviseOK(j, int(a)) {
		return false
	}
	return b == free || s.superviseOK(j, int(b))
}

// construct fills template minimums slot by slot, calls first, choosing among eligible residents
// the least loaded, then the one who was on the same template the day before.
func (s *solver) construct(ctx context.Context, deadline time.Time, tick func()) string {
	order := make([]int, len(s.tmpl))
	for t := range order {
		order[t] = t
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ca, cb := s.tmpl[a].Activity == Call, s.tmpl[b].Activity == Call
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return 0
	})
	cand := make([]int, 0, len(s.res))
	for j := range s.slots {
		if j%16 == 0 {
			if ctx.Err() != nil {
				return "cancelled"
			}
			if time.Now().After(deadline) {
				return "budget"
			}
			tick()
		}
		for _, t := range order {
			tp := s.tmpl[t]
			if !s.staffed[j][t] {
				continue
			}
			for s.count[j][t] < tp.MinResidents {
				cand = cand[:0]
				for _, i := range s.res {
					if s.grid[i][j] == free && !s.absent[i][j] && !s.locked[i][j] && tp.Allows(s.pgy[i]) {
						cand = append(cand, i)
					}
				}
				s.rng.Shuffle(len(cand), func(a, b int) { cand[a], cand[b] = cand[b], cand[a] })
				slices.SortStableFunc(cand, func(a, b int) int {
					la, lb := s.load(a), s.load(b)
					if j >= 2 {
						if s.grid[a][j-2] == int16(t) {
							la -= 0.5
						}
						if s.grid[b][j-2] == int16(t) {
							lb -= 0.5
						}
					}
					return cmpFloat(la, lb)
				})
				placed := false
				for _, i := range cand {
					if s.try(i, j, int16(t)) {
						placed = true
						break
					}
				}
				if !placed {
					break
				}
			}
		}
	}
	return ""
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// improve is local search: random moves (fill a shortfall, change one cell, swap two residents
// in a half-day), each kept if it breaks no hard rule and does not raise the cost. It stops at
// the budget, the iteration cap, cancellation, or after a long run without improvement.
func (s *solver) improve(ctx context.Context, deadline time.Time, maxIt int, st *Stats, tick func(int)) string {
	if len(s.res) == 0 || s.nS == 0 {
		return "converged"
	}
	best := s.objective()
	sinceBest := 0
	patience := max(20000, 2*len(s.res)*s.nS)
	// Iterated local search: when the search settles, restart from the best schedule with a few
	// of its half-days freed, up to maxKicks times in a row without a new best. Small programs,
	// where settling is quick and the landscape rugged, get more kicks.
	maxKicks := 1
	if len(s.res)*s.nS <= 20000 {
		maxKicks = 4
	}
	bestObj, bestGrid, kicks := best, s.snapshot(nil), 0
	done := func(why string) string {
		if s.objective() > bestObj+1e-9 {
			s.restore(bestGrid)
		}
		return why
	}
	for it := 1; ; it++ {
		st.Iterations = it
		if it%256 == 0 {
			if ctx.Err() != nil {
				return done("cancelled")
			}
			if time.Now().After(deadline) {
				return done("budget")
			}
			tick(it)
		}
		if maxIt > 0 && it > maxIt {
			st.Iterations = maxIt
			return done("iterations")
		}
		if sinceBest > patience {
			if cur := s.objective(); cur < bestObj-1e-9 {
				bestObj, bestGrid, kicks = cur, s.snapshot(bestGrid), 0
			} else {
				kicks++
				s.restore(bestGrid)
			}
			if kicks >= maxKicks {
				return done("converged")
			}
			st.Restarts++
			s.kick()
			best, sinceBest = s.objective(), 0
		}
		mark := len(s.log)
		cur := s.objective()
		var ok bool
		switch r := s.rng.IntN(12); {
		case r < 2:
			ok = s.moveFill()
		case r < 3:
			ok = s.moveSteal()
		case r < 4:
			ok = s.moveEject()
		case r < 6:
			ok = s.moveChange()
		case r < 9:
			ok = s.moveSwap()
		default:
			ok = s.moveRebalance()
		}
		if !ok {
			sinceBest++
			s.log = s.log[:mark]
			continue
		}
		if after := s.objective(); after > cur+1e-9 {
			s.rollback(mark)
			sinceBest++
		} else {
			st.Accepted++
			// Only a real improvement (0.01 % of the cost and at least 0.01) restarts the
			// patience; ever smaller fairness gains do not keep the search alive.
			if after < best-math.Max(0.01, 1e-4*math.Abs(best)) {
				best, sinceBest = after, 0
			} else {
				best = math.Min(best, after)
				sinceBest++
			}
		}
		s.log = s.log[:mark]
	}
}

// snapshot copies the grid into dst (reused when it has the right shape).
func (s *solver) snapshot(dst [][]int16) [][]int16 {
	if len(dst) != len(s.grid) {
		dst = make([][]int16, len(s.grid))
	}
	for i := range s.grid {
		dst[i] = append(dst[i][:0], s.grid[i]...)
	}
	return dst
}

// restore brings the grid (and every counter) back to a snapshot.
func (s *solver) restore(g [][]int16) {
	for i := range s.grid {
		for j, t := range g[i] {
			if s.grid[i][j] != t {
				s.apply(i, j, t)
			}
		}
	}
	s.log = s.log[:0]
}

// kick frees about one resident half-day in 30 at random (never a locked one), so that local
// search can rebuild that part differently.
func (s *solver) kick() {
	n := max(6, len(s.res)*s.nS/30)
	for range n {
		i, j := s.res[s.rng.IntN(len(s.res))], s.rng.IntN(s.nS)
		if s.grid[i][j] != free && !s.locked[i][j] {
			s.try(i, j, free)
		}
	}
	s.log = s.log[:0]
}

// Three ways to close a shortfall: a free resident takes it (fill), a resident leaves a template
// that has more than its minimum in the same half-day (steal), or a resident gives up one of
// their sessions in the surrounding week that is above a minimum, to make room under the rules
// for this one (eject).
func (s *solver) moveFill() bool {
	j, t, ok := s.shortfall()
	if !ok {
		return false
	}
	off := s.rng.IntN(len(s.res))
	for k := range min(len(s.res), 8) {
		i := s.res[(off+k)%len(s.res)]
		if s.grid[i][j] == free && s.try(i, j, int16(t)) {
			return true
		}
	}
	return false
}

func (s *solver) moveSteal() bool {
	j, t, ok := s.shortfall()
	if !ok {
		return false
	}
	off := s.rng.IntN(len(s.res))
	for k := range len(s.res) {
		i := s.res[(off+k)%len(s.res)]
		if u := s.grid[i][j]; u != free && int(u) != t && s.count[j][u] > s.tmpl[u].MinResidents && s.try(i, j, int16(t)) {
			return true
		}
	}
	return false
}

func (s *solver) moveEject() bool {
	j, t, ok := s.shortfall()
	if !ok {
		return false
	}
	i := s.res[s.rng.IntN(len(s.res))]
	if s.grid[i][j] != free || s.locked[i][j] || !s.allowed(i, j, int16(t)) {
		return false
	}
	for range 6 {
		k := j + s.rng.IntN(29) - 14 // within a week either side
		if k < 0 || k >= s.nS || k == j || s.locked[i][k] {
			continue
		}
		if u := s.grid[i][k]; u != free && s.count[k][u] > s.tmpl[u].MinResidents {
			mark := len(s.log)
			if !s.try(i, k, free) {
				return false
			}
			if s.try(i, j, int16(t)) {
				return true
			}
			s.rollback(mark)
			return false
		}
	}
	return false
}

// shortfall finds a template below its minimum in some half-day, from a random starting point.
func (s *solver) shortfall() (int, int, bool) {
	if s.short == 0 {
		return 0, 0, false
	}
	off := s.rng.IntN(s.nS)
	for k := range s.nS {
		j := (off + k) % s.nS
		for t := range s.tmpl {
			if s.staffed[j][t] && s.count[j][t] < s.tmpl[t].MinResidents {
				return j, t, true
			}
		}
	}
	return 0, 0, false
}

// moveChange gives one resident's half-day another template, or frees it.
func (s *solver) moveChange() bool {
	i, j := s.res[s.rng.IntN(len(s.res))], s.rng.IntN(s.nS)
	t := int16(s.rng.IntN(len(s.tmpl)+1)) - 1
	return s.try(i, j, t)
}

// moveSwap exchanges two residents' templates in one half-day.
func (s *solver) moveSwap() bool {
	j := s.rng.IntN(s.nS)
	a, b := s.res[s.rng.IntN(len(s.res))], s.res[s.rng.IntN(len(s.res))]
	ta, tb := s.grid[a][j], s.grid[b][j]
	if a == b || ta == tb || s.locked[a][j] || s.locked[b][j] {
		return false
	}
	return s.exchange(a, b, j)
}

// exchange swaps the templates of residents a and b in slot j (either may be free) if no hard
// rule breaks.
func (s *solver) exchange(a, b, j int) bool {
	ta, tb := s.grid[a][j], s.grid[b][j]
	if !s.allowed(a, j, tb) || !s.allowed(b, j, ta) {
		return false
	}
	// The counts per template stay as they are; hours, rules and supervision units may not.
	ba, bb := s.baseline(a, j), s.baseline(b, j)
	mark := len(s.log)
	s.set(a, j, tb)
	s.set(b, j, ta)
	if !noWorse(ba, s.violationsAround(a, j)) || !noWorse(bb, s.violationsAround(b, j)) || !s.supervised(j, ta, tb) {
		s.rollback(mark)
		return false
	}
	return true
}

// moveRebalance hands one session of the most loaded resident of a PGY level to a less loaded
// one of the same level who is free in that half-day: the move that fairness needs, aimed.
func (s *solver) moveRebalance() bool {
	a := s.res[s.rng.IntN(len(s.res))]
	for _, i := range s.res {
		if s.pgy[i] == s.pgy[a] && s.load(i) > s.load(a) {
			a = i
		}
	}
	b := s.res[s.rng.IntN(len(s.res))]
	if b == a || s.pgy[b] != s.pgy[a] || s.load(b) >= s.load(a) {
		return false
	}
	for range 8 {
		j := s.rng.IntN(s.nS)
		if s.grid[a][j] != free && s.grid[b][j] == free && !s.locked[a][j] && !s.locked[b][j] {
			return s.exchange(a, b, j)
		}
	}
	return false
}

func (s *solver) coverageRate() float64 {
	need := 0
	for j := range s.slots {
		for t := range s.tmpl {
			if s.staffed[j][t] {
				need += s.tmpl[t].MinResidents
			}
		}
	}
	if need == 0 {
		return 1
	}
	return float64(need-s.short) / float64(need)
}

func (s *solver) spread() float64 {
	worst := 0.0
	for g := 1; g <= 3; g++ {
		lo, hi, seen := math.Inf(1), math.Inf(-1), false
		for _, i := range s.res {
			if s.pgy[i] == g {
				lo, hi, seen = math.Min(lo, s.load(i)), math.Max(hi, s.load(i)), true
			}
		}
		if seen {
			worst = math.Max(worst, hi-lo)
		}
	}
	return worst
}

func (s *solver) assignments() []Assignment {
	var out []Assignment
	for j, sl := range s.slots {
		for i, x := range s.people {
			if t := s.grid[i][j]; t != free {
				out = append(out, Assignment{Slot: sl, PersonID: x.ID, TemplateID: s.tmpl[t].ID, Locked: s.locked[i][j]})
			}
		}
	}
	return out
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
	people, templates := map[string]int{}, map[string]int{}
	for i, x := range p.People {
		people[x.ID] = i
	}
	for t, tp := range p.Templates {
		templates[tp.ID] = t
	}
	for _, a := range assignments {
		i, okP := people[a.PersonID]
		t, okT := templates[a.TemplateID]
		j := a.Slot.Index(p.From)
		if !okP || !okT || j < 0 || j >= s.nS {
			return 0, 0, inputErrorf("assignment %+v is not of this problem", a)
		}
		s.apply(i, j, int16(t))
	}
	return s.objective(), s.short, nil
}

package roster

import (
	"context"
	"math"
	"time"
)

// search is the state of iterated local search: the cost to beat for patience, the best
// schedule seen for the restarts, and the stop conditions.
type search struct {
	ctx       context.Context
	deadline  time.Time
	maxIt     int
	st        *Stats
	tick      func(int)
	best      float64 // lowest cost since the last restart, for patience
	sinceBest int     // moves since a real improvement
	patience  int
	maxKicks  int
	bestObj   float64 // the best schedule's cost
	bestGrid  [][]templateIdx
	kicks     int // restarts in a row without a new best
	// windows counts the window restarts (windowKick) spent while the best schedule leaves
	// more coverage short than the proven bound.
	windows int
}

// maxWindowKicks bounds the window restarts of a search that settles above the shortfall
// bound: each frees every resident's half-days of a few days and rebuilds them (a large
// neighbourhood), which finds the coverage a chain of single moves cannot reach in tight
// cyclic rosters (24-hour call, hand-over, day shift, day off), or runs out.
const maxWindowKicks = 8

// improve is local search: random moves (fill a shortfall, change one cell, swap two residents
// in a half-day), each kept if it breaks no hard rule and does not raise the cost. It stops at
// the budget, the iteration cap, cancellation, or after a long run without improvement.
func (s *solver) improve(ctx context.Context, deadline time.Time, maxIt int, st *Stats, tick func(int)) StopReason {
	if len(s.residents) == 0 || s.nSlots == 0 {
		return StopConverged
	}
	cells := len(s.residents) * int(s.nSlots)
	se := &search{ctx: ctx, deadline: deadline, maxIt: maxIt, st: st, tick: tick,
		best: s.objective(), patience: max(20000, 2*cells), maxKicks: 1}
	// Iterated local search: when the search settles, restart from the best schedule with a few
	// of its half-days freed, up to maxKicks times in a row without a new best. Small programs,
	// where settling is quick and the landscape rugged, get more kicks.
	if cells <= 20000 {
		se.maxKicks = 4
	}
	se.bestObj, se.bestGrid = se.best, s.snapshot(nil)
	for it := 1; ; it++ {
		if why := s.iterationStop(se, it); why != notStopped {
			if s.objective() > se.bestObj+1e-9 {
				s.restore(se.bestGrid)
			}
			return why
		}
		s.step(se)
	}
}

// iterationStop counts iteration it and says whether the search ends before it: cancelled, out
// of time, at the iteration cap, or settled after its last restart (otherwise it restarts).
func (s *solver) iterationStop(se *search, it int) StopReason {
	se.st.Iterations = it
	if it%256 == 0 {
		if why := stopCheck(se.ctx, se.deadline); why != notStopped {
			return why
		}
		se.tick(it)
	}
	if se.maxIt > 0 && it > se.maxIt {
		se.st.Iterations = se.maxIt
		return StopIterations
	}
	if se.sinceBest > se.patience {
		return s.restart(se)
	}
	return notStopped
}

// restart keeps the current schedule if it is a new best or goes back to the best, then kicks
// it, unless it has done so maxKicks times in a row without a new best.
func (s *solver) restart(se *search) StopReason {
	if cur := s.objective(); cur < se.bestObj-1e-9 {
		se.bestObj, se.bestGrid, se.kicks = cur, s.snapshot(se.bestGrid), 0
	} else {
		se.kicks++
		s.restore(se.bestGrid)
	}
	window := false
	if se.kicks >= se.maxKicks {
		if s.shortfall <= se.st.ShortfallLowerBound || se.windows >= maxWindowKicks {
			return StopConverged
		}
		se.windows++
		window = true
	}
	se.st.Restarts++
	if window {
		s.windowKick()
	} else {
		s.kick()
	}
	se.best, se.sinceBest = s.objective(), 0
	return notStopped
}

// step tries one random move and keeps it unless it raises the cost.
func (s *solver) step(se *search) {
	mark := len(s.undoLog)
	cur := s.objective()
	ok := s.randomMove(cur)
	s.ceiling = math.Inf(1)
	if !ok {
		se.sinceBest++
		s.undoLog = s.undoLog[:mark]
		return
	}
	if after := s.objective(); after > cur+1e-9 {
		s.rollback(mark)
		se.sinceBest++
	} else {
		se.st.Accepted++
		// Only a real improvement (0.01 % of the cost and at least 0.01) restarts the
		// patience; ever smaller fairness gains do not keep the search alive.
		if after < se.best-math.Max(0.01, 1e-4*math.Abs(se.best)) {
			se.best, se.sinceBest = after, 0
		} else {
			se.best = math.Min(se.best, after)
			se.sinceBest++
		}
	}
	s.undoLog = s.undoLog[:mark]
}

// randomMove draws a kind of move by its weight and tries it, from a schedule costing cur. The
// moves of one cell change or one exchange set the ceiling: a candidate that would cost more
// than cur is passed over before its rules are judged (it would be undone anyway), and the move
// goes on to its next candidate. Moves of several steps (eject, chain, a weekend) may pass
// through dearer states and are judged whole by step.
func (s *solver) randomMove(cur float64) bool {
	n := 14
	if len(s.eq.active) > 0 {
		n = 16 // two in sixteen for call equity (moveEquity)
	}
	r := s.rng.IntN(n)
	switch {
	case r == 3:
		return s.moveEject()
	case r == 4 || r == 5:
		return s.moveChain()
	}
	s.ceiling = cur
	switch {
	case r < 2:
		return s.moveFill()
	case r < 3:
		return s.moveSteal()
	case r < 8:
		return s.moveChange()
	case r < 11:
		return s.moveSwap()
	case r < 14:
		return s.moveRebalance()
	default:
		return s.moveEquity()
	}
}

// kick frees about one resident half-day in 30 at random (never a locked one), so that local
// search can rebuild that part differently.
func (s *solver) kick() {
	n := max(6, len(s.residents)*int(s.nSlots)/30)
	for range n {
		i, j := s.randomResident(), s.randomSlot()
		if s.assigned[i][j] != free && !s.locked[i][j] {
			s.try(i, j, free)
		}
	}
	s.undoLog = s.undoLog[:0]
}

// windowKick frees every resident's unlocked half-days over 3 to 6 days around a half-day left
// short (or at random when none is), so that local search rebuilds that stretch of the roster
// from scratch.
func (s *solver) windowKick() {
	days := 3 + s.rng.IntN(4)
	center := s.randomSlot()
	if short := s.shortSlots(); len(short) > 0 {
		center = short[s.rng.IntN(len(short))]
	}
	lo := max(0, int(center)-2*(days/2))
	hi := min(int(s.nSlots), lo+2*days)
	for _, i := range s.residents {
		for j := slotIdx(lo); j < slotIdx(hi); j++ {
			if s.assigned[i][j] != free && !s.locked[i][j] {
				s.try(i, j, free)
			}
		}
	}
	s.undoLog = s.undoLog[:0]
}

// shortSlots lists the half-days some template is below its minimum in.
func (s *solver) shortSlots() []slotIdx {
	var out []slotIdx
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if s.staffed[j][t] && s.residentsOn[j][t] < s.templates[t].MinResidents {
				out = append(out, j)
				break
			}
		}
	}
	return out
}

func (s *solver) randomResident() personIdx { return s.residents[s.rng.IntN(len(s.residents))] }

func (s *solver) randomSlot() slotIdx { return slotIdx(s.rng.IntN(int(s.nSlots))) }

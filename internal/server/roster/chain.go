package roster

import (
	"slices"

	"github.com/rsched/rsched/internal/server/acgme"
)

// Ejection chains: the move that closes the holes the single-cell moves cannot. On a tight block
// a half-day below its minimum often has nobody who can simply take it: every eligible resident
// is on another template that needs them, or the rules forbid the session (a call the night
// before, a seventh day in a row, the week's hours). A chain places a resident anyway and repairs
// what that breaks: the template they leave, or one of their own sessions nearby that must go
// for the rules to hold, is refilled by another resident, the same way, a few links deep (the
// classic ejection chain of nurse rostering). Every link goes through try, so each cell change
// keeps every hard rule; a chain that does not end with the hole filled is rolled back whole.

const (
	// chainDepth is how many holes a chain may open and refill after its first placement.
	chainDepth = 2
	// chainWidth is how many residents a link tries for a hole, and how many of a resident's
	// sessions it tries to give up.
	chainWidth = 3
	// chainTries bounds the placements one chain attempts (what a failed chain costs).
	chainTries = 120
	// chainReach is how far (in half-days) a resident's given-up session may lie from the hole:
	// two weeks, the reach of the days-off and consecutive-days rules.
	chainReach = 28
	// chainPatience is how many chains in a row may fail before chains are drawn less often.
	chainPatience = 16
)

// moveChain fills a half-day below its minimum by an ejection chain. A chain that fails costs
// up to chainTries rule checks, so after a run of failures (holes no chain reaches, such as
// those the rest rules force) chains are tried ever more rarely, until one succeeds.
func (s *solver) moveChain() bool {
	if s.chainFails > chainPatience && s.rng.IntN(s.chainFails/chainPatience+1) != 0 {
		return false
	}
	j, t, ok := s.randomShortfall()
	if !ok {
		return false
	}
	s.chainBudget = chainTries
	if s.chainFill(j, t, chainDepth) {
		s.chainFails = 0
		return true
	}
	s.chainFails++
	return false
}

// chainFill puts one more resident on template t in slot j, opening and refilling at most depth
// further holes; on failure nothing has changed.
func (s *solver) chainFill(j slotIdx, t templateIdx, depth int) bool {
	mark := len(s.undoLog)
	off := s.rng.IntN(len(s.residents))
	tried := 0
	for k := 0; k < len(s.residents) && tried < chainWidth && s.chainBudget > 0; k++ {
		i := s.residents[(off+k)%len(s.residents)]
		if s.assigned[i][j] == t || s.locked[i][j] || !s.allowed(i, j, t) {
			continue
		}
		tried++
		if s.chainPlace(i, j, t, depth) {
			return true
		}
		s.rollback(mark)
	}
	return false
}

// chainPlace puts resident i on template t in slot j: directly if the rules allow, else after
// giving up one of i's sessions nearby; either way the holes it leaves are refilled.
func (s *solver) chainPlace(i personIdx, j slotIdx, t templateIdx, depth int) bool {
	left := s.assigned[i][j]
	s.chainBudget--
	if s.try(i, j, t) {
		return s.refill(j, left, depth)
	}
	if depth == 0 {
		return false
	}
	blocking := s.blockers(i, j, t, nil)
	for range chainWidth {
		k, ok := s.sessionToGiveUp(i, blocking)
		if !ok || s.chainBudget <= 0 {
			return false
		}
		// A run of days or a day off wants the whole day: give up its other half too when that
		// takes part in the violation.
		other := k ^ 1
		whole := other != j && slices.Contains(blocking, other)
		mark, given, givenOther := len(s.undoLog), s.assigned[i][k], s.assigned[i][other]
		s.chainBudget -= 2
		if s.try(i, k, free) && (!whole || s.try(i, other, free)) && s.try(i, j, t) &&
			s.refill(j, left, depth-1) && s.refill(k, given, depth-1) && (!whole || s.refill(other, givenOther, depth-1)) {
			return true
		}
		s.rollback(mark)
	}
	return false
}

// refill refills template t in slot j if a move left it below its minimum.
func (s *solver) refill(j slotIdx, t templateIdx, depth int) bool {
	if t == free || !s.staffed[j][t] || s.residentsOn[j][t] >= s.templates[t].MinResidents {
		return true
	}
	return depth > 0 && s.chainFill(j, t, depth-1)
}

// blockers lists resident i's movable sessions that take part in a violation placing i on
// template t in slot j would cause (the sessions to give up for the placement to keep the
// rules); nothing changes.
func (s *solver) blockers(i personIdx, j slotIdx, t templateIdx, out []slotIdx) []slotIdx {
	out = out[:0]
	before := s.baseline(i, j)
	mark := len(s.undoLog)
	s.set(i, j, t)
	after := s.violationsAround(i, j)
	s.rollback(mark)
	for _, v := range after {
		if noWorse(before, []acgme.Violation{v}) {
			continue
		}
		lo, hi := max(0, j-chainReach), min(s.nSlots, j+chainReach+1)
		for k := lo; k < hi; k++ {
			u := s.assigned[i][k]
			if k == j || u == free || s.locked[i][k] || slices.Contains(out, k) {
				continue
			}
			if d, ok := s.templates[u].Duty(s.slots[k], s.loc); ok && !d.Start.After(v.End) && !d.End.Before(v.Start) {
				out = append(out, k)
			}
		}
	}
	return out
}

// sessionToGiveUp picks one of the sessions in blocking at random, preferring one whose day it
// leaves free (days off, consecutive days).
func (s *solver) sessionToGiveUp(i personIdx, blocking []slotIdx) (slotIdx, bool) {
	if len(blocking) == 0 {
		return 0, false
	}
	k := blocking[s.rng.IntN(len(blocking))]
	for range 2 {
		if c := blocking[s.rng.IntN(len(blocking))]; s.assigned[i][c^1] == free {
			return c, true
		}
	}
	return k, true
}

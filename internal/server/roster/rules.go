package roster

import (
	"math"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// allowed says whether resident i may hold template t in slot j as far as the cell itself goes
// (availability, including a session that would run into a day of leave, staffing, PGY level,
// the block plan);
// capacity and rules are checked by the callers.
func (s *solver) allowed(i personIdx, j slotIdx, t templateIdx) bool {
	if t == free {
		return true
	}
	return !s.absent[i][j] && !(s.beforeAbsence[i][j] && s.overnight[j][t]) && s.staffed[j][t] && s.templates[t].Allows(s.pgy[i]) && s.planAllows(i, j, t) &&
		s.spacedFree(i, j, t)
}

// try moves resident i to template t in slot j, keeping it only if no hard rule breaks.
func (s *solver) try(i personIdx, j slotIdx, t templateIdx) bool {
	if s.locked[i][j] || s.assigned[i][j] == t || !s.allowed(i, j, t) {
		return false
	}
	if t != free && s.residentsOn[j][t] >= s.templates[t].MaxResidents {
		return false
	}
	before := s.baseline(i, j)
	mark := len(s.undoLog)
	old := s.assigned[i][j]
	s.set(i, j, t)
	if s.aboveCeiling() {
		s.rollback(mark)
		return false
	}
	ok := noWorse(before, s.violationsAround(i, j)) && s.supervised(j, old, t)
	if !ok {
		s.rollback(mark)
	}
	return ok
}

// aboveCeiling says whether the schedule now costs more than the move under way may leave it
// (solver.ceiling): such a change is undone before its rules are judged.
func (s *solver) aboveCeiling() bool {
	return !math.IsInf(s.ceiling, 1) && s.objective() > s.ceiling+1e-9
}

// baseline is resident i's violations around slot j before a move (none for a resident whose
// schedule breaks no rule anywhere, which every kept move preserves).
func (s *solver) baseline(i personIdx, j slotIdx) []acgme.Violation {
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

// violationsAround lists the ACGME violations of resident i in the days around slot j (every
// window, period and gap that a change in slot j can touch).
func (s *solver) violationsAround(i personIdx, j slotIdx) []acgme.Violation {
	return s.violations(i, j, j+4)
}

// violations lists the ACGME violations of resident i that touch the days of slots [j, k), as
// far as they lie in the range (from From to the day after To, where a night call ends), which
// is what the validator judges.
func (s *solver) violations(i personIdx, j, k slotIdx) []acgme.Violation {
	if k <= j {
		return nil
	}
	p, lim := s.problem, s.limits
	// Days counted from From: the range judged is [d, e), the duties laid out [from, to).
	d, e := int(j)/2, min((int(k)-1)/2+1, s.nDays)
	from, to := d-lim.WindowDays-2, e+lim.WindowDays+2
	lo, hi := s.midnight(from), s.midnight(to)
	duties := s.scratch[:0]
	for _, c := range s.contextDuties[i] {
		if c.End.After(lo) && c.Start.Before(hi) {
			duties = append(duties, c)
		}
	}
	for n := slotIdx(max(0, 2*from)); n < min(s.nSlots, slotIdx(2*to)); n++ {
		if t := s.assigned[i][n]; t != free && s.hasDuty[n][t] {
			duties = append(duties, s.duty[n][t])
		}
	}
	s.scratch = duties
	s.timeline.Reset(s.loc, duties, lim.MaxBreak)
	return p.checkDuties("", &s.timeline, duties, acgme.Range{From: s.midnight(d), To: s.midnight(e)})
}

// midnight is the start, in the program's time zone, of the day n days after From (n may lie
// outside the range by the rules' reach; the instants are laid out once, in newSolver).
func (s *solver) midnight(n int) time.Time {
	return s.midnights[n-s.midnight0]
}

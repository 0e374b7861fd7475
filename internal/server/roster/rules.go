package roster

import (
	"slices"

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
	return !s.absent[i][j] && !(s.beforeAbsence[i][j] && s.overnight[j][t]) && s.staffed[j][t] && s.templates[t].Allows(s.pgy[i]) && s.planAllows(i, j, t)
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
	ok := noWorse(before, s.violationsAround(i, j)) && s.supervised(j, old, t)
	if !ok {
		s.rollback(mark)
	}
	return ok
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
	d, e := s.slots[j].Date, SlotAt(p.From, int(k)-1).Date.AddDays(1)
	if end := p.To.AddDays(1); end.Before(e) {
		e = end
	}
	from, to := d.AddDays(-lim.WindowDays-2), e.AddDays(lim.WindowDays+2)
	duties := s.scratch[:0]
	for _, c := range s.contextDuties[i] {
		if c.End.After(from.In(s.loc)) && c.Start.Before(to.In(s.loc)) {
			duties = append(duties, c)
		}
	}
	lo, hi := slotIdx(max(0, Slot{from, AM}.Index(p.From))), min(s.nSlots, slotIdx(Slot{to, AM}.Index(p.From)))
	for n := lo; n < hi; n++ {
		if t := s.assigned[i][n]; t != free {
			if du, ok := s.templates[t].Duty(s.slots[n], s.loc); ok {
				duties = append(duties, du)
			}
		}
	}
	s.scratch = duties
	s.timeline.Reset(s.loc, duties, lim.MaxBreak)
	return p.checkDuties("", &s.timeline, duties, acgme.Range{From: d.In(s.loc), To: e.In(s.loc)})
}

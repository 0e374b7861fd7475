package roster

import "math"

// Three ways to close a shortfall: a free resident takes it (fill), a resident leaves a template
// that has more than its minimum in the same half-day (steal), or a resident gives up one of
// their sessions in the surrounding week that is above a minimum, to make room under the rules
// for this one (eject).
func (s *solver) moveFill() bool {
	j, t, ok := s.randomShortfall()
	if !ok {
		return false
	}
	off := s.rng.IntN(len(s.residents))
	for k := range min(len(s.residents), 8) {
		i := s.residents[(off+k)%len(s.residents)]
		if s.assigned[i][j] == free && s.try(i, j, t) {
			return true
		}
	}
	return false
}

func (s *solver) moveSteal() bool {
	j, t, ok := s.randomShortfall()
	if !ok {
		return false
	}
	off := s.rng.IntN(len(s.residents))
	for k := range len(s.residents) {
		i := s.residents[(off+k)%len(s.residents)]
		if u := s.assigned[i][j]; u != free && u != t && s.aboveMinimum(j, u) && s.try(i, j, t) {
			return true
		}
	}
	return false
}

func (s *solver) moveEject() bool {
	j, t, ok := s.randomShortfall()
	if !ok {
		return false
	}
	i := s.randomResident()
	if s.assigned[i][j] != free || s.locked[i][j] || !s.allowed(i, j, t) {
		return false
	}
	for range 6 {
		k := j + slotIdx(s.rng.IntN(29)) - 14 // within a week either side
		if k < 0 || k >= s.nSlots || k == j || s.locked[i][k] {
			continue
		}
		if u := s.assigned[i][k]; u != free && s.aboveMinimum(k, u) {
			return s.trade(i, k, j, t)
		}
	}
	return false
}

// trade frees resident i's half-day k and puts i on template t in slot j, both or neither.
func (s *solver) trade(i personIdx, k, j slotIdx, t templateIdx) bool {
	mark := len(s.undoLog)
	if !s.try(i, k, free) {
		return false
	}
	if s.try(i, j, t) {
		return true
	}
	s.rollback(mark)
	return false
}

// aboveMinimum says whether template t in slot j has more residents than its minimum.
func (s *solver) aboveMinimum(j slotIdx, t templateIdx) bool {
	return s.residentsOn[j][t] > s.templates[t].MinResidents
}

// randomShortfall finds a template below its minimum in some half-day, from a random starting
// point, skipping the half-days whose shortfall is proven unavoidable (slotBound).
func (s *solver) randomShortfall() (slotIdx, templateIdx, bool) {
	if s.shortfall == 0 {
		return 0, 0, false
	}
	off := s.rng.IntN(int(s.nSlots))
	for k := range s.nSlots {
		j := (slotIdx(off) + k) % s.nSlots
		if s.slotBound != nil && s.slotShortfall(j) <= s.slotBound[j] {
			continue
		}
		for t := range s.nTemplates {
			if s.staffed[j][t] && s.residentsOn[j][t] < s.templates[t].MinResidents {
				return j, t, true
			}
		}
	}
	return 0, 0, false
}

// slotShortfall is the shortfall of slot j.
func (s *solver) slotShortfall(j slotIdx) int {
	n := 0
	for t := range s.nTemplates {
		if s.staffed[j][t] {
			n += max(0, s.templates[t].MinResidents-s.residentsOn[j][t])
		}
	}
	return n
}

// moveChange gives one resident's half-day another template, or frees it.
func (s *solver) moveChange() bool {
	i, j := s.randomResident(), s.randomSlot()
	t := templateIdx(s.rng.IntN(int(s.nTemplates)+1)) - 1
	return s.try(i, j, t)
}

// moveSwap exchanges two residents' templates in one half-day.
func (s *solver) moveSwap() bool {
	j := s.randomSlot()
	a, b := s.randomResident(), s.randomResident()
	ta, tb := s.assigned[a][j], s.assigned[b][j]
	if a == b || ta == tb || s.locked[a][j] || s.locked[b][j] {
		return false
	}
	return s.exchange(a, b, j)
}

// exchange swaps the templates of residents a and b in slot j (either may be free) if no hard
// rule breaks.
func (s *solver) exchange(a, b personIdx, j slotIdx) bool {
	ta, tb := s.assigned[a][j], s.assigned[b][j]
	if !s.allowed(a, j, tb) || !s.allowed(b, j, ta) {
		return false
	}
	// The counts per template stay as they are; hours, rules and supervision units may not.
	ba, bb := s.baseline(a, j), s.baseline(b, j)
	mark := len(s.undoLog)
	s.set(a, j, tb)
	s.set(b, j, ta)
	if s.aboveCeiling() {
		s.rollback(mark)
		return false
	}
	if !noWorse(ba, s.violationsAround(a, j)) || !noWorse(bb, s.violationsAround(b, j)) || !s.supervised(j, ta, tb) {
		s.rollback(mark)
		return false
	}
	return true
}

// moveRebalance hands one session of the most loaded resident of a PGY level to a less loaded
// one of the same level who is free in that half-day: the move that fairness needs, aimed.
func (s *solver) moveRebalance() bool {
	a := s.randomResident()
	for _, i := range s.residents {
		if s.pgy[i] == s.pgy[a] && s.load(i) > s.load(a) {
			a = i
		}
	}
	b := s.randomResident()
	if b == a || s.pgy[b] != s.pgy[a] || s.load(b) >= s.load(a) {
		return false
	}
	for range 8 {
		j := s.randomSlot()
		if s.assigned[a][j] != free && s.assigned[b][j] == free && !s.locked[a][j] && !s.locked[b][j] {
			return s.exchange(a, b, j)
		}
	}
	return false
}

// moveEquity hands one call from the resident of a PGY level who has the most of a call measure
// (calls of one kind, its weekend or its holiday calls) to a resident of the same level who has
// at least two fewer, in a half-day where the two can exchange their templates (the one giving
// the call up takes the other's session there, or nothing): the move that call equity needs,
// aimed. Or, for weekends off, moveWeekendOff.
func (s *solver) moveEquity() bool {
	e := &s.eq
	if len(e.levels) == 0 || len(e.active) == 0 {
		return false
	}
	m := e.active[s.rng.IntN(len(e.active))]
	rs := e.byLevel[e.levels[s.rng.IntN(len(e.levels))]]
	a, b := rs[0], rs[s.rng.IntN(len(rs))]
	for _, i := range rs {
		if e.count[i][m] > e.count[a][m] {
			a = i
		}
	}
	if m == measureWeekendsOff {
		// a has the most weekends off: b, with fewer, hands a weekend on duty to a (several
		// exchanges, each of which may cost more than the whole).
		s.ceiling = math.Inf(1)
		return e.count[b][m]+1 < e.count[a][m] && s.moveWeekendOff(b, a)
	}
	if e.count[b][m]+1 >= e.count[a][m] {
		return false
	}
	off, tried := s.rng.IntN(int(s.nSlots)), 0
	for k := range s.nSlots {
		j := (slotIdx(off) + k) % s.nSlots
		if !s.countsIn(m, j, s.assigned[a][j]) || s.locked[a][j] || s.locked[b][j] || s.countsIn(m, j, s.assigned[b][j]) {
			continue
		}
		if s.exchange(a, b, j) {
			return true
		}
		if tried++; tried == 4 {
			break
		}
	}
	return false
}

// moveWeekendOff exchanges one whole weekend between resident b, busy on it, and resident a, off
// on it (their Saturdays and Sundays, and their Friday afternoons when one runs overnight into
// the Saturday): both or none of the cells.
func (s *solver) moveWeekendOff(b, a personIdx) bool {
	e := &s.eq
	off := s.rng.IntN(len(e.weekendSat))
	for k := range e.weekendSat {
		w := (off + k) % len(e.weekendSat)
		if s.weekendOff(b, w) || !s.weekendOff(a, w) {
			continue
		}
		sat, mark := e.weekendSat[w], len(s.undoLog)
		for j := max(0, sat-1); j < sat+4; j++ {
			if s.assigned[a][j] == s.assigned[b][j] {
				continue
			}
			if s.locked[a][j] || s.locked[b][j] || !s.exchange(a, b, j) {
				s.rollback(mark)
				return false
			}
		}
		return true
	}
	return false
}

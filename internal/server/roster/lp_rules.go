package roster

import (
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// The constraint families of the LP model, each named after the rule it encodes, in the order
// WriteLP writes them (the order fixes the row names c1, c2, ...).

// writeResidentHalfDays: a resident holds at most one template per half-day (a locked cell
// exactly its own), and a change of template from one day to the next in the same half sets
// the change variable.
func (m *lpBuilder) writeResidentHalfDays() {
	for _, i := range m.s.residents {
		for j := range m.s.nSlots {
			ts := m.sessions(i, j)
			m.b.start("")
			for _, t := range ts {
				m.b.term(1, xVar(i, j, t))
			}
			m.relOne(m.s.locked[i][j])
			if m.hasChangeVar(j) {
				m.writeContinuity(i, j, ts)
			}
		}
	}
}

// relOne closes a row as "= 1" for a locked cell, "<= 1" otherwise.
func (m *lpBuilder) relOne(locked bool) {
	if locked {
		m.b.rel("=", 1)
	} else {
		m.b.rel("<=", 1)
	}
}

// writeContinuity: holding t in slot j and another template a day later is a change.
func (m *lpBuilder) writeContinuity(i personIdx, j slotIdx, ts []templateIdx) {
	for _, t := range ts {
		m.b.start("")
		m.b.term(1, xVar(i, j, t))
		for _, u := range m.sessions(i, j+2) {
			if u != t {
				m.b.term(1, xVar(i, j+2, u))
			}
		}
		m.b.term(-1, changeVar(i, j))
		m.b.rel("<=", 1)
	}
}

// writeTemplateStaffing: capacity, coverage and supervision per template and half-day.
func (m *lpBuilder) writeTemplateStaffing() {
	s := m.s
	for j := range s.nSlots {
		for t, tp := range s.templates {
			if !s.staffed[j][t] {
				continue
			}
			rs := m.eligibleResidents(j, templateIdx(t))
			m.writeCapacity(j, templateIdx(t), rs)
			if tp.MinResidents > 0 {
				m.writeCoverage(j, templateIdx(t), rs)
			}
			if tp.SupervisionRequired {
				m.writeSupervision(j, templateIdx(t), rs)
			}
		}
	}
}

// eligibleResidents lists the residents who may hold template t in slot j.
func (m *lpBuilder) eligibleResidents(j slotIdx, t templateIdx) []personIdx {
	var rs []personIdx
	for _, i := range m.s.residents {
		if m.mayHold(i, j, t) {
			rs = append(rs, i)
		}
	}
	return rs
}

// writeCapacity: at most MaxResidents on a template in a half-day.
func (m *lpBuilder) writeCapacity(j slotIdx, t templateIdx, rs []personIdx) {
	m.b.start("")
	for _, i := range rs {
		m.b.term(1, xVar(i, j, t))
	}
	m.b.rel("<=", float64(m.s.templates[t].MaxResidents))
}

// writeCoverage: the residents on a template and its shortfall make up its minimum.
func (m *lpBuilder) writeCoverage(j slotIdx, t templateIdx, rs []personIdx) {
	m.b.start("")
	for _, i := range rs {
		m.b.term(1, xVar(i, j, t))
	}
	m.b.term(1, shortVar(j, t))
	m.b.rel(">=", float64(m.s.templates[t].MinResidents))
}

// writeSupervision (acgme.Supervision): the faculty's units cover the residents' demand.
func (m *lpBuilder) writeSupervision(j slotIdx, t templateIdx, rs []personIdx) {
	s := m.s
	m.b.start("")
	for _, f := range s.faculty {
		if m.maySupervise(f, j, t) {
			m.b.term(float64(s.limits.FacultyUnits), yVar(f, j, t))
		}
	}
	for _, i := range rs {
		m.b.term(-float64(s.unitsOf(i)), xVar(i, j, t))
	}
	m.b.rel(">=", float64(m.learnerUnits(j, t)))
}

// learnerUnits is the supervision the learners fixed on template t in slot j need, as PGY-1s.
func (m *lpBuilder) learnerUnits(j slotIdx, t templateIdx) int {
	n := 0
	for i, x := range m.s.people {
		if x.Type == Learner && m.s.assigned[i][j] == t {
			n += m.s.limits.PGY1Units
		}
	}
	return n
}

// writeFacultyLimits: a faculty member supervises at most one template per half-day (a locked
// cell exactly its own, a row dropped when that template needs no supervision) and at most
// their weekly cap of half-days.
func (m *lpBuilder) writeFacultyLimits() {
	s := m.s
	for _, f := range s.faculty {
		for j := range s.nSlots {
			m.writeOneSupervisionPerHalfDay(f, j)
		}
		if c := s.people[f].MaxSessionsPerWeek; c > 0 {
			for w := 0; w*slotsPerWeek < int(s.nSlots); w++ {
				m.writeWeeklySessionCap(f, w, c)
			}
		}
	}
}

func (m *lpBuilder) writeOneSupervisionPerHalfDay(f personIdx, j slotIdx) {
	m.b.start("")
	for _, t := range m.supervisedTemplates(j) {
		if m.maySupervise(f, j, t) {
			m.b.term(1, yVar(f, j, t))
		}
	}
	m.relOne(m.s.locked[f][j])
}

// writeWeeklySessionCap: faculty f supervises at most c half-days in week w; locked half-days
// on templates without supervision count too.
func (m *lpBuilder) writeWeeklySessionCap(f personIdx, w, c int) {
	s := m.s
	m.b.start("")
	fixed := 0
	first := slotIdx(w * slotsPerWeek)
	for j := first; j < min(s.nSlots, first+slotsPerWeek); j++ {
		supervised := m.supervisedTemplates(j)
		if s.locked[f][j] && !slices.Contains(supervised, s.assigned[f][j]) {
			fixed++
		}
		for _, t := range supervised {
			if m.maySupervise(f, j, t) {
				m.b.term(1, yVar(f, j, t))
			}
		}
	}
	m.b.rel("<=", float64(c-fixed))
}

// writeACGMERules writes resident i's duty-hour rules, as acgme.Check judges them.
func (m *lpBuilder) writeACGMERules(i personIdx) {
	lim := m.s.limits
	m.writeDutyDays(i)
	for first := -lim.WindowDays + 1; first < m.days; first++ {
		lo, hi := max(0, first), min(m.days+1, first+lim.WindowDays)
		m.writeWeeklyHours(i, lo, hi)
		m.writeDaysOff(i, lo, hi)
		m.writeCallFrequency(i, lo, hi)
	}
	m.writeConsecutiveDutyDays(i)
	m.writeContinuousDutyAndRest(i)
	m.writeOverlaps(i)
	m.writePostCallDay(i)
	m.writeCallSpacing(i)
}

// writeOverlaps (acgme.Overlap): two sessions of resident i that overlap in time are not both
// held. Only shifts with their own start times can overlap (a half-day session ends before the
// next half-day begins), so a program of the half-day family writes no row here.
func (m *lpBuilder) writeOverlaps(i personIdx) {
	for j := range m.s.nSlots {
		for _, t := range m.sessions(i, j) {
			_, en, ok := m.duty(j, t)
			if !ok {
				continue
			}
			// A shift lasts at most MaxShiftHours: nothing it overlaps starts four half-days later.
			for n := j + 1; n < m.s.nSlots && n <= j+4; n++ {
				for _, u := range m.sessions(i, n) {
					if st, _, ok := m.duty(n, u); ok && st.Before(en) {
						m.b.start("")
						m.b.term(1, xVar(i, j, t))
						m.b.term(1, xVar(i, n, u))
						m.b.rel("<=", 1)
					}
				}
			}
		}
	}
}

// writeDutyDays links the duty-day variables to the sessions: d_k is 1 when any session has
// hours on day k.
func (m *lpBuilder) writeDutyDays(i personIdx) {
	for k := range m.days + 1 {
		for j := slotIdx(max(0, 2*k-2)); j < min(m.s.nSlots, slotIdx(2*k+2)); j++ {
			for _, t := range m.sessions(i, j) {
				if m.hoursOn(j, t, k) > 0 {
					m.b.start("")
					m.b.term(1, dutyDayVar(i, k))
					m.b.term(-1, xVar(i, j, t))
					m.b.rel(">=", 0)
				}
			}
		}
	}
}

// writeWeeklyHours (acgme.WeeklyHours): at most 80 hours a week averaged over the window of
// days [lo, hi).
func (m *lpBuilder) writeWeeklyHours(i personIdx, lo, hi int) {
	lim := m.s.limits
	m.b.start("")
	for j := slotIdx(max(0, 2*lo-2)); j < min(m.s.nSlots, slotIdx(2*hi)); j++ {
		for _, t := range m.sessions(i, j) {
			h := 0.0
			for k := lo; k < hi; k++ {
				h += m.hoursOn(j, t, k)
			}
			if h > 0 {
				m.b.term(h, xVar(i, j, t))
			}
		}
	}
	m.b.rel("<=", lim.WeeklyHours*float64(lim.WindowDays)/7)
}

// writeDaysOff (acgme.DaysOff): one day in seven free of duty over the window [lo, hi); days
// outside the range are free.
func (m *lpBuilder) writeDaysOff(i personIdx, lo, hi int) {
	lim := m.s.limits
	m.b.start("")
	for k := lo; k < hi; k++ {
		m.b.term(1, dutyDayVar(i, k))
	}
	m.b.rel("<=", float64(lim.WindowDays-lim.WindowDays/7*lim.DaysOffPerWeek))
}

// writeCallFrequency (acgme.CallFrequency): call no more often than every third night over the
// window [lo, hi), counted on the day a call starts.
func (m *lpBuilder) writeCallFrequency(i personIdx, lo, hi int) {
	lim := m.s.limits
	m.b.start("")
	for j := slotIdx(2 * lo); j < min(m.s.nSlots, slotIdx(2*hi)); j++ {
		for _, t := range m.sessions(i, j) {
			if m.s.templates[t].Activity == Call {
				m.b.term(1, xVar(i, j, t))
			}
		}
	}
	m.b.rel("<=", float64(lim.WindowDays/lim.CallEveryNthNight))
}

// writeConsecutiveDutyDays (acgme.ConsecutiveDutyDays): no more than MaxConsecutiveDutyDays
// duty days in a row.
func (m *lpBuilder) writeConsecutiveDutyDays(i personIdx) {
	most := m.s.limits.MaxConsecutiveDutyDays
	for k := 0; k+most <= m.days; k++ {
		m.b.start("")
		for q := k; q <= k+most; q++ {
			m.b.term(1, dutyDayVar(i, q))
		}
		m.b.rel("<=", float64(most))
	}
}

// writeContinuousDutyAndRest (acgme.ContinuousDuty, acgme.DutyAfter24h, acgme.Rest): chains of
// sessions in consecutive half-days that the rules join into one period (gaps of at most
// MaxBreak) may not run too long nor hold patient care past MaxContinuous, and the rest after a
// period may not be too short.
func (m *lpBuilder) writeContinuousDutyAndRest(i personIdx) {
	for j := range m.s.nSlots {
		for _, t := range m.sessions(i, j) {
			if st, en, ok := m.duty(j, t); ok {
				m.walk(i, []lpCell{{j, t}}, st, en)
			}
		}
	}
}

// walk extends a chain of sessions of resident i (one duty period, from start to end) by
// every session of the next four half-days.
func (m *lpBuilder) walk(i personIdx, chain []lpCell, start, end time.Time) {
	lim := m.s.limits
	if end.Sub(start) > lim.MaxContinuous+lim.Transition || m.careAfter(chain[len(chain)-1], start.Add(lim.MaxContinuous)) {
		m.writeContinuousDuty(i, chain)
		return // every longer chain contains this one
	}
	need := lim.MinRest
	if end.Sub(start) >= lim.MaxContinuous {
		need = lim.MinRestAfterExtended
	}
	last := chain[len(chain)-1].j
	for n := last + 1; n < m.s.nSlots && n <= last+4; n++ {
		for _, t := range m.sessions(i, n) {
			m.follow(i, chain, start, end, need, lpCell{n, t})
		}
	}
}

// follow looks at one session after a chain: in the next half-day and within MaxBreak it
// continues the period; after a gap shorter than the rest needed it cannot follow the chain.
func (m *lpBuilder) follow(i personIdx, chain []lpCell, start, end time.Time, need time.Duration, next lpCell) {
	st, en, ok := m.duty(next.j, next.t)
	if !ok {
		return
	}
	lim := m.s.limits
	gap := st.Sub(end)
	switch {
	case gap <= lim.MaxBreak && next.j == chain[len(chain)-1].j+1:
		if en.After(end) {
			end = en
		}
		m.walk(i, append(chain[:len(chain):len(chain)], next), start, end)
	case gap > lim.MaxBreak && gap < need:
		m.writeRest(i, chain, next)
	}
}

// careAfter says whether session c is patient care (not education) running past cut, the
// MaxContinuous point of the chain it ends (acgme.PatientCareAfter). The chain's earlier
// sessions were judged when they ended it.
func (m *lpBuilder) careAfter(c lpCell, cut time.Time) bool {
	d, ok := m.s.templates[c.t].Duty(m.s.slots[c.j], m.s.loc)
	return ok && acgme.PatientCareAfter([]acgme.Duty{d}, cut) > 0
}

// writeContinuousDuty: a chain longer than MaxContinuous plus the transition time, or holding
// patient care past MaxContinuous, cannot be held whole.
func (m *lpBuilder) writeContinuousDuty(i personIdx, chain []lpCell) {
	m.b.start("")
	for _, c := range chain {
		m.b.term(1, xVar(i, c.j, c.t))
	}
	m.b.rel("<=", float64(len(chain)-1))
}

// writeRest: too little rest between a chain and the session after it, unless a session in
// between carries the period on (an off or zero-hour session carries nothing).
func (m *lpBuilder) writeRest(i personIdx, chain []lpCell, next lpCell) {
	m.b.start("")
	for _, c := range chain {
		m.b.term(1, xVar(i, c.j, c.t))
	}
	m.b.term(1, xVar(i, next.j, next.t))
	for q := chain[len(chain)-1].j + 1; q < next.j; q++ {
		for _, u := range m.sessions(i, q) {
			if _, _, ok := m.duty(q, u); ok {
				m.b.term(-1, xVar(i, q, u))
			}
		}
	}
	m.b.rel("<=", float64(len(chain)))
}

package roster

import (
	"fmt"
	"time"
)

// lpBuilder writes the rows of one LP model; each write method is one family of constraints.
type lpBuilder struct {
	s *solver
	b *lpWriter
	// days in the range; day `days` is the day after it, where a night call on the last day
	// ends, and the rules count it as the validator does.
	days int
}

// lpCell is one session a resident may hold: template t in half-day j.
type lpCell struct {
	j slotIdx
	t templateIdx
}

// The variables of the model.

// xVar is 1 when resident i holds template t in half-day j.
func xVar(i personIdx, j slotIdx, t templateIdx) string { return fmt.Sprintf("x_%d_%d_%d", i, j, t) }

// yVar is 1 when faculty f supervises template t in half-day j.
func yVar(f personIdx, j slotIdx, t templateIdx) string { return fmt.Sprintf("y_%d_%d_%d", f, j, t) }

// shortVar counts the residents missing below template t's minimum in half-day j.
func shortVar(j slotIdx, t templateIdx) string { return fmt.Sprintf("short_%d_%d", j, t) }

// changeVar is 1 when resident i changes template from half-day j to the same half a day later.
func changeVar(i personIdx, j slotIdx) string { return fmt.Sprintf("chg_%d_%d", i, j) }

// dutyDayVar is 1 when resident i has duty hours on day k of the range.
func dutyDayVar(i personIdx, k int) string { return fmt.Sprintf("d_%d_%d", i, k) }

// mayHold says whether resident i may hold template t in slot j: a locked cell holds only its
// own template.
func (m *lpBuilder) mayHold(i personIdx, j slotIdx, t templateIdx) bool {
	if m.s.locked[i][j] {
		return m.s.assigned[i][j] == t
	}
	return m.s.allowed(i, j, t)
}

// maySupervise says whether faculty f may supervise template t in slot j: a locked cell holds
// only its own template, and only faculty credentialed for t supervise it.
func (m *lpBuilder) maySupervise(f personIdx, j slotIdx, t templateIdx) bool {
	if m.s.locked[f][j] {
		return m.s.assigned[f][j] == t
	}
	return !m.s.absent[f][j] && m.s.credentialed(f, t)
}

// sessions lists the templates resident i may hold in slot j (an x variable each).
func (m *lpBuilder) sessions(i personIdx, j slotIdx) []templateIdx {
	var out []templateIdx
	for t := range m.s.nTemplates {
		if m.mayHold(i, j, t) {
			out = append(out, t)
		}
	}
	return out
}

// supervisedTemplates lists the templates that run in slot j and need supervision.
func (m *lpBuilder) supervisedTemplates(j slotIdx) []templateIdx {
	var out []templateIdx
	for t, tp := range m.s.templates {
		if tp.SupervisionRequired && m.s.staffed[j][t] {
			out = append(out, templateIdx(t))
		}
	}
	return out
}

// hasMinimum says whether template t has a coverage minimum in slot j (a short variable).
func (m *lpBuilder) hasMinimum(j slotIdx, t templateIdx) bool {
	return m.s.staffed[j][t] && m.s.templates[t].MinResidents > 0
}

// duty is the duty period of template t in slot j (none for an off or zero-hour session).
func (m *lpBuilder) duty(j slotIdx, t templateIdx) (time.Time, time.Time, bool) {
	d, ok := m.s.templates[t].Duty(m.s.slots[j], m.s.loc)
	return d.Start, d.End, ok
}

// hoursOn is how many hours of template t in slot j fall on day k of the range.
func (m *lpBuilder) hoursOn(j slotIdx, t templateIdx, k int) float64 {
	st, en, ok := m.duty(j, t)
	if !ok {
		return 0
	}
	lo, hi := m.dayStart(k), m.dayStart(k+1)
	if st.After(lo) {
		lo = st
	}
	if en.Before(hi) {
		hi = en
	}
	return max(0, hi.Sub(lo).Hours())
}

func (m *lpBuilder) dayStart(k int) time.Time { return m.s.problem.From.AddDays(k).In(m.s.loc) }

// writeObjective writes the cost: coverage shortfall, continuity changes, less preferences.
func (m *lpBuilder) writeObjective() {
	s, b := m.s, m.b
	b.line("Minimize")
	b.start(" cost:")
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if m.hasMinimum(j, t) {
				b.term(s.weights.Coverage, shortVar(j, t))
			}
		}
	}
	for _, i := range s.residents {
		for j := range s.nSlots {
			m.preferenceTerms(i, j)
			if m.hasChangeVar(j) {
				b.term(s.weights.Continuity, changeVar(i, j))
			}
		}
	}
	b.end()
}

// preferenceTerms rewards resident i's preferences for the templates of slot j, and charges
// their day-off requests for it.
func (m *lpBuilder) preferenceTerms(i personIdx, j slotIdx) {
	s := m.s
	for t := range s.nTemplates {
		if v := s.preference[i][t] - s.dayOffAt(i, j); m.mayHold(i, j, t) && v != 0 {
			m.b.term(-s.weights.Preference*v, xVar(i, j, t))
		}
	}
}

// hasChangeVar says whether the model counts template changes from slot j to a day later.
func (m *lpBuilder) hasChangeVar(j slotIdx) bool {
	return j+2 < m.s.nSlots && m.s.weights.Continuity != 0
}

// writeBounds bounds the shortfall variables (the binaries need none).
func (m *lpBuilder) writeBounds() {
	m.b.line("Bounds")
	for j := range m.s.nSlots {
		for t := range m.s.nTemplates {
			if m.hasMinimum(j, t) {
				m.b.line(" 0 <= " + shortVar(j, t))
			}
		}
	}
}

// writeBinaries declares the x, d and y variables binary.
func (m *lpBuilder) writeBinaries() {
	m.b.line("Binaries")
	for _, i := range m.s.residents {
		for j := range m.s.nSlots {
			for _, t := range m.sessions(i, j) {
				m.b.line(" " + xVar(i, j, t))
			}
		}
		for k := range m.days + 1 {
			m.b.line(" " + dutyDayVar(i, k))
		}
	}
	for _, f := range m.s.faculty {
		m.declareFacultyBinaries(f)
	}
}

// declareFacultyBinaries declares faculty f's y variables binary.
func (m *lpBuilder) declareFacultyBinaries(f personIdx) {
	for j := range m.s.nSlots {
		for _, t := range m.supervisedTemplates(j) {
			if m.maySupervise(f, j, t) {
				m.b.line(" " + yVar(f, j, t))
			}
		}
	}
}

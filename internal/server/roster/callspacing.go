package roster

import (
	"fmt"
	"slices"

	"github.com/rsched/rsched/internal/server/acgme"
)

// RuleCallSpacing: a program's "q-N" call (hard; docs/scheduling.md). A call template with
// Template.EveryNthNight N gives each resident at most one of its sessions in any N consecutive
// days: two sessions of it start at least N days apart (q4: call, then three nights without this
// call, then call again). ACGME's own limit (call_frequency: no more often than every third
// night, averaged over four weeks) still applies on top; N is the program's pattern, which
// programs publish ("q4 call in the MICU") and residents hold them to.
const RuleCallSpacing acgme.Rule = "call_spacing"

// MaxEveryNthNight bounds Template.EveryNthNight: q2 (every other night) to q28 (once a block).
const MaxEveryNthNight = 28

// validateSpacing checks Template.EveryNthNight on its own: 0 (no pattern), or 2 to
// MaxEveryNthNight on a call template.
func (t Template) validateSpacing() error {
	switch {
	case t.EveryNthNight == 0:
		return nil
	case t.EveryNthNight < 2 || t.EveryNthNight > MaxEveryNthNight:
		return fmt.Errorf("template %s: call_every_nth_night is 2 to %d (q2 to q%d), or 0 for none", t.ID, MaxEveryNthNight, MaxEveryNthNight)
	case !t.Activity.OnCallRoster():
		return fmt.Errorf("template %s: call_every_nth_night applies to call templates (call, home_call, backup_call), not %s", t.ID, t.Activity)
	}
	return nil
}

// CallSpacing lists the pairs of one person's sessions of one template, on the dates given (in
// any order), that start fewer than n days apart, as each breach's two dates and the days
// between them (0 for two sessions on one day). n of 0 (or 1) sets no spacing.
func CallSpacing(dates []Date, n int) []SpacingBreach {
	if n < 2 || len(dates) < 2 {
		return nil
	}
	sorted := slices.SortedFunc(slices.Values(dates), func(a, b Date) int { return a.Sub(b) })
	var out []SpacingBreach
	for k := 1; k < len(sorted); k++ {
		if gap := sorted[k].Sub(sorted[k-1]); gap < n {
			out = append(out, SpacingBreach{Earlier: sorted[k-1], Later: sorted[k], Days: gap})
		}
	}
	return out
}

// breaksPattern says whether a session on d, beside the sessions held, makes a new breach of a
// q-n pattern: the question the shortfall explanation and the repair ask of a candidate.
func breaksPattern(held []Date, d Date, n int) bool {
	return len(CallSpacing(append(slices.Clip(held), d), n)) > len(CallSpacing(held, n))
}

// SpacingBreach is two sessions of a spaced call closer than its pattern allows.
type SpacingBreach struct {
	Earlier, Later Date
	// Days is how many days apart they start.
	Days int
}

// spacingViolation turns a breach of template t by person id into a violation.
func spacingViolation(id string, t Template, b SpacingBreach, p *Problem) acgme.Violation {
	return acgme.Violation{Rule: RuleCallSpacing, PersonID: id,
		Start: b.Earlier.In(p.Location), End: b.Later.AddDays(1).In(p.Location), Value: float64(b.Days), Limit: float64(t.EveryNthNight),
		Message: fmt.Sprintf("%s on %s and again on %s, %d days apart; the program's pattern is q%d (at least %d days apart)",
			t.ID, b.Earlier, b.Later, b.Days, t.EveryNthNight, t.EveryNthNight)}
}

// checkCallSpacing judges every resident's spaced calls: the judged assignments and the
// context around them (a pair is reported when its later session is in the range, or its
// earlier one when the later lies after it).
func (v *validation) checkCallSpacing(all []Assignment) {
	dates := map[validationSpan][]Date{}
	for _, a := range all {
		ti, ok := v.templates[a.TemplateID]
		if !ok || v.p.Templates[ti].EveryNthNight == 0 || v.people[a.PersonID].Type != Resident {
			continue
		}
		k := validationSpan{a.PersonID, ti}
		dates[k] = append(dates[k], a.Slot.Date)
	}
	for _, x := range v.p.People {
		for ti, t := range v.p.Templates {
			for _, b := range CallSpacing(dates[validationSpan{x.ID, ti}], t.EveryNthNight) {
				if v.inRange(Slot{Date: b.Later}) || v.inRange(Slot{Date: b.Earlier}) {
					v.out = append(v.out, spacingViolation(x.ID, t, b, v.p))
				}
			}
		}
	}
}

// validationSpan is one person's sessions of one template.
type validationSpan struct {
	person string
	t      int
}

// spacedFree says whether resident i may hold template t in slot j as far as t's call pattern
// goes: no other session of t within EveryNthNight-1 days either side, in the range or in the
// context around it.
func (s *solver) spacedFree(i personIdx, j slotIdx, t templateIdx) bool {
	n := s.templates[t].EveryNthNight
	if n == 0 {
		return true
	}
	day := int(j) / 2
	lo, hi := slotIdx(max(0, 2*(day-n+1))), min(s.nSlots, slotIdx(2*(day+n)))
	for k := lo; k < hi; k++ {
		if k != j && s.assigned[i][k] == t {
			return false
		}
	}
	for _, c := range s.contextCalls[i] {
		if c.t == t && c.day > day-n && c.day < day+n {
			return false
		}
	}
	return true
}

// contextCall is a spaced call of a resident outside the range (day counted from From).
type contextCall struct {
	day int
	t   templateIdx
}

// writeCallSpacing (RuleCallSpacing): resident i holds at most one session of a spaced call
// template in any EveryNthNight consecutive days of the range.
func (m *lpBuilder) writeCallSpacing(i personIdx) {
	s := m.s
	for t, tp := range s.templates {
		n := tp.EveryNthNight
		if n == 0 {
			continue
		}
		for first := range m.days {
			var cells []slotIdx
			for j := slotIdx(2 * first); j < min(s.nSlots, slotIdx(2*(first+n))); j++ {
				if slices.Contains(m.sessions(i, j), templateIdx(t)) {
					cells = append(cells, j)
				}
			}
			if len(cells) < 2 {
				continue
			}
			m.b.start("")
			for _, j := range cells {
				m.b.term(1, xVar(i, j, templateIdx(t)))
			}
			m.b.rel("<=", 1)
		}
	}
}

// breaksSpacing says whether placing resident x on t in slot would break t's call pattern,
// with their sessions in the working schedule and the context around it.
func (r *repairer) breaksSpacing(x Person, slot Slot, t Template) bool {
	if t.EveryNthNight == 0 {
		return false
	}
	var held []Date
	for _, as := range [][]Assignment{r.schedule, r.fixed[x.ID]} {
		for _, a := range as {
			if a.PersonID == x.ID && a.TemplateID == t.ID && a.Slot != slot {
				held = append(held, a.Slot.Date)
			}
		}
	}
	return breaksPattern(held, slot.Date, t.EveryNthNight)
}

package schedule

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/rsched/rsched/internal/server/acgme"
)

// Rules the schedule itself adds to the ACGME ones.
const (
	// RuleCapacity: more residents on a template in a half-day than its maximum (hard).
	RuleCapacity acgme.Rule = "capacity"
	// RuleAvailability: someone placed while absent (hard).
	RuleAvailability acgme.Rule = "availability"
	// RuleEligibility: a resident on a template that does not take their PGY level, or a
	// template placed on a half-day it is not staffed (hard).
	RuleEligibility acgme.Rule = "eligibility"
	// RuleDoubleBooked: one person on two templates in one half-day (hard).
	RuleDoubleBooked acgme.Rule = "double_booked"
	// RuleFacultySessions: a faculty member above max_sessions_per_week in a week counted in
	// 7-day periods from the range's first day (hard).
	RuleFacultySessions acgme.Rule = "faculty_sessions"
	// RuleCoverage: fewer residents than a template's minimum (soft: listed, never traded for a
	// hard rule).
	RuleCoverage acgme.Rule = "coverage"
)

// Hard says whether a violation of rule r makes a schedule non-compliant; coverage does not.
func Hard(r acgme.Rule) bool { return r != RuleCoverage }

// Validate lists every violation of the schedule made of assignments (every assignment in p's
// range, locked ones included) over p's range: the ACGME
// rules for each resident (with p.Fixed outside the range as context for the rolling windows),
// supervision, capacity, availability, eligibility and coverage. It is the same rule set the
// solver keeps.
func Validate(p *Problem, assignments []Assignment) ([]acgme.Violation, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	var out []acgme.Violation
	people, templates := map[string]Person{}, map[string]int{}
	for _, x := range p.People {
		people[x.ID] = x
	}
	for i, t := range p.Templates {
		templates[t.ID] = i
	}
	duties := map[string][]acgme.Duty{}
	type cell struct {
		slot Slot
		t    int
	}
	residents, faculty, weekly := map[cell][]int{}, map[cell]int{}, map[string]int{}
	seen := map[string]bool{}
	inRange := func(s Slot) bool { return !s.Date.Before(p.From) && !p.To.Before(s.Date) }
	// p.Fixed inside the range is part of assignments (the solver returns locked cells with the
	// rest); outside it, it is context the rolling windows see.
	all := slices.Clone(assignments)
	for _, a := range p.Fixed {
		if !inRange(a.Slot) {
			all = append(all, a)
		}
	}
	for k, a := range all {
		x, okP := people[a.PersonID]
		ti, okT := templates[a.TemplateID]
		if !okP || !okT {
			return nil, inputErrorf("an assignment names an unknown person or template (%s, %s)", a.PersonID, a.TemplateID)
		}
		t := p.Templates[ti]
		if d, ok := t.Duty(a.Slot, p.Location); ok && x.Type == Resident {
			duties[x.ID] = append(duties[x.ID], d)
		}
		if k >= len(assignments) {
			continue
		}
		if !inRange(a.Slot) {
			return nil, inputErrorf("assignment of %s on %s is outside %s..%s", a.PersonID, a.Slot.Date, p.From, p.To)
		}
		at := a.Slot.Start(p.Location)
		key := a.PersonID + "/" + a.Slot.Date.String() + string(a.Slot.Half)
		if seen[key] {
			out = append(out, acgme.Violation{Rule: RuleDoubleBooked, PersonID: x.ID, Start: at, End: at, Value: 2, Limit: 1,
				Message: fmt.Sprintf("%s holds two assignments on %s %s", x.ID, a.Slot.Date, a.Slot.Half)})
		}
		seen[key] = true
		for _, ab := range p.Absences {
			if ab.PersonID == x.ID && ab.Covers(a.Slot.Date) {
				out = append(out, acgme.Violation{Rule: RuleAvailability, PersonID: x.ID, Start: at, End: at,
					Message: fmt.Sprintf("%s is absent on %s but placed on %s", x.ID, a.Slot.Date, t.ID)})
				break
			}
		}
		if !t.Staffed(a.Slot) || (x.Type == Resident && !t.Allows(x.PGY)) {
			out = append(out, acgme.Violation{Rule: RuleEligibility, PersonID: x.ID, Start: at, End: at,
				Message: fmt.Sprintf("%s (PGY-%d) may not be placed on %s on %s %s", x.ID, x.PGY, t.ID, a.Slot.Date, a.Slot.Half)})
		}
		c := cell{a.Slot, ti}
		if x.Type == Resident {
			residents[c] = append(residents[c], x.PGY)
		} else {
			faculty[c]++
			weekly[x.ID+"/"+strconv.Itoa(a.Slot.Date.Sub(p.From)/7)]++
		}
	}
	for _, x := range p.People {
		if x.Type != Faculty || x.MaxSessionsPerWeek <= 0 {
			continue
		}
		for w := 0; w*7 <= p.To.Sub(p.From); w++ {
			if n := weekly[x.ID+"/"+strconv.Itoa(w)]; n > x.MaxSessionsPerWeek {
				start := p.From.AddDays(7 * w)
				out = append(out, acgme.Violation{Rule: RuleFacultySessions, PersonID: x.ID, Start: start.In(p.Location), End: start.AddDays(7).In(p.Location),
					Value: float64(n), Limit: float64(x.MaxSessionsPerWeek),
					Message: fmt.Sprintf("%s holds %d half-days in the week from %s; at most %d", x.ID, n, start, x.MaxSessionsPerWeek)})
			}
		}
	}
	for _, x := range p.People {
		if x.Type != Resident {
			continue
		}
		tl := acgme.NewTimeline(p.Location, duties[x.ID], p.Limits.MaxBreak)
		out = append(out, acgme.Check(x.ID, tl, acgme.Range{From: p.From.In(p.Location), To: p.To.AddDays(1).In(p.Location)}, p.Limits)...)
	}
	for _, s := range Slots(p.From, p.To) {
		at := s.Start(p.Location)
		for ti, t := range p.Templates {
			c := cell{s, ti}
			n := len(residents[c])
			if n > t.MaxResidents {
				out = append(out, acgme.Violation{Rule: RuleCapacity, Start: at, End: at, Value: float64(n), Limit: float64(t.MaxResidents),
					Message: fmt.Sprintf("%d residents on %s on %s %s; at most %d", n, t.ID, s.Date, s.Half, t.MaxResidents)})
			}
			if t.Staffed(s) && n < t.MinResidents {
				out = append(out, acgme.Violation{Rule: RuleCoverage, Start: at, End: at, Value: float64(n), Limit: float64(t.MinResidents),
					Message: fmt.Sprintf("%d residents on %s on %s %s; the template needs %d", n, t.ID, s.Date, s.Half, t.MinResidents)})
			}
			if t.SupervisionRequired {
				if v := acgme.Supervision(acgme.Staffing{Slot: at, Residents: residents[c], Faculty: faculty[c]}, p.Limits); v != nil {
					v.Message = t.ID + ": " + v.Message
					out = append(out, *v)
				}
			}
		}
	}
	return out, nil
}

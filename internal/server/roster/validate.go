package roster

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
	// RuleRotationPlan: a resident on a template of another rotation than the one the block
	// plan gives them that day (hard; plan.go), unless a backup call session of theirs covers
	// that day (backup.go: the jeopardy pool is pulled across rotations).
	RuleRotationPlan acgme.Rule = "rotation_plan"
	// RuleCoverage: fewer residents than a template's minimum (soft: listed, never traded for a
	// hard rule).
	RuleCoverage acgme.Rule = "coverage"
	// RuleFacultyCoverage: fewer faculty on a faculty shift than its min_faculty (soft).
	RuleFacultyCoverage acgme.Rule = "faculty_coverage"
)

// Hard says whether a violation of rule r makes a schedule non-compliant; coverage (of
// residents or of faculty) does not.
func Hard(r acgme.Rule) bool { return r != RuleCoverage && r != RuleFacultyCoverage }

// Validate lists every violation of the schedule made of assignments (every assignment in p's
// range, locked ones included) over p's range: the ACGME
// rules for each resident (with p.Fixed outside the range as context for the rolling windows),
// supervision, capacity, availability, eligibility and coverage. It is the same rule set the
// solver keeps.
func Validate(p *Problem, assignments []Assignment) ([]acgme.Violation, error) {
	if err := p.checkInput(); err != nil {
		return nil, err
	}
	v := newValidation(p)
	// p.Fixed inside the range is part of assignments (the solver returns locked cells with the
	// rest); outside it, it is context the rolling windows see.
	all := slices.Clone(assignments)
	for _, a := range p.Fixed {
		if !v.inRange(a.Slot) {
			all = append(all, a)
		}
	}
	v.backups = newBackupCover(func(id string) bool {
		i, ok := v.templates[id]
		return ok && p.Templates[i].Activity == BackupCall
	}, all)
	for k, a := range all {
		if err := v.add(a, k < len(assignments)); err != nil {
			return nil, err
		}
	}
	v.checkFacultySessions()
	v.checkCallSpacing(all)
	v.checkDutyHours()
	v.checkStaffing()
	return v.out, nil
}

// validationCell is one template in one half-day.
type validationCell struct {
	slot Slot
	t    int
}

// validation gathers a schedule by person and cell, then judges it.
type validation struct {
	p         *Problem
	people    map[string]Person
	templates map[string]int
	duties    map[string][]acgme.Duty  // by resident and faculty member
	residents map[validationCell][]int // the PGY levels of the residents on a cell
	learners  map[validationCell]int   // the learners on a cell
	faculty   map[validationCell]int   // the faculty on a cell
	weekly    map[string]int           // half-days by faculty member and week ("id/week")
	seen      map[string]bool          // person and half-day held ("id/dateHalf")
	backups   backupCover              // the days each resident's backup call covers (backup.go)
	out       []acgme.Violation
}

func newValidation(p *Problem) *validation {
	v := &validation{p: p, people: map[string]Person{}, templates: map[string]int{}, duties: map[string][]acgme.Duty{},
		residents: map[validationCell][]int{}, learners: map[validationCell]int{}, faculty: map[validationCell]int{}, weekly: map[string]int{}, seen: map[string]bool{}}
	for _, x := range p.People {
		v.people[x.ID] = x
	}
	for i, t := range p.Templates {
		v.templates[t.ID] = i
	}
	return v
}

func (v *validation) inRange(s Slot) bool { return !s.Date.Before(v.p.From) && !v.p.To.Before(s.Date) }

// add takes one assignment: its duty for the rules, and, when it is part of the schedule
// judged (not context), what it says about the half-day it is in.
func (v *validation) add(a Assignment, judged bool) error {
	x, okP := v.people[a.PersonID]
	ti, okT := v.templates[a.TemplateID]
	if !okP || !okT {
		return inputErrorf("an assignment names an unknown person or template (%s, %s)", a.PersonID, a.TemplateID)
	}
	// A second assignment in a half-day is double_booked; its hours are not counted twice (nor
	// reported again as overlapping the first).
	if d, ok := v.p.Templates[ti].Duty(a.Slot, v.p.Location); ok && x.Type != Learner && !(judged && v.seen[seenKey(a)]) {
		v.duties[x.ID] = append(v.duties[x.ID], d)
	}
	if !judged {
		return nil
	}
	if !v.inRange(a.Slot) {
		return inputErrorf("assignment of %s on %s is outside %s..%s", a.PersonID, a.Slot.Date, v.p.From, v.p.To)
	}
	v.checkPlacement(a, x, ti)
	c := validationCell{a.Slot, ti}
	switch x.Type {
	case Resident:
		v.residents[c] = append(v.residents[c], x.PGY)
	case Learner:
		v.learners[c]++
	default:
		v.faculty[c]++
		v.weekly[x.ID+"/"+strconv.Itoa(a.Slot.Date.Sub(v.p.From)/7)]++
	}
	return nil
}

// seenKey is an assignment's person and half-day.
func seenKey(a Assignment) string {
	return a.PersonID + "/" + a.Slot.Date.String() + string(a.Slot.Half)
}

// checkPlacement judges one assignment on its own: double-booked, absent, not eligible.
func (v *validation) checkPlacement(a Assignment, x Person, ti int) {
	t := v.p.Templates[ti]
	at := t.StartIn(a.Slot, v.p.Location)
	key := seenKey(a)
	if v.seen[key] {
		v.out = append(v.out, acgme.Violation{Rule: RuleDoubleBooked, PersonID: x.ID, Start: at, End: at, Value: 2, Limit: 1,
			Message: fmt.Sprintf("%s holds two assignments on %s %s", x.ID, a.Slot.Date, a.Slot.Half)})
	}
	v.seen[key] = true
	if x.Type == Learner && t.MaxLearners == 0 {
		v.out = append(v.out, acgme.Violation{Rule: RuleEligibility, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("learner %s may not be placed on %s on %s %s: it takes no learners", x.ID, t.ID, a.Slot.Date, a.Slot.Half)})
	}
	next := a.Slot.Date.AddDays(1)
	switch {
	case slices.ContainsFunc(v.p.Absences, func(ab Absence) bool { return ab.PersonID == x.ID && ab.Covers(a.Slot.Date) }):
		v.out = append(v.out, acgme.Violation{Rule: RuleAvailability, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s is absent on %s but placed on %s", x.ID, a.Slot.Date, t.ID)})
	case t.Overnight(a.Slot, v.p.Location) && slices.ContainsFunc(v.p.Absences, func(ab Absence) bool { return ab.PersonID == x.ID && ab.Covers(next) }):
		v.out = append(v.out, acgme.Violation{Rule: RuleAvailability, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s's %s on %s %s runs into %s, a day they are absent", x.ID, t.ID, a.Slot.Date, a.Slot.Half, next)})
	}
	// A backup session covers its holder's day on other rotations, never itself.
	covered := !v.p.StrictPlan && t.Activity != BackupCall && v.backups.covers(x.ID, a.Slot.Date)
	if x.Type == Resident && !v.p.PlanAllows(x.ID, t, a.Slot.Date) && !covered {
		v.out = append(v.out, acgme.Violation{Rule: RuleRotationPlan, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s is on rotation %s in the block plan on %s but placed on %s of rotation %s", x.ID, v.p.RotationOn(x.ID, a.Slot.Date), a.Slot.Date, t.ID, t.RotationID)})
	}
	if t.StartTime != nil && t.StartTime.Half() != a.Slot.Half {
		v.out = append(v.out, acgme.Violation{Rule: RuleEligibility, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s starts at %s, so it is held in the %s half-day, not on %s %s", t.ID, t.StartTime, t.StartTime.Half(), a.Slot.Date, a.Slot.Half)})
	} else if !t.Credentialed(x) {
		v.out = append(v.out, acgme.Violation{Rule: RuleEligibility, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s supervises %s on %s %s without its required credential %q", x.ID, t.ID, a.Slot.Date, a.Slot.Half, t.RequiredCredential)})
	} else if !t.RunsOn(a.Slot, v.p.Holidays) || (x.Type == Resident && !t.Allows(x.PGY)) {
		v.out = append(v.out, acgme.Violation{Rule: RuleEligibility, PersonID: x.ID, Start: at, End: at,
			Message: fmt.Sprintf("%s (PGY-%d) may not be placed on %s on %s %s", x.ID, x.PGY, t.ID, a.Slot.Date, a.Slot.Half)})
	}
}

// checkFacultySessions judges the faculty's weekly caps, in 7-day periods from From.
func (v *validation) checkFacultySessions() {
	p := v.p
	for _, x := range p.People {
		if x.Type != Faculty || x.MaxSessionsPerWeek <= 0 {
			continue
		}
		for w := 0; w*7 <= p.To.Sub(p.From); w++ {
			if n := v.weekly[x.ID+"/"+strconv.Itoa(w)]; n > x.MaxSessionsPerWeek {
				start := p.From.AddDays(7 * w)
				v.out = append(v.out, acgme.Violation{Rule: RuleFacultySessions, PersonID: x.ID, Start: start.In(p.Location), End: start.AddDays(7).In(p.Location),
					Value: float64(n), Limit: float64(x.MaxSessionsPerWeek),
					Message: fmt.Sprintf("%s holds %d half-days in the week from %s; at most %d", x.ID, n, start, x.MaxSessionsPerWeek)})
			}
		}
	}
}

// checkDutyHours runs the ACGME duty-hour rules for every resident over the range (to the day
// after To, where a night call ends).
func (v *validation) checkDutyHours() {
	p := v.p
	for _, x := range p.People {
		if x.Type == Learner {
			continue
		}
		tl := acgme.NewTimeline(p.Location, v.duties[x.ID], p.Limits.MaxBreak)
		r := acgme.Range{From: p.From.In(p.Location), To: p.To.AddDays(1).In(p.Location)}
		if x.Type == Faculty {
			// Faculty keep no duty-hour rules here, but are in one place at a time.
			for _, o := range acgme.Overlap(tl, r, p.Limits) {
				o.PersonID = x.ID
				v.out = append(v.out, o)
			}
			continue
		}
		v.out = append(v.out, p.checkDuties(x.ID, tl, v.duties[x.ID], r)...)
	}
}

// checkStaffing judges every template in every half-day: capacity, coverage, supervision.
func (v *validation) checkStaffing() {
	for _, s := range Slots(v.p.From, v.p.To) {
		for ti := range v.p.Templates {
			v.checkCell(s, ti)
		}
	}
}

func (v *validation) checkCell(s Slot, ti int) {
	p, t := v.p, v.p.Templates[ti]
	at := t.StartIn(s, p.Location)
	c := validationCell{s, ti}
	n := len(v.residents[c])
	if l := v.learners[c]; l > t.MaxLearners && t.MaxLearners > 0 {
		v.out = append(v.out, acgme.Violation{Rule: RuleCapacity, Start: at, End: at, Value: float64(l), Limit: float64(t.MaxLearners),
			Message: fmt.Sprintf("%d learners on %s on %s %s; at most %d", l, t.ID, s.Date, s.Half, t.MaxLearners)})
	}
	if n > t.MaxResidents {
		v.out = append(v.out, acgme.Violation{Rule: RuleCapacity, Start: at, End: at, Value: float64(n), Limit: float64(t.MaxResidents),
			Message: fmt.Sprintf("%d residents on %s on %s %s; at most %d", n, t.ID, s.Date, s.Half, t.MaxResidents)})
	}
	if t.RunsOn(s, p.Holidays) && n < t.MinResidents {
		v.out = append(v.out, acgme.Violation{Rule: RuleCoverage, Start: at, End: at, Value: float64(n), Limit: float64(t.MinResidents),
			Message: fmt.Sprintf("%d residents on %s on %s %s; the template needs %d", n, t.ID, s.Date, s.Half, t.MinResidents)})
	}
	if f := v.faculty[c]; t.RunsOn(s, p.Holidays) && f < t.MinFaculty {
		v.out = append(v.out, acgme.Violation{Rule: RuleFacultyCoverage, Start: at, End: at, Value: float64(f), Limit: float64(t.MinFaculty),
			Message: fmt.Sprintf("%d faculty on %s on %s %s; the shift needs %d", f, t.ID, s.Date, s.Half, t.MinFaculty)})
	}
	if !t.SupervisionRequired {
		return
	}
	// A learner needs supervising as a PGY-1 does.
	demand := slices.Concat(v.residents[c], slices.Repeat([]int{1}, v.learners[c]))
	if sv := acgme.Supervision(acgme.Staffing{Slot: at, Residents: demand, Faculty: v.faculty[c]}, p.Limits); sv != nil {
		sv.Message = t.ID + ": " + sv.Message
		v.out = append(v.out, *sv)
	}
}

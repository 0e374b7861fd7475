package roster

import (
	"fmt"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// Repair after a sick call: a person becomes absent over days the live schedule has them on.
// Their half-days there are removed; each one that leaves a template below its minimum (or a
// supervised template without enough faculty) is a vacancy, filled with the fewest changes that
// break no hard rule: a person free that half-day placed on it (one change), else one moved from
// a template that keeps its minimum without them (two changes). Candidates are ranked by
// changes, then by the load they would carry (their worst rolling 80-hour-rule average and
// their call nights in the window), continuity (the same template the half-day before or
// after) breaking ties. Vacancies are filled in time order, each against the schedule with the
// earlier choices made, so the proposal as a whole breaks no hard rule.
//
// The backup (jeopardy) pool (backup.go): a resident whose backup call session covers the
// vacancy's day (a session that day, or the one the evening before, standing by overnight into
// it) is a candidate even when the block plan has them on another rotation, every other check
// still applying. They keep their backup session (it is not among the changes). Backup
// candidates rank ahead of every other candidate, whatever their changes: the pool is staffed so
// that a sick call is covered without pulling anyone off their own service or day off. A
// resident whose only covering session is the vacancy's own half-day would give it up: they are
// judged as anyone else there.

// MaxRepairCandidates bounds the candidates listed per vacancy.
const MaxRepairCandidates = 5

// Candidate is one way to fill a vacancy.
type Candidate struct {
	PersonID string `json:"person_id"`
	// From is the template they would leave that half-day ("" when they are free).
	From string `json:"from_template_id,omitempty"`
	// Changes is how many assignments this takes (1: placed; 2: moved).
	Changes int `json:"changes"`
	// PeakWeeklyHours is their worst 28-day weekly average of duty hours afterwards (the
	// 80-hour rule's measure), CallNights their in-house call nights in the 28 days around.
	PeakWeeklyHours float64 `json:"peak_weekly_hours"`
	CallNights      int     `json:"call_nights_28d"`
	// Continuity: they hold the same template the half-day before or after.
	Continuity bool    `json:"continuity"`
	Cost       float64 `json:"cost"`
	// Backup: they are pulled from the backup pool, by their backup call session of
	// ActivatedBackupTemplateID on ActivatedBackupDate (which they keep).
	Backup                    bool   `json:"backup,omitempty"`
	ActivatedBackupTemplateID string `json:"activated_backup_template_id,omitempty"`
	ActivatedBackupDate       *Date  `json:"activated_backup_date,omitempty"`
}

// BackupActivation is a resident the repair pulls from the backup pool for a day: their backup
// session (TemplateID on Date, kept) and the day they cover (Covers).
type BackupActivation struct {
	PersonID   string `json:"person_id"`
	TemplateID string `json:"rotation_template_id"`
	Date       Date   `json:"date"`
	Covers     Date   `json:"covers_date"`
}

// Vacancy is one half-day of a template the absence leaves short.
type Vacancy struct {
	TemplateID string      `json:"rotation_template_id"`
	Date       Date        `json:"date"`
	Half       Half        `json:"time_of_day"`
	Faculty    bool        `json:"faculty"`
	Candidates []Candidate `json:"candidates"`
	// Chosen is the candidate the proposal takes (nil: none can fill it without breaking a hard
	// rule; Why says what stopped them).
	Chosen *Candidate `json:"chosen,omitempty"`
	Why    string     `json:"why,omitempty"`
	// Note says when the chosen backup was the last unused one covering the day: the backup
	// pool is empty for the rest of it.
	Note string `json:"note,omitempty"`
}

// RepairChange is one assignment the repair makes or removes: To "" removes the person's
// half-day, From "" places them on a free one.
type RepairChange struct {
	PersonID string `json:"person_id"`
	Date     Date   `json:"date"`
	Half     Half   `json:"time_of_day"`
	From     string `json:"from_template_id,omitempty"`
	To       string `json:"to_template_id,omitempty"`
}

// RepairPlan is the proposal: the absent person's half-days removed, the vacancies with their
// ranked candidates, and the changes that make it (removals first).
type RepairPlan struct {
	Removed   int            `json:"removed"`
	Vacancies []Vacancy      `json:"vacancies"`
	Changes   []RepairChange `json:"changes"`
	Uncovered int            `json:"uncovered"`
	// ActivatedBackups lists the residents pulled from the backup pool, once per day covered.
	ActivatedBackups []BackupActivation `json:"activated_backups,omitempty"`
}

// PlanRepair proposes how to repair the schedule assignments (p's range, p.Fixed around it as
// context) for absence, which need not be in p.Absences yet.
func PlanRepair(p *Problem, assignments []Assignment, absence Absence) (*RepairPlan, error) {
	if !slices.Contains(p.Absences, absence) {
		p.Absences = append(slices.Clip(p.Absences), absence)
	}
	if err := p.checkInput(); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(p.People, func(x Person) bool { return x.ID == absence.PersonID }) {
		return nil, inputErrorf("the absence names unknown person %q", absence.PersonID)
	}
	r := newRepairer(p)
	plan := &RepairPlan{}
	var vacated []Assignment
	for _, a := range assignments {
		if a.PersonID == absence.PersonID && absence.Covers(a.Slot.Date) {
			vacated = append(vacated, a)
			plan.Removed++
			plan.Changes = append(plan.Changes, RepairChange{PersonID: a.PersonID, Date: a.Slot.Date, Half: a.Slot.Half, From: a.TemplateID})
			continue
		}
		r.schedule = append(r.schedule, a)
	}
	r.backups = newBackupCover(r.isBackup, r.schedule, p.Fixed)
	slices.SortFunc(vacated, func(a, b Assignment) int { return compareSlots(a.Slot, b.Slot) })
	for _, a := range vacated {
		r.fill(plan, a)
	}
	return plan, nil
}

func newRepairer(p *Problem) *repairer {
	r := &repairer{p: p, people: map[string]Person{}, templates: map[string]Template{}, fixed: map[string][]Assignment{}, activated: map[backupKey]bool{}}
	for _, a := range p.Fixed {
		r.fixed[a.PersonID] = append(r.fixed[a.PersonID], a)
	}
	for _, x := range p.People {
		r.people[x.ID] = x
	}
	for _, t := range p.Templates {
		r.templates[t.ID] = t
	}
	return r
}

// fill judges the vacancy removing a may leave and, if it has one, makes its choice.
func (r *repairer) fill(plan *RepairPlan, a Assignment) {
	v, ok := r.vacancy(a)
	if !ok {
		return
	}
	if v.Chosen != nil {
		plan.Changes = append(plan.Changes, r.apply(a.Slot, v.TemplateID, *v.Chosen)...)
		r.activate(plan, &v)
	} else {
		plan.Uncovered++
	}
	plan.Vacancies = append(plan.Vacancies, v)
}

// activate records the backup v's chosen candidate is pulled from (once per person and day), and
// notes in v when no other unused backup covers the day.
func (r *repairer) activate(plan *RepairPlan, v *Vacancy) {
	c := v.Chosen
	k := backupKey{c.PersonID, v.Date}
	if !c.Backup || r.activated[k] {
		return
	}
	r.activated[k] = true
	plan.ActivatedBackups = append(plan.ActivatedBackups, BackupActivation{PersonID: c.PersonID, TemplateID: c.ActivatedBackupTemplateID, Date: *c.ActivatedBackupDate, Covers: v.Date})
	for _, x := range r.p.People {
		if x.Type == Resident && r.backups.covers(x.ID, v.Date) && !r.activated[backupKey{x.ID, v.Date}] && !r.absent(x.ID, v.Date) {
			return
		}
	}
	v.Note = fmt.Sprintf("%s was the last unused backup call covering %s: the backup pool is empty for the rest of that day", c.PersonID, v.Date)
}

func (r *repairer) absent(id string, d Date) bool {
	return slices.ContainsFunc(r.p.Absences, func(a Absence) bool { return a.PersonID == id && a.Covers(d) })
}

func (r *repairer) isBackup(id string) bool { return r.templates[id].Activity == BackupCall }

func compareSlots(a, b Slot) int {
	if c := a.Date.Sub(b.Date); c != 0 {
		return c
	}
	switch {
	case a.Half == b.Half:
		return 0
	case a.Half == AM:
		return -1
	}
	return 1
}

type repairer struct {
	p         *Problem
	people    map[string]Person
	templates map[string]Template
	schedule  []Assignment            // the working schedule: removals and earlier choices made
	fixed     map[string][]Assignment // p.Fixed (the context around the range) by person
	backups   backupCover             // the backup sessions of the working schedule and p.Fixed
	activated map[backupKey]bool      // the backups pulled in so far, by person and day covered
}

// vacancy says whether removing a leaves its template short, and if so how to fill it.
func (r *repairer) vacancy(a Assignment) (Vacancy, bool) {
	t := r.templates[a.TemplateID]
	absent := r.people[a.PersonID]
	v := Vacancy{TemplateID: t.ID, Date: a.Slot.Date, Half: a.Slot.Half, Faculty: absent.Type == Faculty}
	if !r.short(a.Slot, t, v.Faculty) {
		return v, false // the template keeps its minimum (or its supervision) without them
	}
	reasons := map[string]int{}
	for _, x := range r.p.People {
		if x.Type != absent.Type || x.ID == a.PersonID {
			continue
		}
		c, why := r.candidate(x, a.Slot, t)
		if why != "" {
			reasons[why]++
			continue
		}
		v.Candidates = append(v.Candidates, c)
	}
	slices.SortStableFunc(v.Candidates, func(a, b Candidate) int {
		switch {
		case a.Backup != b.Backup:
			if a.Backup {
				return -1
			}
			return 1
		case a.Cost < b.Cost:
			return -1
		case a.Cost > b.Cost:
			return 1
		}
		return 0
	})
	if len(v.Candidates) > MaxRepairCandidates {
		v.Candidates = v.Candidates[:MaxRepairCandidates]
	}
	if len(v.Candidates) > 0 {
		c := v.Candidates[0]
		v.Chosen = &c
	} else {
		v.Why = whyNone(reasons)
	}
	return v, true
}

// short says whether the working schedule leaves t below its minimum of residents in slot, or,
// for a faculty vacancy, without the supervising faculty its residents need.
func (r *repairer) short(slot Slot, t Template, faculty bool) bool {
	var pgys []int
	supervisors := 0
	for _, a := range r.schedule {
		if a.Slot != slot || a.TemplateID != t.ID {
			continue
		}
		if x := r.people[a.PersonID]; x.Type == Resident {
			pgys = append(pgys, x.PGY)
		} else {
			supervisors++
		}
	}
	if !faculty {
		return t.Staffed(slot) && len(pgys) < t.MinResidents
	}
	return t.SupervisionRequired && acgme.Supervision(acgme.Staffing{Residents: pgys, Faculty: supervisors}, r.p.Limits) != nil
}

// candidate judges person x filling t in slot: "" and the candidate, or why they cannot. It
// checks what the validator would newly report, for x and the two cells concerned only (the
// rest of the schedule does not change): availability, eligibility, capacity, supervision, the
// faculty's weekly sessions, x's ACGME rules, and, for a move, the coverage and supervision of
// the template x leaves.
func (r *repairer) candidate(x Person, slot Slot, t Template) (Candidate, string) {
	c := Candidate{PersonID: x.ID, Changes: 1}
	if why := r.admits(x, slot, t, &c); why != "" {
		return Candidate{}, why
	}
	for _, a := range r.schedule {
		if a.PersonID == x.ID && a.Slot == slot {
			if a.Locked {
				return Candidate{}, "locked elsewhere"
			}
			c.From, c.Changes = a.TemplateID, 2
		}
	}
	if c.From != "" && r.neededAt(slot, r.templates[c.From], x) {
		return Candidate{}, "needed where they are"
	}
	if c.From != "" && r.activatedBy(x.ID, slot) {
		return Candidate{}, "their backup call covers an earlier choice"
	}
	if why := r.cellRefuses(x, slot, t); why != "" {
		return Candidate{}, why
	}
	before, after := r.duties(x, slot, ""), r.duties(x, slot, t.ID)
	switch x.Type {
	case Resident:
		if rule := r.newACGMEViolation(x.ID, before, after); rule != "" {
			return Candidate{}, "would break " + string(rule)
		}
	case Faculty:
		if r.newOverlap(before, after) {
			return Candidate{}, "would break " + string(acgme.RuleOverlap)
		}
	}
	r.measure(&c, x, slot, t, after)
	return c, ""
}

// admits says why x may not hold t in slot whatever the schedule ("" if they may): absent, not
// eligible, not credentialed, on another rotation, unless a backup session of theirs covers the
// day (other than one in slot): then c is marked as pulled from the backup pool.
func (r *repairer) admits(x Person, slot Slot, t Template, c *Candidate) string {
	switch {
	case r.absent(x.ID, slot.Date) || t.Overnight(slot, r.p.Location) && r.absent(x.ID, slot.Date.AddDays(1)):
		return "absent"
	case x.Type == Resident && !t.Allows(x.PGY):
		return "not eligible"
	case !t.Credentialed(x):
		return "not credentialed"
	case x.Type != Resident:
		return ""
	}
	if b, ok := r.backups.session(x.ID, slot.Date, slot); ok {
		d := b.Slot.Date
		c.Backup, c.ActivatedBackupTemplateID, c.ActivatedBackupDate = true, b.TemplateID, &d
		return ""
	}
	if !r.p.PlanAllows(x.ID, t, slot.Date) {
		return "on another rotation"
	}
	return ""
}

// cellRefuses says which hard rule placing x on t in slot breaks in that cell, or "".
func (r *repairer) cellRefuses(x Person, slot Slot, t Template) string {
	pgys, faculty := r.staffing(slot, t.ID, x.ID)
	if x.Type == Resident {
		if len(pgys)+1 > t.MaxResidents {
			return "would break " + string(RuleCapacity)
		}
		if t.SupervisionRequired && acgme.Supervision(acgme.Staffing{Residents: append(pgys, x.PGY), Faculty: faculty}, r.p.Limits) != nil {
			return "would break " + string(acgme.RuleSupervision)
		}
		if r.breaksSpacing(x, slot, t) {
			return "would break " + string(RuleCallSpacing)
		}
		return ""
	}
	if x.MaxSessionsPerWeek > 0 {
		week := slot.Date.Sub(r.p.From) / 7
		n := 1
		for _, a := range r.schedule {
			if a.PersonID == x.ID && a.Slot != slot && !a.Slot.Date.Before(r.p.From) && a.Slot.Date.Sub(r.p.From)/7 == week {
				n++
			}
		}
		if n > x.MaxSessionsPerWeek {
			return "would break " + string(RuleFacultySessions)
		}
	}
	return ""
}

// staffing is who else holds template id in slot: the residents' PGY levels and the faculty.
func (r *repairer) staffing(slot Slot, id, except string) ([]int, int) {
	var pgys []int
	faculty := 0
	for _, a := range r.schedule {
		if a.Slot != slot || a.TemplateID != id || a.PersonID == except {
			continue
		}
		if p := r.people[a.PersonID]; p.Type == Resident {
			pgys = append(pgys, p.PGY)
		} else {
			faculty++
		}
	}
	return pgys, faculty
}

// neededAt says whether t in slot falls below its minimum (a resident leaving) or loses the
// supervision its residents need (a faculty member leaving) without x.
func (r *repairer) neededAt(slot Slot, t Template, x Person) bool {
	pgys, faculty := r.staffing(slot, t.ID, x.ID)
	if x.Type == Resident {
		return t.Staffed(slot) && len(pgys) < t.MinResidents
	}
	return t.SupervisionRequired && acgme.Supervision(acgme.Staffing{Residents: pgys, Faculty: faculty}, r.p.Limits) != nil
}

// duties is x's duties with slot holding template id ("": as the working schedule has it).
func (r *repairer) duties(x Person, slot Slot, id string) []acgme.Duty {
	if x.Type == Learner {
		return nil
	}
	var out []acgme.Duty
	add := func(a Assignment) {
		if d, ok := r.templates[a.TemplateID].Duty(a.Slot, r.p.Location); ok {
			out = append(out, d)
		}
	}
	for _, a := range r.fixed[x.ID] {
		add(a)
	}
	for _, a := range r.schedule {
		if a.PersonID == x.ID && (id == "" || a.Slot != slot) {
			add(a)
		}
	}
	if id != "" {
		add(Assignment{Slot: slot, PersonID: x.ID, TemplateID: id})
	}
	return out
}

// newACGMEViolation names the first ACGME rule after breaks that before did not, or "".
func (r *repairer) newACGMEViolation(id string, before, after []acgme.Duty) acgme.Rule {
	rng := acgme.Range{From: r.p.From.In(r.p.Location), To: r.p.To.AddDays(1).In(r.p.Location)}
	was := r.p.checkDuties(id, acgme.NewTimeline(r.p.Location, before, r.p.Limits.MaxBreak), before, rng)
	for _, v := range missingViolations(r.p.checkDuties(id, acgme.NewTimeline(r.p.Location, after, r.p.Limits.MaxBreak), after, rng), was) {
		return v.Rule
	}
	return ""
}

// newOverlap says whether a faculty member's sessions after a placement overlap where they did
// not before: faculty keep no duty-hour rules, but are in one place at a time (a 07-19
// attending shift and a 13:00 clinic overlap).
func (r *repairer) newOverlap(before, after []acgme.Duty) bool {
	rng := acgme.Range{From: r.p.From.In(r.p.Location), To: r.p.To.AddDays(1).In(r.p.Location)}
	lim := r.p.Limits
	was := acgme.Overlap(acgme.NewTimeline(r.p.Location, before, lim.MaxBreak), rng, lim)
	return len(missingViolations(acgme.Overlap(acgme.NewTimeline(r.p.Location, after, lim.MaxBreak), rng, lim), was)) > 0
}

// measure fills in the load and continuity of candidate c once placed (duties: x's with the
// placement) and its cost.
func (r *repairer) measure(c *Candidate, x Person, slot Slot, t Template, duties []acgme.Duty) {
	for _, a := range r.schedule {
		if a.PersonID == x.ID && a.TemplateID == t.ID && a.Slot != slot && a.Slot.Date.Sub(slot.Date) <= 1 && slot.Date.Sub(a.Slot.Date) <= 1 {
			c.Continuity = true
		}
	}
	if x.Type == Resident {
		day := slot.Start(r.p.Location)
		tl := acgme.NewTimeline(r.p.Location, duties, r.p.Limits.MaxBreak)
		c.PeakWeeklyHours = acgme.PeakWeeklyAverage(tl, acgme.Range{From: day, To: day.Add(24 * time.Hour)}, r.p.Limits)
		c.CallNights = acgme.Summarize(tl, acgme.Range{From: day.AddDate(0, 0, -13), To: day.AddDate(0, 0, 15)}).Calls
	}
	c.Cost = float64(100*c.Changes) + c.PeakWeeklyHours + 5*float64(c.CallNights)
	if c.Continuity {
		c.Cost -= 10
	}
}

// apply makes the chosen candidate's changes in the working schedule and returns them.
func (r *repairer) apply(slot Slot, templateID string, c Candidate) []RepairChange {
	r.schedule = slices.DeleteFunc(r.schedule, func(a Assignment) bool { return a.PersonID == c.PersonID && a.Slot == slot })
	r.schedule = append(r.schedule, Assignment{Slot: slot, PersonID: c.PersonID, TemplateID: templateID})
	if r.isBackup(templateID) || r.isBackup(c.From) {
		r.backups = newBackupCover(r.isBackup, r.schedule, r.p.Fixed)
	}
	return []RepairChange{{PersonID: c.PersonID, Date: slot.Date, Half: slot.Half, From: c.From, To: templateID}}
}

func missingViolations(a, b []acgme.Violation) []acgme.Violation {
	var out []acgme.Violation
	for _, v := range a {
		if !slices.ContainsFunc(b, func(w acgme.Violation) bool {
			return w.Rule == v.Rule && w.PersonID == v.PersonID && w.Start.Equal(v.Start) && w.End.Equal(v.End) && w.Value == v.Value && w.Message == v.Message
		}) {
			out = append(out, v)
		}
	}
	return out
}

func whyNone(reasons map[string]int) string {
	if len(reasons) == 0 {
		return "nobody else of that kind is in the program"
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := "nobody can take it without breaking a hard rule:"
	for i, k := range keys {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf(" %d %s", reasons[k], k)
	}
	return out
}

package roster

import (
	"errors"
	"fmt"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// Weights of the soft objective (lower is better). Hard rules are never traded against them.
type Weights struct {
	// Coverage is the cost of one resident missing below a template's minimum for one half-day.
	Coverage float64 `json:"coverage"`
	// Fairness is the cost of spread in load (duty hours per available day) between residents of
	// the same PGY level: the weight times the sum of squared deviations from the level's mean.
	Fairness float64 `json:"fairness"`
	// Continuity is the cost of a resident changing template from one day to the next (same half).
	Continuity float64 `json:"continuity"`
	// Preference is the reward per unit of a person's preference for a template they are placed on.
	Preference float64 `json:"preference"`
	// The call roster's equity (callequity.go): each is the cost of spread within a PGY
	// level, the weight times the sum of squared deviations of the residents' counts from their
	// level's mean, counted for each call kind (in-house, home, backup) separately.
	// CallEquity weighs the calls of each kind, WeekendCallEquity those starting on a Saturday
	// or Sunday, HolidayCallEquity those on a holiday; WeekendOffEquity weighs the whole
	// weekends off (MeasureEquity's measures).
	CallEquity        float64 `json:"call_equity"`
	WeekendCallEquity float64 `json:"weekend_call_equity"`
	HolidayCallEquity float64 `json:"holiday_call_equity"`
	WeekendOffEquity  float64 `json:"weekend_off_equity"`
}

// DefaultWeights: coverage first, then fairness, call equity, continuity and preferences.
func DefaultWeights() Weights {
	return Weights{Coverage: 1000, Fairness: 50, Continuity: 5, Preference: 10,
		CallEquity: 20, WeekendCallEquity: 20, HolidayCallEquity: 20, WeekendOffEquity: 10}
}

// Preference is a person's liking (positive) or dislike (negative) of a template.
type Preference struct {
	PersonID   string  `json:"person_id"`
	TemplateID string  `json:"rotation_template_id"`
	Weight     float64 `json:"weight"`
}

// Problem is one scheduling request: fill [From, To] with assignments of People to Templates.
type Problem struct {
	From, To Date
	// Location is the program's time zone (days and session times are local).
	Location  *time.Location
	People    []Person
	Templates []Template
	// Absences make people unavailable on whole days.
	Absences []Absence
	// Holidays close the templates that do not run on holidays (Template.RunsOn).
	Holidays []Holiday
	// Fixed assignments are kept: locked ones inside the range, and the stored schedule of the 27
	// days before and after it, which the rolling 28-day rules must see.
	Fixed []Assignment
	// Keep lists people the solver leaves exactly as they are inside the range: their fixed
	// assignments stay and their free half-days stay free (a run filtered to other people).
	Keep []string
	// Plan is the block rotation plan over the range: a resident on a rotation holds only its
	// templates and those of no rotation (PlanAllows).
	Plan        []PlanEntry
	Preferences []Preference
	// DayOffRequests are residents' wishes to be free on a date (dayoff.go).
	DayOffRequests []DayOffRequest
	Weights        Weights
	Limits         acgme.Limits
	// NoPostCallDay switches the program's post-call day rule off (PostCallDay, postcall.go);
	// by default it holds, as it did in the predecessor for every program.
	NoPostCallDay bool
	// StrictPlan makes the validator report rotation_plan even on a day a resident's backup call
	// covers (backup.go): a manual edit crossing the block plan gives a reason for it, which
	// only the repair's activation of a backup does not need.
	StrictPlan bool
}

// InputError is a problem that no schedule can satisfy or that makes no sense; the API answers
// it with 422 and its message.
type InputError struct{ Reason string }

func (e *InputError) Error() string { return e.Reason }

func inputErrorf(format string, args ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, args...)}
}

// IsInputError says whether err is an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// MaxRangeDays bounds one request (a full academic year and a bit).
const MaxRangeDays = 400

// check validates the problem on its own terms, and fills in the defaults (UTC, the ACGME
// limits, DefaultWeights). It returns the first problem it finds.
func (p *Problem) check() error {
	if err := p.checkInput(); err != nil {
		return err
	}
	return p.checkMinimums()
}

// checkInput is check without the minimums: what judging a schedule needs (the validator,
// the shortfall explanation and the repair planner report a minimum no one can meet as
// coverage missing; only a search refuses it).
func (p *Problem) checkInput() error {
	if p.To.Before(p.From) {
		return inputErrorf("end_date %s is before start_date %s", p.To, p.From)
	}
	if d := p.To.Sub(p.From) + 1; d > MaxRangeDays {
		return inputErrorf("the range has %d days; at most %d", d, MaxRangeDays)
	}
	p.setDefaults()
	if err := checkLimits(p.Limits); err != nil {
		return err
	}
	people, err := p.checkPeople()
	if err != nil {
		return err
	}
	templates, err := p.checkTemplates()
	if err != nil {
		return err
	}
	if err := p.checkFixed(people, templates); err != nil {
		return err
	}
	if err := p.checkAbsences(people); err != nil {
		return err
	}
	if err := p.checkReferences(people, templates); err != nil {
		return err
	}
	if err := p.checkDayOffRequests(people); err != nil {
		return err
	}
	return p.checkPlan(people)
}

func (p *Problem) setDefaults() {
	if p.Location == nil {
		p.Location = time.UTC
	}
	if p.Limits == (acgme.Limits{}) {
		p.Limits = acgme.Default()
	}
	if p.Weights == (Weights{}) {
		p.Weights = DefaultWeights()
	}
}

// checkPeople checks every person on their own and indexes them by id.
func (p *Problem) checkPeople() (map[string]Person, error) {
	people := map[string]Person{}
	for _, x := range p.People {
		if _, dup := people[x.ID]; dup || x.ID == "" {
			return nil, inputErrorf("person id %q is empty or repeated", x.ID)
		}
		if x.Type == Resident && (x.PGY < 1 || x.PGY > MaxPGY) {
			return nil, inputErrorf("resident %s: PGY level %d is not 1 to %d", x.ID, x.PGY, MaxPGY)
		}
		if x.Type != Resident && x.Type != Faculty && x.Type != Learner {
			return nil, inputErrorf("person %s: type %q is not resident, faculty or learner", x.ID, x.Type)
		}
		if err := x.validateCredentials(); err != nil {
			return nil, &InputError{Reason: err.Error()}
		}
		people[x.ID] = x
	}
	return people, nil
}

// checkTemplates checks every template on its own and indexes them by id.
func (p *Problem) checkTemplates() (map[string]Template, error) {
	templates := map[string]Template{}
	for _, t := range p.Templates {
		if err := t.Validate(); err != nil {
			return nil, &InputError{Reason: err.Error()}
		}
		if _, dup := templates[t.ID]; dup {
			return nil, inputErrorf("template id %q is repeated", t.ID)
		}
		templates[t.ID] = t
	}
	return templates, nil
}

// checkFixed checks the fixed assignments: one per person and half-day, of known people and
// templates, and, inside the range, holdable (staffed, not absent, within the template's
// maximum and the faculty's weekly caps).
func (p *Problem) checkFixed(people map[string]Person, templates map[string]Template) error {
	held, lockedIn := map[string]bool{}, map[string]int{}
	for _, a := range p.Fixed {
		key := a.PersonID + "/" + a.Slot.Date.String() + string(a.Slot.Half)
		if held[key] {
			return inputErrorf("%s holds two fixed assignments on %s %s", a.PersonID, a.Slot.Date, a.Slot.Half)
		}
		held[key] = true
		x, t, err := p.fixedOf(a, people, templates)
		if err != nil {
			return err
		}
		if a.Slot.Date.Before(p.From) || p.To.Before(a.Slot.Date) {
			continue // context around the range: judged through the rolling windows only
		}
		if err := p.checkLock(a, x, t, lockedIn); err != nil {
			return err
		}
	}
	return nil
}

// fixedOf finds the person and template of a fixed assignment, and checks that the person may
// hold it at all.
func (p *Problem) fixedOf(a Assignment, people map[string]Person, templates map[string]Template) (Person, Template, error) {
	if a.Slot.Half != AM && a.Slot.Half != PM {
		return Person{}, Template{}, inputErrorf("a fixed assignment's time_of_day is %q, not AM or PM", a.Slot.Half)
	}
	x, ok := people[a.PersonID]
	if !ok {
		return Person{}, Template{}, inputErrorf("a fixed assignment names unknown person %q", a.PersonID)
	}
	t, ok := templates[a.TemplateID]
	if !ok {
		return Person{}, Template{}, inputErrorf("a fixed assignment names unknown template %q", a.TemplateID)
	}
	if x.Type == Resident && !t.Allows(x.PGY) {
		return Person{}, Template{}, inputErrorf("locked assignment of %s on %s %s: PGY-%d is not allowed on %s", x.ID, a.Slot.Date, a.Slot.Half, x.PGY, t.ID)
	}
	if !t.Credentialed(x) {
		return Person{}, Template{}, inputErrorf("locked assignment of %s on %s %s: %s requires the credential %q", x.ID, a.Slot.Date, a.Slot.Half, t.ID, t.RequiredCredential)
	}
	if x.Type == Learner && t.MaxLearners == 0 {
		return Person{}, Template{}, inputErrorf("locked assignment of learner %s on %s %s: %s takes no learners", x.ID, a.Slot.Date, a.Slot.Half, t.ID)
	}
	return x, t, nil
}

// checkLock checks a fixed assignment inside the range; lockedIn counts the locks per template
// and half-day, and per faculty member and week.
func (p *Problem) checkLock(a Assignment, x Person, t Template, lockedIn map[string]int) error {
	if !t.RunsOn(a.Slot, p.Holidays) && t.Activity != Off {
		return inputErrorf("locked assignment of %s on %s %s: %s does not run then", x.ID, a.Slot.Date, a.Slot.Half, t.ID)
	}
	for _, ab := range p.Absences {
		if ab.PersonID == x.ID && ab.Covers(a.Slot.Date) {
			return inputErrorf("locked assignment of %s on %s %s: %s is absent that day", x.ID, a.Slot.Date, a.Slot.Half, x.ID)
		}
	}
	if x.Type == Learner {
		k := a.Slot.Date.String() + string(a.Slot.Half) + "/" + t.ID + "/learners"
		if lockedIn[k]++; lockedIn[k] > t.MaxLearners {
			return inputErrorf("more learners are locked on %s on %s %s than its maximum of %d", t.ID, a.Slot.Date, a.Slot.Half, t.MaxLearners)
		}
		return nil
	}
	if x.Type == Resident {
		k := a.Slot.Date.String() + string(a.Slot.Half) + "/" + t.ID
		if lockedIn[k]++; lockedIn[k] > t.MaxResidents {
			return inputErrorf("more residents are locked on %s on %s %s than its maximum of %d", t.ID, a.Slot.Date, a.Slot.Half, t.MaxResidents)
		}
	} else if x.MaxSessionsPerWeek > 0 {
		w := a.Slot.Date.Sub(p.From) / 7
		k := fmt.Sprintf("%s/week%d", x.ID, w)
		if lockedIn[k]++; lockedIn[k] > x.MaxSessionsPerWeek {
			return inputErrorf("%s is locked on more than %d half-days in the week from %s", x.ID, x.MaxSessionsPerWeek, p.From.AddDays(7*w))
		}
	}
	return nil
}

func (p *Problem) checkAbsences(people map[string]Person) error {
	for _, a := range p.Absences {
		if _, ok := people[a.PersonID]; !ok {
			return inputErrorf("an absence names unknown person %q", a.PersonID)
		}
		if a.End.Before(a.Start) {
			return inputErrorf("an absence of %s ends before it starts", a.PersonID)
		}
	}
	return nil
}

// checkReferences checks that the kept people and the preferences name known people and
// templates, and that no learner's preference names a template that takes no learners.
func (p *Problem) checkReferences(people map[string]Person, templates map[string]Template) error {
	for _, id := range p.Keep {
		if _, ok := people[id]; !ok {
			return inputErrorf("a kept person names unknown person %q", id)
		}
	}
	for _, pr := range p.Preferences {
		x, ok := people[pr.PersonID]
		if !ok {
			return inputErrorf("a preference names unknown person %q", pr.PersonID)
		}
		t, ok := templates[pr.TemplateID]
		if !ok {
			return inputErrorf("a preference names unknown template %q", pr.TemplateID)
		}
		if x.Type == Learner && t.MaxLearners == 0 {
			return inputErrorf("a preference of learner %s names template %q (%s), which takes no learners (max_learners 0)", x.ID, t.Name, t.ID)
		}
	}
	return nil
}

// checkMinimums refuses a minimum that the eligible residents could never meet: that is not a
// matter of search.
func (p *Problem) checkMinimums() error {
	for _, t := range p.Templates {
		eligible := 0
		for _, x := range p.People {
			if x.Type == Resident && t.Allows(x.PGY) {
				eligible++
			}
		}
		if t.MinResidents > eligible {
			return inputErrorf("template %s needs %d residents per half-day but only %d residents are eligible", t.ID, t.MinResidents, eligible)
		}
	}
	return nil
}

// checkLimits refuses duty-hour limits the rules cannot judge (a library caller's; the API
// always uses acgme.Default): a window of 7 to 56 days, call and supervision units of at least 1.
func checkLimits(l acgme.Limits) error {
	switch {
	case l.WindowDays < 7 || l.WindowDays > 56:
		return inputErrorf("limits: the rolling window is 7 to 56 days, not %d", l.WindowDays)
	case l.CallEveryNthNight < 1 || l.FacultyUnits < 1 || l.PGY1Units < 1 || l.SeniorUnits < 1:
		return inputErrorf("limits: the call frequency and the supervision units are at least 1")
	}
	return nil
}

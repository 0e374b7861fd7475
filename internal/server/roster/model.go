package roster

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// PersonType is resident, faculty or learner.
type PersonType string

// The kinds of people the scheduler places.
const (
	Resident PersonType = "resident"
	Faculty  PersonType = "faculty"
	// Learner is a medical student (the predecessor's med_student): placed by hand on templates
	// that take learners (Template.MaxLearners), never by the solver; no duty-hour accounting
	// (the ACGME rules are for residents); not counted toward min_residents; supervised like a
	// PGY-1 (acgme.Limits.PGY1Units each).
	Learner PersonType = "learner"
)

// MaxPGY is the highest postgraduate year: programs run from 1 year (a transitional year) to
// 7 or more with fellowship (neurosurgery is 7; the predecessor allowed 8).
const MaxPGY = 8

// Person is a resident (PGY 1 to MaxPGY) or a faculty member, as the solver sees them.
type Person struct {
	ID   string     `json:"id"`
	Name string     `json:"name"`
	Type PersonType `json:"type"`
	// PGY is the resident's postgraduate year, 1 to MaxPGY; 0 for faculty.
	PGY int `json:"pgy_level,omitempty"`
	// MaxSessionsPerWeek caps a faculty member's supervising half-days per week (0: no cap).
	MaxSessionsPerWeek int `json:"max_sessions_per_week,omitempty"`
	// Credentials are the procedures a faculty member is credentialed to supervise
	// (credentials.go).
	Credentials []string `json:"credentials,omitempty"`
}

// Activity is what a rotation template's sessions are.
type Activity string

// The activity types.
const (
	Clinic     Activity = "clinic"
	Inpatient  Activity = "inpatient"
	Procedure  Activity = "procedure"
	Conference Activity = "conference"
	Call       Activity = "call"
	// HomeCall is call taken from home: on the call roster and in call equity, but no duty
	// hours and not in-house call for call_frequency (ACGME counts only the time a resident is
	// called in, which is recorded as an in-house session then).
	HomeCall Activity = "home_call"
	// BackupCall is the backup of the call roster: like HomeCall, available if called.
	BackupCall Activity = "backup_call"
	Off        Activity = "off"
)

// Activities lists the valid activity types.
var Activities = []Activity{Clinic, Inpatient, Procedure, Conference, Call, HomeCall, BackupCall, Off}

// OnCallRoster says whether a is one of the call roster's kinds (in-house, home or backup).
func (a Activity) OnCallRoster() bool { return a == Call || a == HomeCall || a == BackupCall }

// Session start times. A call session starts with the afternoon and runs overnight.
const (
	AMStart = 7 * time.Hour
	PMStart = 13 * time.Hour
	// MaxDaySessionHours keeps a morning session from running into the afternoon.
	MaxDaySessionHours = 6
	// MaxCallHours is the longest call session: from 13:00 to 07:00, so that it ends before the
	// next morning's session begins (no one holds two sessions at once). A 24-hour call is a
	// morning session followed by an afternoon call, which the rules see as one period.
	MaxCallHours = 18
)

// Template is a rotation template: what a session is, how long, and how many residents of which
// levels it takes per half-day.
type Template struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Activity Activity `json:"activity_type"`
	// HoursPerSession is the duty length of one session.
	HoursPerSession float64 `json:"hours_per_session"`
	// StartTime makes the template a shift starting at this wall-clock time (shift.go); nil
	// keeps it in the half-day family (starting with the half-day it is placed in).
	StartTime *ClockTime `json:"start_time,omitempty"`
	// MinResidents and MaxResidents bound the residents per half-day (the minimum is a soft
	// coverage target, the maximum hard).
	MinResidents int `json:"min_residents"`
	MaxResidents int `json:"max_residents"`
	// MaxLearners is how many learners the template takes per half-day (0: none), besides its
	// residents.
	MaxLearners int `json:"max_learners"`
	// MinFaculty makes the template a faculty shift: at least this many faculty on it in every
	// half-day it runs, residents or not (faculty_shifts.go; soft).
	MinFaculty int `json:"min_faculty"`
	// AllowedPGY lists the levels that may be placed; empty allows all.
	AllowedPGY []int `json:"allowed_pgy_levels,omitempty"`
	// SupervisionRequired makes the residents placed need supervising faculty on the same
	// template and half-day (acgme.Supervision).
	SupervisionRequired bool `json:"supervision_required"`
	// Weekends staffs the template on Saturdays and Sundays too.
	Weekends bool `json:"weekends"`
	// Holidays staffs the template on the program's holidays too (RunsOn).
	Holidays bool `json:"holidays"`
	// RequiredCredential is the credential the faculty on it must hold ("" none; credentials.go).
	RequiredCredential string `json:"required_credential,omitempty"`
	// RotationID is the block rotation the template belongs to ("" none): a resident the block
	// plan puts on another rotation that day may not hold it (Problem.PlanAllows).
	RotationID string `json:"rotation_id,omitempty"`
	// EveryNthNight is a call template's pattern, "q-N" (callspacing.go): a resident holds at
	// most one of its sessions in any N consecutive days (0: no pattern beyond ACGME's).
	EveryNthNight int `json:"call_every_nth_night,omitempty"`
}

// Validate checks one template on its own.
func (t Template) Validate() error {
	switch {
	case t.ID == "":
		return fmt.Errorf("template without an id")
	case !slices.Contains(Activities, t.Activity):
		return fmt.Errorf("template %s: activity_type %s is not one of %v", t.ID, short(string(t.Activity)), Activities)
	case t.MinResidents < 0 || t.MaxResidents < t.MinResidents:
		return fmt.Errorf("template %s: need 0 <= min_residents <= max_residents", t.ID)
	case t.MaxLearners < 0 || t.MaxLearners > MaxLearners:
		return fmt.Errorf("template %s: max_learners is 0 to %d", t.ID, MaxLearners)
	case t.RequiredCredential != "" && !ValidCredential(t.RequiredCredential):
		return fmt.Errorf("template %s: required_credential %s is not 1 to 63 lower-case letters, digits, '-' or '_'", t.ID, short(t.RequiredCredential))
	}
	for _, l := range t.AllowedPGY {
		if l < 1 || l > MaxPGY {
			return fmt.Errorf("template %s: PGY level %d is not 1 to %d", t.ID, l, MaxPGY)
		}
	}
	if err := t.validateFaculty(); err != nil {
		return err
	}
	if err := t.validateSpacing(); err != nil {
		return err
	}
	return t.validateShift()
}

// MaxLearners bounds Template.MaxLearners.
const MaxLearners = 1000

// Allows says whether a resident of level pgy may be placed on t.
func (t Template) Allows(pgy int) bool {
	return len(t.AllowedPGY) == 0 || slices.Contains(t.AllowedPGY, pgy)
}

// Staffed says whether t takes residents in slot s: a shift in the half-day its start time falls
// in, a half-day call in the afternoon slot (overnight), weekends only for templates that say so.
func (t Template) Staffed(s Slot) bool {
	switch {
	case t.Activity == Off:
		return false
	case t.StartTime != nil && s.Half != t.StartTime.Half():
		return false
	case t.StartTime == nil && t.Activity.OnCallRoster() && s.Half != PM:
		return false
	}
	wd := s.Date.Weekday()
	return t.Weekends || (wd != time.Saturday && wd != time.Sunday)
}

// startHour is the wall-clock hour a session in the slot's half begins.
func (s Slot) startHour() int {
	if s.Half == PM {
		return int(PMStart / time.Hour)
	}
	return int(AMStart / time.Hour)
}

// Start is when a session in slot s begins, in loc: wall-clock times, so on a day the clocks
// change 13:00 is still 13:00.
func (s Slot) Start(loc *time.Location) time.Time {
	return time.Date(s.Date.Year, s.Date.Month, s.Date.Day, s.startHour(), 0, 0, 0, loc)
}

// Duty is the duty period of one session of t in slot s (none for Off, home or backup call, or a
// zero-hour session).
func (t Template) Duty(s Slot, loc *time.Location) (acgme.Duty, bool) {
	if t.Activity == Off || t.Activity == HomeCall || t.Activity == BackupCall || t.HoursPerSession == 0 {
		return acgme.Duty{}, false
	}
	// The end is a wall-clock time too: an 18-hour call runs 13:00 to 07:00 and a night float
	// 19:00 to 07:00 even on the night the clocks change (an hour more or less then, which the
	// rules count as it is), so a shift ends when the next one begins.
	mins := t.startMinute(s) + int(math.Round(t.HoursPerSession*60))
	end := time.Date(s.Date.Year, s.Date.Month, s.Date.Day, 0, mins, 0, 0, loc)
	return acgme.Duty{Start: t.StartIn(s, loc), End: end, Call: t.Activity == Call, Education: t.Activity == Conference}, true
}

// Overnight says whether a session of t in slot s ends on a later day than it starts (an
// overnight call), in loc.
func (t Template) Overnight(s Slot, loc *time.Location) bool {
	d, ok := t.Duty(s, loc)
	if !ok {
		return false
	}
	y, m, day := d.End.Add(-time.Nanosecond).In(loc).Date()
	return Date{y, m, day} != s.Date
}

// Absence is time a person is unavailable (approved), days inclusive.
type Absence struct {
	PersonID string `json:"person_id"`
	Start    Date   `json:"start_date"`
	End      Date   `json:"end_date"`
}

// Covers says whether the absence includes day d.
func (a Absence) Covers(d Date) bool { return !d.Before(a.Start) && !a.End.Before(d) }

// Assignment places one person on one template for one half-day.
type Assignment struct {
	Slot       Slot   `json:"slot"`
	PersonID   string `json:"person_id"`
	TemplateID string `json:"rotation_template_id"`
	// Locked assignments are kept by the solver as they are.
	Locked bool `json:"locked,omitempty"`
}

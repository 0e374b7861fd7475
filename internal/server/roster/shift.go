package roster

import (
	"encoding/json"
	"fmt"
	"time"
)

// Shift definitions: a template either belongs to the half-day family (no start time: its
// sessions start when the half-day they are placed in does, 07:00 or 13:00, and last up to
// MaxDaySessionHours, or MaxCallHours for an overnight call from 13:00) or is a shift with its
// own wall-clock start time and any length up to MaxShiftHours (a 07–19 day, a 19–07 night
// float, a 07:00 24-hour call, a 4-hour post-call hand-over). A shift is placed in the half-day
// its start time falls in (before 13:00 the morning, from 13:00 the afternoon), which is how
// the grid keeps one entry per person and half-day; the rules judge every session by its real
// start and end, and one person's sessions may never overlap (acgme.RuleOverlap). Data written
// before shifts existed is all of the half-day family and means what it meant.

// ClockTime is a wall-clock time of day, in minutes after midnight; "HH:MM" in JSON.
type ClockTime int

// MaxShiftHours is the longest shift with a start time: 24 hours of continuous duty, the ACGME
// maximum for patient care (the up to four hours after it are for hand-over and education, a
// shift of their own).
const MaxShiftHours = 24

// ParseClock reads "HH:MM" (00:00 to 23:59).
func ParseClock(s string) (ClockTime, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("start_time %s is not a time of day as HH:MM (00:00 to 23:59)", short(s))
	}
	return ClockTime(t.Hour()*60 + t.Minute()), nil
}

// String is the time as HH:MM.
func (c ClockTime) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Valid says whether c is a time of day.
func (c ClockTime) Valid() bool { return c >= 0 && c < 24*60 }

// Half is the half-day a shift starting at c is placed in.
func (c ClockTime) Half() Half {
	if time.Duration(c)*time.Minute < PMStart {
		return AM
	}
	return PM
}

// MarshalJSON writes "HH:MM".
func (c ClockTime) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON reads "HH:MM".
func (c *ClockTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("start_time is a string HH:MM")
	}
	v, err := ParseClock(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// IsShift says whether t is a shift with its own start time rather than a half-day session.
func (t Template) IsShift() bool { return t.StartTime != nil }

// startMinute is the wall-clock minute after midnight a session of t in slot s begins.
func (t Template) startMinute(s Slot) int {
	if t.StartTime != nil {
		return int(*t.StartTime)
	}
	return s.startHour() * 60
}

// StartIn is when a session of t in slot s begins, in loc (wall-clock: on a day the clocks
// change 19:00 is still 19:00).
func (t Template) StartIn(s Slot, loc *time.Location) time.Time {
	return time.Date(s.Date.Year, s.Date.Month, s.Date.Day, 0, t.startMinute(s), 0, 0, loc)
}

// validateShift checks the hours of t against its family.
func (t Template) validateShift() error {
	switch {
	case t.StartTime != nil && !t.StartTime.Valid():
		return fmt.Errorf("template %s: start_time is not a time of day", t.ID)
	case t.StartTime != nil && (t.HoursPerSession < 0 || t.HoursPerSession > MaxShiftHours):
		return fmt.Errorf("template %s: a shift with a start time lasts 0 to %d hours", t.ID, MaxShiftHours)
	case t.StartTime != nil:
		return nil
	case t.Activity.OnCallRoster() && (t.HoursPerSession <= 0 || t.HoursPerSession > MaxCallHours):
		return fmt.Errorf("template %s: a half-day call session lasts more than 0 and at most %d hours (give it a start_time for longer shifts)", t.ID, MaxCallHours)
	case !t.Activity.OnCallRoster() && (t.HoursPerSession < 0 || t.HoursPerSession > MaxDaySessionHours):
		return fmt.Errorf("template %s: a half-day session lasts 0 to %d hours (give it a start_time for longer shifts)", t.ID, MaxDaySessionHours)
	}
	return nil
}

package acgme

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Rule names one ACGME requirement; it is the "type" of a violation in the API.
type Rule string

// The rules. Their ACGME wording is in docs/scheduling.md.
const (
	RuleWeeklyHours     Rule = "80_hour"
	RuleDayOff          Rule = "one_day_in_seven"
	RuleConsecutiveDays Rule = "consecutive_duty_days"
	RuleContinuousDuty  Rule = "continuous_duty"
	RuleDutyAfter24h    Rule = "patient_care_after_24h"
	RuleRest            Rule = "rest_between_shifts"
	RuleRestAfterCall   Rule = "rest_after_24h_duty"
	RuleCallFrequency   Rule = "call_frequency"
	RuleSupervision     Rule = "supervision"
	// RuleOverlap is not an ACGME requirement but what every one of them presumes: one person
	// is in one place at a time, so two of their sessions never overlap (shifts with their own
	// start times can: a 07–19 day and a 13:00 clinic).
	RuleOverlap Rule = "overlapping_sessions"
)

// Limits are the numbers behind the rules. Default returns ACGME's.
type Limits struct {
	// WeeklyHours is the most duty hours per week, averaged over WindowDays.
	WeeklyHours float64
	// WindowDays is the averaging window of the weekly-hours, day-off and call rules.
	WindowDays int
	// DaysOffPerWeek is how many duty-free days per week, averaged over WindowDays.
	DaysOffPerWeek int
	// MaxConsecutiveDutyDays is the longest run of days with duty (the predecessor's check).
	MaxConsecutiveDutyDays int
	// MaxContinuous is the longest continuous duty period, plus Transition for hand-over.
	MaxContinuous, Transition time.Duration
	// MinRest is the least time off between duty periods; MinRestAfterExtended after a period
	// of MaxContinuous or more (a 24-hour call).
	MinRest, MinRestAfterExtended time.Duration
	// MaxBreak is the longest gap inside one duty period: a break inside a working day (lunch,
	// the gap between a morning clinic and an afternoon session) is not time off.
	MaxBreak time.Duration
	// CallEveryNthNight: in-house call no more often than every Nth night, averaged over WindowDays.
	CallEveryNthNight int
	// FacultyUnits is how many supervision units one faculty member covers; a PGY-1 resident
	// needs PGY1Units, any other resident SeniorUnits.
	FacultyUnits, PGY1Units, SeniorUnits int
}

// Default returns the ACGME limits.
func Default() Limits {
	return Limits{
		WeeklyHours: 80, WindowDays: 28, DaysOffPerWeek: 1, MaxConsecutiveDutyDays: 6,
		MaxContinuous: 24 * time.Hour, Transition: 4 * time.Hour,
		MinRest: 8 * time.Hour, MinRestAfterExtended: 14 * time.Hour, MaxBreak: 4 * time.Hour,
		CallEveryNthNight: 3, FacultyUnits: 4, PGY1Units: 2, SeniorUnits: 1,
	}
}

// Duty is one scheduled stretch of clinical work of one resident.
type Duty struct {
	Start, End time.Time
	// Call marks in-house overnight call.
	Call bool
	// Education marks didactics (conference): with transitions of care, the only duty ACGME
	// allows in the up to four hours after 24 hours of continuous duty.
	Education bool
}

// Violation is one place where a rule is broken. Start and End bound the window or period
// concerned; Value is what was found and Limit what the rule allows, in the rule's unit (hours
// per week, days, hours, nights, faculty).
type Violation struct {
	Rule     Rule      `json:"type"`
	PersonID string    `json:"person_id,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Value    float64   `json:"value"`
	Limit    float64   `json:"limit"`
	Message  string    `json:"message"`
}

// period is one continuous duty period: duties with gaps of at most MaxBreak, which are
// Timeline.duties[first:last].
type period struct {
	start, end  time.Time
	first, last int
}

func (p period) length() time.Duration { return p.end.Sub(p.start) }

// Timeline is one resident's duties laid out by day, ready for the rules.
type Timeline struct {
	loc     *time.Location
	day0    int64 // civil day number of hours[0]
	hours   []float64
	calls   []int
	duties  []Duty
	periods []period
	// span is the last range the rules judged, with its civil days and the instants they begin
	// and end: every rule of one Check asks for them.
	span spanCache
}

// spanCache remembers one Range's days and bounds in the timeline's location.
type spanCache struct {
	ok       bool
	r        Range
	from, to int64
	lo, hi   time.Time
}

// civilDay is the number of the calendar day of t in loc (days since 1970-01-01): the local
// wall clock's seconds since the epoch (t's instant plus loc's offset then), floored to days.
func civilDay(t time.Time, loc *time.Location) int64 {
	_, off := t.In(loc).Zone()
	s := t.Unix() + int64(off)
	n := s / 86400
	if s%86400 < 0 {
		n--
	}
	return n
}

// midnight is the start, in loc, of civil day n.
func midnight(n int64, loc *time.Location) time.Time {
	y, m, d := time.Unix(n*86400, 0).UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// NewTimeline lays out duties (in any order; empty or inverted ones are ignored) in loc. maxBreak
// joins duties into continuous periods (Limits.MaxBreak).
func NewTimeline(loc *time.Location, duties []Duty, maxBreak time.Duration) *Timeline {
	tl := &Timeline{}
	tl.Reset(loc, duties, maxBreak)
	return tl
}

// Reset lays out duties again, reusing tl's memory (the solver checks one resident after
// another with one Timeline).
func (tl *Timeline) Reset(loc *time.Location, duties []Duty, maxBreak time.Duration) {
	tl.loc, tl.span.ok = loc, false
	tl.duties, tl.periods = tl.duties[:0], tl.periods[:0]
	tl.hours, tl.calls, tl.day0 = tl.hours[:0], tl.calls[:0], 0
	for _, d := range duties {
		if d.End.After(d.Start) {
			tl.duties = append(tl.duties, d)
		}
	}
	slices.SortFunc(tl.duties, func(a, b Duty) int { return a.Start.Compare(b.Start) })
	if len(tl.duties) == 0 {
		return
	}
	first, last := civilDay(tl.duties[0].Start, loc), int64(0)
	for _, d := range tl.duties {
		last = max(last, civilDay(d.End.Add(-time.Nanosecond), loc))
	}
	tl.day0 = first
	n := int(last - first + 1)
	tl.hours = slices.Grow(tl.hours[:0], n)[:n]
	tl.calls = slices.Grow(tl.calls[:0], n)[:n]
	clear(tl.hours)
	clear(tl.calls)
	for _, d := range tl.duties {
		if d.Call {
			tl.calls[civilDay(d.Start, loc)-first]++
		}
		n := civilDay(d.Start, loc)
		if civilDay(d.End.Add(-time.Nanosecond), loc) == n {
			tl.hours[n-first] += d.End.Sub(d.Start).Hours() // within one day, the common case
			continue
		}
		for t := d.Start; t.Before(d.End); {
			n := civilDay(t, loc)
			next := midnight(n+1, loc)
			end := d.End
			if next.Before(end) {
				end = next
			}
			tl.hours[n-first] += end.Sub(t).Hours()
			t = end
		}
	}
	cur := period{start: tl.duties[0].Start, end: tl.duties[0].End, first: 0, last: 1}
	for i, d := range tl.duties[1:] {
		if d.Start.Sub(cur.end) <= maxBreak {
			if d.End.After(cur.end) {
				cur.end = d.End
			}
			cur.last = i + 2
			continue
		}
		tl.periods = append(tl.periods, cur)
		cur = period{start: d.Start, end: d.End, first: i + 1, last: i + 2}
	}
	tl.periods = append(tl.periods, cur)
}

// hoursOn returns the duty hours on civil day n (0 outside the timeline).
func (tl *Timeline) hoursOn(n int64) float64 {
	if i := n - tl.day0; i >= 0 && i < int64(len(tl.hours)) {
		return tl.hours[i]
	}
	return 0
}

func (tl *Timeline) callsOn(n int64) int {
	if i := n - tl.day0; i >= 0 && i < int64(len(tl.calls)) {
		return tl.calls[i]
	}
	return 0
}

// Range is the part of the schedule being judged: the civil days [From, To) in the program's
// time zone (To exclusive).
type Range struct{ From, To time.Time }

// days are the civil days of r, [from, to), in the timeline's location.
func (tl *Timeline) days(r Range) (int64, int64) {
	c := tl.spanOf(r)
	return c.from, c.to
}

// bounds are the instants the range's days begin and end.
func (tl *Timeline) bounds(r Range) (time.Time, time.Time) {
	c := tl.spanOf(r)
	return c.lo, c.hi
}

func (tl *Timeline) spanOf(r Range) *spanCache {
	c := &tl.span
	if !c.ok || !c.r.From.Equal(r.From) || !c.r.To.Equal(r.To) {
		c.ok, c.r = true, r
		c.from, c.to = civilDay(r.From, tl.loc), civilDay(r.To, tl.loc)
		c.lo, c.hi = midnight(c.from, tl.loc), midnight(c.to, tl.loc)
	}
	return c
}

// Check runs every timeline rule for one resident over r.
func Check(personID string, tl *Timeline, r Range, lim Limits) []Violation {
	var out []Violation
	for _, rule := range []func(*Timeline, Range, Limits) []Violation{
		Overlap, WeeklyHours, DaysOff, ConsecutiveDutyDays, ContinuousDuty, DutyAfter24h, Rest, CallFrequency,
	} {
		for _, v := range rule(tl, r, lim) {
			v.PersonID = personID
			out = append(out, v)
		}
	}
	return out
}

// windows calls f for every WindowDays window overlapping r, with the window's first civil day
// and its value (sum of per(day) over the window), sliding in O(days).
func (tl *Timeline) windows(r Range, w int, per func(int64) float64, f func(start int64, sum float64)) {
	from, to := tl.days(r)
	if to <= from || w <= 0 {
		return
	}
	first := from - int64(w) + 1
	sum := 0.0
	for d := first; d < first+int64(w); d++ {
		sum += per(d)
	}
	for s := first; s < to; s++ {
		f(s, sum)
		sum += per(s+int64(w)) - per(s)
	}
}

// runs turns the window starts where bad held into violations: one per run of consecutive
// starts, spanning from the first window's start to the last one's end, with the worst value.
type runs struct {
	tl       *Timeline
	w        int
	open     bool
	s, e     int64
	worst    float64
	out      []Violation
	finalize func(start, end time.Time, worst float64) Violation
}

func (r *runs) add(start int64, bad bool, value float64, worse func(a, b float64) bool) {
	switch {
	case bad && !r.open:
		r.open, r.s, r.e, r.worst = true, start, start, value
	case bad:
		r.e = start
		if worse(value, r.worst) {
			r.worst = value
		}
	case r.open:
		r.flush()
	}
}

func (r *runs) flush() {
	if r.open {
		r.out = append(r.out, r.finalize(midnight(r.s, r.tl.loc), midnight(r.e+int64(r.w), r.tl.loc), r.worst))
		r.open = false
	}
}

func higher(a, b float64) bool { return a > b }
func lower(a, b float64) bool  { return a < b }

// WeeklyHours: at most Limits.WeeklyHours duty hours per week, averaged over every WindowDays
// window. Exactly the limit passes.
func WeeklyHours(tl *Timeline, r Range, lim Limits) []Violation {
	weeks := float64(lim.WindowDays) / 7
	rs := &runs{tl: tl, w: lim.WindowDays, finalize: func(s, e time.Time, worst float64) Violation {
		return Violation{Rule: RuleWeeklyHours, Start: s, End: e, Value: round2(worst), Limit: lim.WeeklyHours,
			Message: fmt.Sprintf("%.1f duty hours per week averaged over %d days; the limit is %g", worst, lim.WindowDays, lim.WeeklyHours)}
	}}
	tl.windows(r, lim.WindowDays, tl.hoursOn, func(s int64, sum float64) {
		avg := sum / weeks
		rs.add(s, avg > lim.WeeklyHours+1e-9, avg, higher)
	})
	rs.flush()
	return rs.out
}

// DaysOff: at least DaysOffPerWeek days free of duty per week, averaged over every WindowDays
// window (4 free days in 28).
func DaysOff(tl *Timeline, r Range, lim Limits) []Violation {
	need := float64(lim.WindowDays / 7 * lim.DaysOffPerWeek)
	free := func(d int64) float64 {
		if tl.hoursOn(d) == 0 {
			return 1
		}
		return 0
	}
	rs := &runs{tl: tl, w: lim.WindowDays, finalize: func(s, e time.Time, worst float64) Violation {
		return Violation{Rule: RuleDayOff, Start: s, End: e, Value: worst, Limit: need,
			Message: fmt.Sprintf("%g duty-free days in %d; at least %g required (one day in seven)", worst, lim.WindowDays, need)}
	}}
	tl.windows(r, lim.WindowDays, free, func(s int64, sum float64) { rs.add(s, sum < need, sum, lower) })
	rs.flush()
	return rs.out
}

// ConsecutiveDutyDays: no run of more than MaxConsecutiveDutyDays days with duty that overlaps r.
func ConsecutiveDutyDays(tl *Timeline, r Range, lim Limits) []Violation {
	from, to := tl.days(r)
	var out []Violation
	// Extend outwards so a run that crosses the range edges is measured whole.
	lo, hi := from, to
	for tl.hoursOn(lo-1) > 0 {
		lo--
	}
	for tl.hoursOn(hi) > 0 {
		hi++
	}
	for d := lo; d < hi; {
		if tl.hoursOn(d) == 0 {
			d++
			continue
		}
		s := d
		for d < hi && tl.hoursOn(d) > 0 {
			d++
		}
		if n := d - s; n > int64(lim.MaxConsecutiveDutyDays) && d > from && s < to {
			out = append(out, Violation{Rule: RuleConsecutiveDays, Start: midnight(s, tl.loc), End: midnight(d, tl.loc),
				Value: float64(n), Limit: float64(lim.MaxConsecutiveDutyDays),
				Message: fmt.Sprintf("%d consecutive days with duty; at most %d", n, lim.MaxConsecutiveDutyDays)})
		}
	}
	return out
}

// overlaps says whether [s, e) meets [lo, hi).
func overlaps(s, e, lo, hi time.Time) bool { return e.After(lo) && s.Before(hi) }

// ContinuousDuty: no continuous duty period longer than MaxContinuous plus Transition (24 + 4 h).
func ContinuousDuty(tl *Timeline, r Range, lim Limits) []Violation {
	var out []Violation
	limit := lim.MaxContinuous + lim.Transition
	lo, hi := tl.bounds(r)
	for _, p := range tl.periods {
		if p.length() > limit && overlaps(p.start, p.end, lo, hi) {
			out = append(out, Violation{Rule: RuleContinuousDuty, Start: p.start, End: p.end,
				Value: round2(p.length().Hours()), Limit: limit.Hours(),
				Message: fmt.Sprintf("%.1f hours of continuous duty; at most %g (%g plus %g for transition)",
					p.length().Hours(), limit.Hours(), lim.MaxContinuous.Hours(), lim.Transition.Hours())})
		}
	}
	return out
}

// DutyAfter24h: in the up to Transition hours a continuous duty period may run past
// MaxContinuous, only transitions of care and education may happen; ACGME VI.F.3.a).(1).(a):
// "Additional patient care responsibilities must not be assigned to a resident during this
// time." So no duty other than education (Duty.Education) may run past the period's first
// MaxContinuous hours. One violation per period, Value the hours of such duty past that point;
// a period longer than MaxContinuous plus Transition is ContinuousDuty's alone.
func DutyAfter24h(tl *Timeline, r Range, lim Limits) []Violation {
	var out []Violation
	lo, hi := tl.bounds(r)
	for _, p := range tl.periods {
		if p.length() <= lim.MaxContinuous || p.length() > lim.MaxContinuous+lim.Transition || !overlaps(p.start, p.end, lo, hi) {
			continue
		}
		if h := PatientCareAfter(tl.duties[p.first:p.last], p.start.Add(lim.MaxContinuous)); h > 0 {
			out = append(out, Violation{Rule: RuleDutyAfter24h, Start: p.start.Add(lim.MaxContinuous), End: p.end,
				Value: round2(h.Hours()), Limit: 0,
				Message: fmt.Sprintf("%.1f hours of patient care assigned after %g hours of continuous duty; only transitions of care and education may follow",
					h.Hours(), lim.MaxContinuous.Hours())})
		}
	}
	return out
}

// PatientCareAfter is how long the duties other than education run past cut: duties scheduled
// as patient care that a period's first MaxContinuous hours do not hold. The duties are one
// period's, in start order; overlapping ones count once.
func PatientCareAfter(duties []Duty, cut time.Time) time.Duration {
	var total time.Duration
	covered := cut
	for _, d := range duties {
		if d.Education || !d.End.After(covered) {
			continue
		}
		total += d.End.Sub(later(d.Start, covered))
		covered = d.End
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Overlap: no session starts before an earlier one of the same person has ended (a session
// starting exactly when another ends does not overlap it). Judged where the overlap meets r.
func Overlap(tl *Timeline, r Range, _ Limits) []Violation {
	var out []Violation
	if len(tl.duties) == 0 {
		return nil
	}
	lo, hi := tl.bounds(r)
	reach := tl.duties[0].End // the latest end of the sessions so far (sorted by start)
	for _, d := range tl.duties[1:] {
		if d.Start.Before(reach) {
			end := reach
			if d.End.Before(end) {
				end = d.End
			}
			if overlaps(d.Start, end, lo, hi) {
				h := end.Sub(d.Start).Hours()
				out = append(out, Violation{Rule: RuleOverlap, Start: d.Start, End: end, Value: round2(h), Limit: 0,
					Message: fmt.Sprintf("two sessions overlap for %.1f hours; one person holds one session at a time", h)})
			}
		}
		reach = later(reach, d.End)
	}
	return out
}

// Rest: at least MinRest off between duty periods, and MinRestAfterExtended after a period of
// MaxContinuous or more. The gap is judged where either period meets r.
func Rest(tl *Timeline, r Range, lim Limits) []Violation {
	var out []Violation
	lo, hi := tl.bounds(r)
	for i := 1; i < len(tl.periods); i++ {
		prev, next := tl.periods[i-1], tl.periods[i]
		if !overlaps(prev.start, next.end, lo, hi) {
			continue
		}
		gap := next.start.Sub(prev.end)
		rule, need := RuleRest, lim.MinRest
		if prev.length() >= lim.MaxContinuous {
			rule, need = RuleRestAfterCall, lim.MinRestAfterExtended
		}
		if gap < need {
			out = append(out, Violation{Rule: rule, Start: prev.end, End: next.start, Value: round2(gap.Hours()), Limit: need.Hours(),
				Message: fmt.Sprintf("%.1f hours off before the next duty; at least %g required", gap.Hours(), need.Hours())})
		}
	}
	return out
}

// CallFrequency: in-house call no more often than every CallEveryNthNight-th night, averaged
// over every WindowDays window (at most 9 call nights in 28 days).
func CallFrequency(tl *Timeline, r Range, lim Limits) []Violation {
	most := float64(lim.WindowDays / lim.CallEveryNthNight)
	rs := &runs{tl: tl, w: lim.WindowDays, finalize: func(s, e time.Time, worst float64) Violation {
		return Violation{Rule: RuleCallFrequency, Start: s, End: e, Value: worst, Limit: most,
			Message: fmt.Sprintf("%g in-house call nights in %d days; at most %g (every %s night)", worst, lim.WindowDays, most, ordinal(lim.CallEveryNthNight))}
	}}
	per := func(d int64) float64 { return float64(tl.callsOn(d)) }
	tl.windows(r, lim.WindowDays, per, func(s int64, sum float64) { rs.add(s, sum > most, sum, higher) })
	rs.flush()
	return rs.out
}

// Staffing is one half-day's supervision picture: the PGY level of every resident whose activity
// needs supervision, and how many faculty supervise.
type Staffing struct {
	Slot      time.Time
	Residents []int
	Faculty   int
}

// Units is the supervision demand of s: PGY1Units per PGY-1 resident, SeniorUnits per other.
func (s Staffing) Units(lim Limits) int {
	u := 0
	for _, pgy := range s.Residents {
		if pgy <= 1 {
			u += lim.PGY1Units
		} else {
			u += lim.SeniorUnits
		}
	}
	return u
}

// FacultyNeeded is how many supervising faculty the units require.
func FacultyNeeded(units int, lim Limits) int {
	return (units + lim.FacultyUnits - 1) / lim.FacultyUnits
}

// Supervision: each supervising faculty member covers FacultyUnits units. It returns nil when
// the slot is covered.
func Supervision(s Staffing, lim Limits) *Violation {
	units := s.Units(lim)
	need := FacultyNeeded(units, lim)
	if s.Faculty >= need {
		return nil
	}
	return &Violation{Rule: RuleSupervision, Start: s.Slot, End: s.Slot, Value: float64(s.Faculty), Limit: float64(need),
		Message: fmt.Sprintf("%d supervising faculty for %d supervision units; %d needed (%d units each)", s.Faculty, units, need, lim.FacultyUnits)}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ordinal(n int) string {
	switch n {
	case 2:
		return "second"
	case 3:
		return "third"
	case 4:
		return "fourth"
	}
	return fmt.Sprintf("%dth", n)
}

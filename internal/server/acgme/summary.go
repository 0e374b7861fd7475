package acgme

import "time"

// Summary is what a compliance report says about one resident over a stretch of days: the
// measures behind the rules, read from the same Timeline the rules judge (its hours per civil
// day, its call nights and its continuous periods), so a report and the validator never
// disagree about a number.
type Summary struct {
	// Days is how many civil days the stretch has.
	Days int `json:"days"`
	// DutyHours is the duty in the stretch's days (a night call counts on each day it covers).
	DutyHours float64 `json:"duty_hours"`
	// WeeklyAverage is DutyHours per 7 days of the stretch (the 80-hour rule's measure when
	// the stretch is WindowDays long).
	WeeklyAverage float64 `json:"weekly_average_hours"`
	// DaysOff counts the days free of duty (DaysOff's measure).
	DaysOff int `json:"days_off"`
	// Calls counts the in-house call nights that start in the stretch (CallFrequency's measure).
	Calls int `json:"in_house_calls"`
	// ShortestRest is the shortest time off between two continuous duty periods whose gap
	// meets the stretch, as Rest judges it; nil when there is no such gap.
	ShortestRest *float64 `json:"shortest_rest_hours"`
	// LongestContinuous is the longest continuous duty period (duties joined across breaks of
	// at most MaxBreak) that meets the stretch, in hours, as ContinuousDuty measures it.
	LongestContinuous float64 `json:"longest_continuous_hours"`
}

// Summarize measures tl over the civil days of r.
func Summarize(tl *Timeline, r Range) Summary {
	from, to := tl.days(r)
	var s Summary
	for d := from; d < to; d++ {
		s.Days++
		h := tl.hoursOn(d)
		s.DutyHours += h
		if h == 0 {
			s.DaysOff++
		}
		s.Calls += tl.callsOn(d)
	}
	s.DutyHours = round2(s.DutyHours)
	if s.Days > 0 {
		s.WeeklyAverage = round2(s.DutyHours / (float64(s.Days) / 7))
	}
	lo, hi := tl.bounds(r)
	var longest time.Duration
	for _, p := range tl.periods {
		if overlaps(p.start, p.end, lo, hi) && p.length() > longest {
			longest = p.length()
		}
	}
	s.LongestContinuous = round2(longest.Hours())
	for i := 1; i < len(tl.periods); i++ {
		prev, next := tl.periods[i-1], tl.periods[i]
		if !overlaps(prev.start, next.end, lo, hi) {
			continue
		}
		if gap := round2(next.start.Sub(prev.end).Hours()); s.ShortestRest == nil || gap < *s.ShortestRest {
			s.ShortestRest = &gap
		}
	}
	return s
}

// PeakWeeklyAverage is the highest weekly average of duty hours over every WindowDays window
// that overlaps r: the number the 80-hour rule (WeeklyHours) compares with its limit, at its
// worst. 0 when r is empty.
func PeakWeeklyAverage(tl *Timeline, r Range, lim Limits) float64 {
	weeks := float64(lim.WindowDays) / 7
	peak := 0.0
	tl.windows(r, lim.WindowDays, tl.hoursOn, func(_ int64, sum float64) { peak = max(peak, sum/weeks) })
	return round2(peak)
}

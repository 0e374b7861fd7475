package acgme

import (
	"testing"
	"time"
)

func call(day int) Duty {
	d := shift(day, 13, 18)
	d.Call = true
	return d
}

func hours(v float64) *float64 { return &v }

func TestSummarizeMeasuresWhatTheRulesJudge(t *testing.T) {
	week := Range{From: day0, To: day0.AddDate(0, 0, 7)}
	cases := []struct {
		name   string
		duties []Duty
		r      Range
		want   Summary
	}{
		{"nothing scheduled", nil, month, Summary{Days: 28, DaysOff: 28}},
		{"80 hours a week exactly", block(span(0, 20), 7, 16), month,
			Summary{Days: 28, DutyHours: 320, WeeklyAverage: 80, DaysOff: 8, ShortestRest: hours(8), LongestContinuous: 16}},
		// A morning session and an afternoon call are one 24-hour period: the rest after it
		// is measured from 07:00, the call counts on the day it starts.
		{"a 24-hour call and the rest after it", []Duty{shift(0, 7, 6), call(0), shift(1, 21, 6)}, week,
			Summary{Days: 7, DutyHours: 30, WeeklyAverage: 30, DaysOff: 4, Calls: 1, ShortestRest: hours(14), LongestContinuous: 24}},
		// A 2-hour lunch is a break inside the day, not time off: one 10-hour period.
		{"a lunch break joins a day", []Duty{shift(0, 7, 4), shift(0, 13, 4), shift(1, 7, 4)}, week,
			Summary{Days: 7, DutyHours: 12, WeeklyAverage: 12, DaysOff: 5, ShortestRest: hours(14), LongestContinuous: 10}},
		// A gap that straddles the start of the range is judged, as Rest judges it; a shorter
		// one wholly before the range is not, and a period wholly before it is not the longest.
		{"a gap straddling the range start", []Duty{shift(-3, 0, 20), shift(-2, 2, 6), shift(-1, 18, 4), shift(0, 7, 6)}, week,
			Summary{Days: 7, DutyHours: 6, WeeklyAverage: 6, DaysOff: 6, ShortestRest: hours(9), LongestContinuous: 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Summarize(NewTimeline(time.UTC, c.duties, Default().MaxBreak), c.r)
			if !sameSummary(got, c.want) {
				t.Fatalf("got %+v (rest %v), want %+v (rest %v)", got, deref(got.ShortestRest), c.want, deref(c.want.ShortestRest))
			}
		})
	}
}

func sameSummary(a, b Summary) bool {
	ra, rb := a.ShortestRest, b.ShortestRest
	a.ShortestRest, b.ShortestRest = nil, nil
	return a == b && (ra == nil) == (rb == nil) && (ra == nil || *ra == *rb)
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestPeakWeeklyAverageIsTheEightyHourRulesWorstWindow(t *testing.T) {
	cases := []struct {
		name   string
		duties []Duty
		want   float64
	}{
		{"exactly 80 h a week", block(span(0, 20), 7, 16), 80},
		{"80.5 h a week", append(block(span(0, 20), 7, 16), shift(20, 8, 2)), 80.5},
		{"a window straddling the range start", block(span(-14, 14), 7, 12), 84},
		{"an overload entirely before the range", block(span(-60, -32), 7, 12), 0},
		{"nothing scheduled", nil, 0},
	}
	lim := Default()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := NewTimeline(time.UTC, c.duties, lim.MaxBreak)
			got := PeakWeeklyAverage(tl, month, lim)
			if got != c.want {
				t.Fatalf("peak %v, want %v", got, c.want)
			}
			// The report's peak and the rule agree: above the limit exactly when it fires.
			if violated := len(WeeklyHours(tl, month, lim)) > 0; violated != (got > lim.WeeklyHours) {
				t.Fatalf("peak %v but WeeklyHours violated=%v", got, violated)
			}
		})
	}
}

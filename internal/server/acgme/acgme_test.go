package acgme

import (
	"slices"
	"testing"
	"time"
)

// day0 is the first day of the range the tests judge: [day0, day0+28).
var day0 = time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)

func at(day int, hour float64) time.Time {
	return day0.AddDate(0, 0, day).Add(time.Duration(hour * float64(time.Hour)))
}

// shift is a duty on day from hour (0-24) lasting hours.
func shift(day int, hour, hours float64) Duty {
	return Duty{Start: at(day, hour), End: at(day, hour).Add(time.Duration(hours * float64(time.Hour)))}
}

func block(days []int, hour, hours float64) []Duty {
	var out []Duty
	for _, d := range days {
		out = append(out, shift(d, hour, hours))
	}
	return out
}

func span(from, to int) []int {
	var out []int
	for d := from; d < to; d++ {
		out = append(out, d)
	}
	return out
}

var month = Range{From: day0, To: day0.AddDate(0, 0, 28)}

func run(rule func(*Timeline, Range, Limits) []Violation, duties []Duty, r Range) []Violation {
	lim := Default()
	return rule(NewTimeline(time.UTC, duties, lim.MaxBreak), r, lim)
}

func TestWeeklyHoursBoundaries(t *testing.T) {
	exactly := block(span(0, 20), 7, 16) // 320 h in 28 days: 80 h a week
	over := append(block(span(0, 20), 7, 16), shift(20, 8, 2))
	cases := []struct {
		name    string
		duties  []Duty
		r       Range
		want    int
		wantMax float64
	}{
		{"exactly 80 h a week passes", exactly, month, 0, 0},
		{"80.5 h a week fails", over, month, 1, 80.5},
		// 14 heavy days before the range and 14 in it: only the windows that straddle the
		// range's start hold more than 320 h.
		{"a window straddling the range start", block(span(-14, 14), 7, 12), month, 1, 84},
		{"a window straddling the range end", block(span(14, 42), 7, 12), month, 1, 84},
		// An overload that ended more than 27 days before the range touches no window of it.
		{"an overload entirely before the range", block(span(-60, -32), 7, 12), month, 0, 0},
		{"nothing scheduled", nil, month, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(WeeklyHours, c.duties, c.r)
			if len(got) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(got), c.want, got)
			}
			if c.want > 0 && (got[0].Value != c.wantMax || got[0].Rule != RuleWeeklyHours || got[0].Limit != 80) {
				t.Fatalf("violation %+v, want value %v", got[0], c.wantMax)
			}
		})
	}
}

func TestWeeklyHoursReportsOneViolationPerRunOfWindows(t *testing.T) {
	// 28 days of 12 h: every window that holds at least 27 of them breaks the limit; they are
	// consecutive, so they make one violation spanning them all.
	got := run(WeeklyHours, block(span(0, 28), 7, 12), month)
	if len(got) != 1 {
		t.Fatalf("%+v", got)
	}
	if got[0].Value != 84 || !got[0].Start.Equal(at(-1, 0)) || !got[0].End.Equal(at(29, 0)) {
		t.Fatalf("%+v", got[0])
	}
}

func TestDaysOffBoundaries(t *testing.T) {
	sixOnOneOff := func(days int) []int { // days 6, 13, 20, 27 off
		var out []int
		for d := range days {
			if d%7 != 6 {
				out = append(out, d)
			}
		}
		return out
	}
	cases := []struct {
		name   string
		duties []int
		want   int
	}{
		{"four days off in 28 passes", sixOnOneOff(28), 0},
		{"three days off in 28 fails", append(sixOnOneOff(28), 13), 1},
		{"every day on duty fails", span(0, 28), 1},
		{"a straddling window with three days off", append(span(-20, 0), span(0, 8)...), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(DaysOff, block(c.duties, 8, 4), month)
			if len(got) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(got), c.want, got)
			}
			if c.want > 0 && (got[0].Rule != RuleDayOff || got[0].Limit != 4 || got[0].Value >= 4) {
				t.Fatalf("%+v", got[0])
			}
		})
	}
}

func TestConsecutiveDutyDays(t *testing.T) {
	cases := []struct {
		name      string
		days      []int
		want      int
		wantStart int
		wantLen   float64
	}{
		{"six in a row passes", span(0, 6), 0, 0, 0},
		{"seven in a row fails", span(0, 7), 1, 0, 7},
		{"a run that starts before the range is measured whole", span(-3, 4), 1, -3, 7},
		{"a run that ends before the range is not this range's", span(-10, 0), 0, 0, 0},
		{"two runs of six with a day off between", append(span(0, 6), span(7, 13)...), 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(ConsecutiveDutyDays, block(c.days, 8, 4), month)
			if len(got) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(got), c.want, got)
			}
			if c.want > 0 && (!got[0].Start.Equal(at(c.wantStart, 0)) || got[0].Value != c.wantLen) {
				t.Fatalf("%+v", got[0])
			}
		})
	}
}

func TestContinuousDuty(t *testing.T) {
	cases := []struct {
		name   string
		duties []Duty
		want   int
	}{
		{"24 h plus 4 h of transition passes", []Duty{shift(0, 7, 28)}, 0},
		{"28.5 h fails", []Duty{shift(0, 7, 28.5)}, 1},
		// A one-hour break on site does not end the period: 12 h + 1 h + 16 h = 29 h.
		{"shifts joined by a one-hour break", []Duty{shift(0, 7, 12), shift(0, 20, 16)}, 1},
		{"back-to-back sessions", []Duty{shift(0, 7, 5), shift(0, 12, 5), shift(0, 17, 14)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(ContinuousDuty, c.duties, month)
			if len(got) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(got), c.want, got)
			}
		})
	}
}

func education(d Duty) Duty {
	d.Education = true
	return d
}

// TestDutyAfter24h: after 24 hours of continuous duty only transitions of care and education
// may follow (ACGME VI.F.3.a).(1).(a)); a period of 24 h or less is never concerned.
func TestDutyAfter24h(t *testing.T) {
	cases := []struct {
		name   string
		duties []Duty
		want   float64 // hours of patient care past hour 24; 0 = no violation
	}{
		// Wards 07-13 and an 18-hour call 13-07: exactly 24 h, nothing after.
		{"wards and call end at hour 24", []Duty{shift(0, 7, 6), shift(0, 13, 18)}, 0},
		// The same plus a morning clinic 07-11: 28 h, within the old 24 + 4, but the clinic is
		// patient care in hours 24-28.
		{"wards, call and a morning clinic", []Duty{shift(0, 7, 6), shift(0, 13, 18), shift(1, 7, 4)}, 4},
		// Call 13-07, then a ward morning 07-13 (hour 24 at 13:00 the day after), then an
		// afternoon clinic: the clinic starts at hour 24.
		{"call, ward morning, afternoon clinic", []Duty{shift(0, 13, 18), shift(1, 7, 6), shift(1, 13, 4)}, 4},
		// Didactics after the call are education: allowed in the 4 hours.
		{"call then a morning conference", []Duty{shift(0, 7, 6), shift(0, 13, 18), education(shift(1, 7, 4))}, 0},
		// One minute of patient care past hour 24.
		{"a shift one minute past hour 24", []Duty{shift(0, 7, 24+1.0/60)}, 0.02},
		// A 2-hour break does not restart the clock: 07-11, 13-07 (18 h) ends at hour 24.
		{"a break inside the period counts", []Duty{shift(0, 7, 4), shift(0, 13, 18)}, 0},
		{"a break inside the period, then more", []Duty{shift(0, 7, 4), shift(0, 13, 18), shift(1, 7, 1)}, 1},
		// Overlapping duties count once.
		{"overlapping duties past hour 24", []Duty{shift(0, 7, 26), shift(1, 6, 2)}, 2},
		// Past 28 hours it is continuous_duty's violation, not a second one.
		{"a period over 28 hours", []Duty{shift(0, 7, 6), shift(0, 13, 18), shift(1, 7, 6)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(DutyAfter24h, c.duties, month)
			if c.want == 0 {
				if len(got) != 0 {
					t.Fatalf("%+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Rule != RuleDutyAfter24h || got[0].Value != c.want {
				t.Fatalf("%+v, want one %s of %v h", got, RuleDutyAfter24h, c.want)
			}
		})
	}
}

func TestRestBetweenShifts(t *testing.T) {
	cases := []struct {
		name   string
		duties []Duty
		want   Rule
	}{
		{"eight hours off passes", []Duty{shift(0, 8, 10), shift(1, 2, 4)}, ""},
		{"one minute short of eight fails", []Duty{shift(0, 8, 10), shift(1, 1+59.0/60, 4)}, RuleRest},
		// A break inside a working day is not time off: a 2-hour lunch between a 4-hour morning
		// clinic and an afternoon on the wards, and a gap of exactly MaxBreak (4 h), join one
		// period. A gap just over it is time off, and far too little of it.
		{"a 2-hour lunch is not time off", []Duty{shift(0, 7, 4), shift(0, 13, 6)}, ""},
		{"a 4-hour gap is still a break", []Duty{shift(0, 7, 4), shift(0, 15, 4)}, ""},
		{"4 h 1 min between shifts is time off, too little", []Duty{shift(0, 7, 4), shift(0, 15+1.0/60, 4)}, RuleRest},
		{"14 h after a 24-h call passes", []Duty{shift(0, 7, 24), shift(1, 21, 4)}, ""},
		{"13 h after a 24-h call fails", []Duty{shift(0, 7, 24), shift(1, 20, 4)}, RuleRestAfterCall},
		{"13 h after a 23-h shift is enough", []Duty{shift(0, 7, 23), shift(1, 19, 4)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(Rest, c.duties, month)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("%+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Rule != c.want {
				t.Fatalf("%+v, want one %s", got, c.want)
			}
		})
	}
}

func calls(days []int) []Duty {
	var out []Duty
	for _, d := range days {
		c := shift(d, 17, 14)
		c.Call = true
		out = append(out, c)
	}
	return out
}

func TestCallFrequency(t *testing.T) {
	every := func(n, from, to int) []int {
		var out []int
		for d := from; d < to; d += n {
			out = append(out, d)
		}
		return out
	}
	cases := []struct {
		name string
		days []int
		want int
	}{
		{"nine call nights in 28 days passes", every(3, 0, 25), 0},
		{"ten call nights in 28 days fails", every(3, 0, 28), 1},
		{"every other night fails", every(2, 0, 28), 1},
		{"straddling: six before the range and four in it", every(3, -18, 10), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(CallFrequency, calls(c.days), month)
			if len(got) != c.want {
				t.Fatalf("%d violations, want %d: %+v", len(got), c.want, got)
			}
			if c.want > 0 && (got[0].Limit != 9 || got[0].Value <= 9) {
				t.Fatalf("%+v", got[0])
			}
		})
	}
}

func TestSupervision(t *testing.T) {
	cases := []struct {
		name      string
		residents []int
		faculty   int
		need      int
	}{
		{"no residents, no faculty", nil, 0, 0},
		{"two PGY-1 are four units: one faculty", []int{1, 1}, 1, 1},
		{"four seniors are four units: one faculty", []int{2, 3, 2, 3}, 1, 1},
		{"two PGY-1 and a PGY-2 are five units: two faculty", []int{1, 1, 2}, 1, 2},
		{"one PGY-1 alone needs a faculty member", []int{1}, 0, 1},
		{"eight units, two faculty", []int{1, 1, 1, 1}, 2, 2},
	}
	lim := Default()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Supervision(Staffing{Slot: day0, Residents: c.residents, Faculty: c.faculty}, lim)
			if FacultyNeeded(Staffing{Residents: c.residents}.Units(lim), lim) != c.need {
				t.Fatalf("need %d", c.need)
			}
			if (v != nil) != (c.faculty < c.need) {
				t.Fatalf("violation %+v with %d faculty for a need of %d", v, c.faculty, c.need)
			}
			if v != nil && (v.Limit != float64(c.need) || v.Rule != RuleSupervision) {
				t.Fatalf("%+v", v)
			}
		})
	}
}

func TestHoursAreRealHoursSplitAtLocalMidnight(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-01 has 25 hours in Chicago (daylight saving time ends).
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, chicago)
	tl := NewTimeline(chicago, []Duty{{Start: start, End: time.Date(2026, 11, 2, 0, 0, 0, 0, chicago)}}, time.Hour)
	if h := tl.hoursOn(civilDay(start, chicago)); h != 25 {
		t.Fatalf("%v hours on the 25-hour day", h)
	}
	// A night shift counts on both days.
	night := NewTimeline(time.UTC, []Duty{shift(0, 20, 12)}, time.Hour)
	if a, b := night.hoursOn(civilDay(at(0, 0), time.UTC)), night.hoursOn(civilDay(at(1, 0), time.UTC)); a != 4 || b != 8 {
		t.Fatalf("night shift split %v + %v", a, b)
	}
}

func TestCheckNamesThePersonAndRunsEveryRule(t *testing.T) {
	duties := append(block(span(0, 28), 7, 12), calls(span(0, 28))...)
	got := Check("r-1", NewTimeline(time.UTC, duties, time.Hour), month, Default())
	seen := map[Rule]bool{}
	for _, v := range got {
		if v.PersonID != "r-1" || v.Message == "" {
			t.Fatalf("%+v", v)
		}
		seen[v.Rule] = true
	}
	for _, r := range []Rule{RuleWeeklyHours, RuleDayOff, RuleConsecutiveDays, RuleContinuousDuty, RuleCallFrequency} {
		if !seen[r] {
			t.Errorf("no %s violation in %+v", r, seen)
		}
	}
	// Wards, an 18-hour call and a morning clinic: 28 hours, patient care in hours 24-28.
	got = Check("r-2", NewTimeline(time.UTC, []Duty{shift(0, 7, 6), shift(0, 13, 18), shift(1, 7, 4)}, Default().MaxBreak), month, Default())
	if len(got) != 1 || got[0].Rule != RuleDutyAfter24h || got[0].PersonID != "r-2" {
		t.Errorf("wards, call and a clinic: %+v, want one %s for r-2", got, RuleDutyAfter24h)
	}
}

func TestOverlapBoundaries(t *testing.T) {
	minute := time.Minute.Hours()
	for _, c := range []struct {
		name   string
		duties []Duty
		want   []float64 // the overlaps found, in hours
	}{
		{"a night float after a day shift, end to start", []Duty{shift(3, 7, 12), shift(3, 19, 12)}, nil},
		{"one minute into the next", []Duty{shift(3, 7, 12+minute), shift(3, 19, 12)}, []float64{round2(minute)}},
		{"a clinic inside a day shift", []Duty{shift(3, 7, 12), shift(3, 13, 4)}, []float64{4}},
		{"a 24-hour call and the next morning's clinic", []Duty{shift(3, 7, 24), shift(4, 7, 4)}, nil},
		{"the same session twice", []Duty{shift(3, 7, 6), shift(3, 7, 6)}, []float64{6}},
		{"a long shift covering two later ones", []Duty{shift(3, 7, 24), shift(3, 13, 4), shift(3, 19, 2)}, []float64{4, 2}},
		{"overlap across midnight", []Duty{shift(3, 19, 12), shift(4, 6, 4)}, []float64{1}},
		{"outside the range judged", []Duty{shift(40, 7, 12), shift(40, 13, 4)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []float64
			for _, v := range run(Overlap, c.duties, month) {
				if v.Rule != RuleOverlap || v.Limit != 0 || !v.End.After(v.Start) {
					t.Fatalf("%+v", v)
				}
				got = append(got, v.Value)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("overlaps %v, want %v", got, c.want)
			}
		})
	}
	// Check runs it: a clinic inside a day shift is refused however short the day is.
	got := Check("r-3", NewTimeline(time.UTC, []Duty{shift(0, 7, 12), shift(0, 13, 4)}, Default().MaxBreak), month, Default())
	if len(got) != 1 || got[0].Rule != RuleOverlap {
		t.Errorf("Check of a clinic inside a day shift: %+v", got)
	}
}

// civilDay counts days from the local wall clock; it must agree with the calendar date of the
// instant in the zone, across DST changes, zones east and west of UTC, half-hour offsets and
// instants before 1970.
func TestCivilDayMatchesTheCalendarDate(t *testing.T) {
	for _, name := range []string{"UTC", "America/New_York", "Australia/Lord_Howe", "Pacific/Kiritimati", "Asia/Kolkata", "America/St_Johns"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range []time.Time{
			time.Date(1969, time.December, 30, 0, 0, 0, 0, time.UTC),
			time.Date(2026, time.March, 7, 0, 0, 0, 0, time.UTC),
			time.Date(2026, time.October, 3, 0, 0, 0, 0, time.UTC),
			time.Date(2026, time.November, 0, 0, 0, 0, 0, time.UTC),
		} {
			// Every 7.5 minutes for four days, and a nanosecond either side of each.
			for k := range 4 * 24 * 8 {
				at := start.Add(time.Duration(k)*7*time.Minute + time.Duration(k)*30*time.Second)
				for _, x := range []time.Time{at.Add(-time.Nanosecond), at, at.Add(time.Nanosecond)} {
					y, m, d := x.In(loc).Date()
					want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
					if got := civilDay(x, loc); got != want {
						t.Fatalf("%s: civilDay(%s) = %d, the calendar says %d (%04d-%02d-%02d)", name, x.In(loc), got, want, y, m, d)
					}
				}
			}
		}
	}
}

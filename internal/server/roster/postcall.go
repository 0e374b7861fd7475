package roster

import (
	"fmt"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// RulePostCallDay: the program's post-call day (hard; docs/scheduling.md). The day an overnight
// in-house call ends is the resident's post-call day: after the call's own handover, which is
// part of the call session, only education (a conference) may be scheduled that day; no clinic,
// ward, procedure or new call. ACGME alone would allow a resident who went on call at 13:00 to
// work a morning clinic after it up to hour 24 (VI.F.3.a).(1)); the predecessor made the day
// after every overnight call a post-call day (a post-call morning of handover and teaching, the
// afternoon off), as programs do. Home and backup call are not in-house call and have no duty
// hours: they neither start a post-call day nor are they sessions it forbids.
const RulePostCallDay acgme.Rule = "post_call_day"

// PostCallDay lists the violations of the post-call day rule among one resident's duties (in
// any order) that touch r: every duty other than education that starts on the day an overnight
// in-house call (Duty.Call, ending on a later day than it starts, in loc) ends, at or after the
// call's start, is one violation (Value its hours). A violation is judged where the call or the
// duty meets r, as acgme.Rest judges a gap.
func PostCallDay(loc *time.Location, duties []acgme.Duty, r acgme.Range) []acgme.Violation {
	var out []acgme.Violation
	for k, c := range duties {
		// Cheap tests first: the solver judges a window of weeks for a change of one half-day.
		if !c.Call || !c.Start.Before(r.To) || c.End.Add(48*time.Hour).Before(r.From) {
			continue
		}
		end, ok := postCallDayOf(c, loc)
		if !ok {
			continue
		}
		lo, hi := end.In(loc), end.AddDays(1).In(loc)
		for n, d := range duties {
			if n == k || d.Education || d.Start.Before(lo) || !d.Start.Before(hi) || d.Start.Before(c.Start) {
				continue
			}
			if !d.End.After(r.From) && !c.End.After(r.From) || !d.Start.Before(r.To) && !c.Start.Before(r.To) {
				continue
			}
			h := d.End.Sub(d.Start).Hours()
			out = append(out, acgme.Violation{Rule: RulePostCallDay, Start: d.Start, End: d.End, Value: h, Limit: 0,
				Message: fmt.Sprintf("%.1f hours of duty on %s, the post-call day after the overnight call from %s: only education may follow an overnight call that day",
					h, end, c.Start.In(loc).Format("2006-01-02 15:04"))})
		}
	}
	return out
}

// postCallDayOf is the post-call day of duty c: the day it ends, if it is an in-house call that
// ends on a later day than it starts (an end at midnight is the day before's).
func postCallDayOf(c acgme.Duty, loc *time.Location) (Date, bool) {
	if !c.Call {
		return Date{}, false
	}
	end := dateIn(c.End.Add(-time.Nanosecond), loc)
	return end, end != dateIn(c.Start, loc)
}

// dateIn is the calendar day of t in loc.
func dateIn(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// checkDuties is every duty-hour rule for one resident's duties over r: acgme.Check's, and the
// post-call day unless the problem switches it off. The solver, the validator and the repair
// planner judge with it.
func (p *Problem) checkDuties(id string, tl *acgme.Timeline, duties []acgme.Duty, r acgme.Range) []acgme.Violation {
	out := acgme.Check(id, tl, r, p.Limits)
	if p.NoPostCallDay {
		return out
	}
	for _, v := range PostCallDay(p.Location, duties, r) {
		v.PersonID = id
		out = append(out, v)
	}
	return out
}

// writePostCallDay (PostCallDay): resident i cannot hold both an overnight in-house call and a
// session other than education that starts on the day the call ends.
func (m *lpBuilder) writePostCallDay(i personIdx) {
	s := m.s
	if s.problem.NoPostCallDay {
		return
	}
	for j := range s.nSlots {
		for _, t := range m.sessions(i, j) {
			c, ok := s.templates[t].Duty(s.slots[j], s.loc)
			end, post := postCallDayOf(c, s.loc)
			if !ok || !post {
				continue
			}
			for n := j + 1; n < s.nSlots && n <= j+4; n++ {
				for _, u := range m.sessions(i, n) {
					d, ok := s.templates[u].Duty(s.slots[n], s.loc)
					if ok && !d.Education && !d.Start.Before(c.Start) && dateIn(d.Start, s.loc) == end {
						m.b.start("")
						m.b.term(1, xVar(i, j, t))
						m.b.term(1, xVar(i, n, u))
						m.b.rel("<=", 1)
					}
				}
			}
		}
	}
}

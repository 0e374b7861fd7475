package roster

import (
	"fmt"
	"math"
)

// Day-off requests: a resident asks not to work on a date (a wedding, an exam, a child's first
// day of school) without taking leave. The solver weighs each request like a preference: every
// session the resident holds that starts on the date costs Weights.Preference × the request's
// weight, so a request is honoured unless coverage, the hard rules or heavier goals need them
// that day; the run says which were honoured and, if not, how many half-days they held. A
// session of the day before that runs into the date (a night float) is not counted: the
// request is about the day's own sessions. Faculty are placed by supervision and faculty
// shifts, not by the search: their requests steer who is chosen (supervision.go: a request
// weighs against the member's preference for the template, so among faculty who like it
// equally one who asked for the day off comes last, and a faculty shift's continuity does not
// keep them on that day), and are not in the cost.

// DayOffRequest is one resident's wish to be free on one date.
type DayOffRequest struct {
	PersonID string  `json:"person_id"`
	Date     Date    `json:"date"`
	Weight   float64 `json:"weight"`
}

// DayOffOutcome says whether a schedule honoured a day-off request.
type DayOffOutcome struct {
	DayOffRequest
	// Sessions is how many half-days the person holds that start on the date.
	Sessions int    `json:"sessions"`
	Honoured bool   `json:"honoured"`
	Why      string `json:"why,omitempty"`
}

// checkDayOffRequests refuses requests naming unknown people, dates outside the range or
// weights that are not positive.
func (p *Problem) checkDayOffRequests(people map[string]Person) error {
	for i, r := range p.DayOffRequests {
		switch x, ok := people[r.PersonID]; {
		case !ok:
			return inputErrorf("day-off request %d names unknown person %q", i, r.PersonID)
		case x.Type != Resident && x.Type != Faculty:
			return inputErrorf("day-off request %d: %s is a learner (only residents' and faculty's requests are weighed)", i, r.PersonID)
		case r.Date.Before(p.From) || p.To.Before(r.Date):
			return inputErrorf("day-off request %d: %s is outside %s..%s", i, r.Date, p.From, p.To)
		case !(r.Weight > 0) || math.IsInf(r.Weight, 0):
			return inputErrorf("day-off request %d: the weight must be positive", i)
		}
	}
	return nil
}

// layOutDayOff sets dayOff[person][slot], the weight of the requests for the slot's date.
func (s *solver) layOutDayOff() {
	s.dayOff = make([][]float64, len(s.people))
	for _, r := range s.problem.DayOffRequests {
		i := s.ids.person[r.PersonID]
		if s.dayOff[i] == nil {
			s.dayOff[i] = make([]float64, s.nSlots)
		}
		for _, h := range []Half{AM, PM} {
			s.dayOff[i][Slot{r.Date, h}.Index(s.problem.From)] += r.Weight
		}
	}
}

// dayOffAt is the weight of person i's day-off requests for slot j (0 without).
func (s *solver) dayOffAt(i personIdx, j slotIdx) float64 {
	if d := s.dayOff[i]; d != nil {
		return d[j]
	}
	return 0
}

// ExplainDayOffRequests judges p.DayOffRequests against assignments.
func ExplainDayOffRequests(p *Problem, assignments []Assignment) []DayOffOutcome {
	if len(p.DayOffRequests) == 0 {
		return nil
	}
	type key struct {
		person string
		date   Date
	}
	held := map[key]int{}
	for _, a := range assignments {
		held[key{a.PersonID, a.Slot.Date}]++
	}
	faculty := map[string]bool{}
	for _, x := range p.People {
		faculty[x.ID] = x.Type == Faculty
	}
	out := make([]DayOffOutcome, 0, len(p.DayOffRequests))
	for _, r := range p.DayOffRequests {
		o := DayOffOutcome{DayOffRequest: r, Sessions: held[key{r.PersonID, r.Date}]}
		o.Honoured = o.Sessions == 0
		switch {
		case o.Honoured:
		case faculty[r.PersonID]:
			o.Why = fmt.Sprintf("placed on %d half-day(s) that day: supervision or a faculty shift needed them (no other credentialed faculty member was free within their weekly cap)", o.Sessions)
		default:
			o.Why = fmt.Sprintf("placed on %d half-day(s) that day: coverage, the hard rules or heavier goals needed them", o.Sessions)
		}
		out = append(out, o)
	}
	return out
}

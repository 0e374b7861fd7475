package roster

import "github.com/rsched/rsched/internal/server/acgme"

// supervised re-staffs the faculty of the (at most two) templates a move touched in slot j.
func (s *solver) supervised(j slotIdx, a, b templateIdx) bool {
	if a != free && !s.superviseOK(j, a) {
		return false
	}
	return b == free || s.superviseOK(j, b)
}

// superviseOK makes sure template t in slot j has the faculty its residents need, adding free
// faculty and releasing surplus ones; false if it cannot.
func (s *solver) superviseOK(j slotIdx, t templateIdx) bool {
	if !s.templates[t].SupervisionRequired {
		return true
	}
	need := acgme.FacultyNeeded(s.supervisionUnits[j][t], s.limits)
	s.releaseSurplusFaculty(j, t, need)
	for s.facultyOn[j][t] < need {
		f, ok := s.bestFreeFaculty(j, t)
		if !ok {
			return false
		}
		s.set(f, j, t)
	}
	return true
}

// releaseSurplusFaculty frees faculty on template t in slot j beyond need, as far as they are
// not locked there.
func (s *solver) releaseSurplusFaculty(j slotIdx, t templateIdx, need int) {
	for s.facultyOn[j][t] > need {
		for _, f := range s.faculty {
			if s.assigned[f][j] == t && !s.locked[f][j] {
				s.set(f, j, free)
				break
			}
		}
		if s.facultyOn[j][t] > need { // only locked faculty left
			return
		}
	}
}

// bestFreeFaculty picks who supervises template t next in slot j among the free faculty
// credentialed for it: the one with the most sessions left this week, so that a member with a
// tight cap is kept for when nobody else can come; among equals, the one with the fewest
// sessions this week.
func (s *solver) bestFreeFaculty(j slotIdx, t templateIdx) (personIdx, bool) {
	best, found := personIdx(0), false
	for _, f := range s.faculty {
		if !s.facultyFree(f, j, t) {
			continue
		}
		if !found || s.supervisesBefore(f, best, j, t) {
			best, found = f, true
		}
	}
	return best, found
}

// supervisesBefore says whether faculty f is preferred to g for template t in slot j: the one
// who likes t more (their preferences, less the weight of a day-off request for the day), then
// the one with more sessions left this week, then the one with fewer sessions this week.
func (s *solver) supervisesBefore(f, g personIdx, j slotIdx, t templateIdx) bool {
	if pf, pg := s.preference[f][t]-s.dayOffAt(f, j), s.preference[g][t]-s.dayOffAt(g, j); pf != pg {
		return pf > pg
	}
	lf, lg := s.sessionsLeft(f, j), s.sessionsLeft(g, j)
	return lf > lg || (lf == lg && s.facultySessions[f][j.week()] < s.facultySessions[g][j.week()])
}

// sessionsLeft is how many more half-days faculty f may supervise in slot j's week (uncapped
// faculty count as plenty).
func (s *solver) sessionsLeft(f personIdx, j slotIdx) int {
	if c := s.people[f].MaxSessionsPerWeek; c > 0 {
		return c - s.facultySessions[f][j.week()]
	}
	return 1 << 20
}

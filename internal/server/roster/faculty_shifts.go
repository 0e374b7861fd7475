package roster

import "fmt"

// Faculty shifts: a template with MinFaculty > 0 is staffed by faculty of its own, whether or not
// residents are on it (an inpatient attending, a faculty clinic, a faculty call). Supervision is
// then given by the faculty actually on shift: they count toward the template's supervision like
// any faculty member placed there. The solver staffs faculty shifts after the residents' search,
// with the faculty left free (supervision the residents need comes first), preferring the member
// who held the same template the day before (an attending week stays with one attending), then
// the one with the most sessions left that week. A shift left short is the soft
// RuleFacultyCoverage, reported, never bought with a hard rule; the weekly caps
// (max_sessions_per_week) count these sessions too.

// MaxFacultyPerTemplate bounds Template.MinFaculty.
const MaxFacultyPerTemplate = 100

// validateFaculty checks t's faculty minimum.
func (t Template) validateFaculty() error {
	if t.MinFaculty < 0 || t.MinFaculty > MaxFacultyPerTemplate {
		return fmt.Errorf("template %s: min_faculty is 0 to %d", t.ID, MaxFacultyPerTemplate)
	}
	return nil
}

// staffFacultyShifts brings every faculty shift up to its minimum with free faculty, as far as
// there are any.
func (s *solver) staffFacultyShifts() {
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if !s.staffed[j][t] || s.templates[t].MinFaculty == 0 {
				continue
			}
			for s.facultyOn[j][t] < s.templates[t].MinFaculty {
				f, ok := s.attendingFor(j, t)
				if !ok {
					break
				}
				s.set(f, j, t)
			}
		}
	}
	s.undoLog = s.undoLog[:0]
}

// attendingFor picks the faculty member to put on faculty shift t in slot j: the one who held t
// in the same half-day the day before, if free and without a day-off request for the day,
// otherwise bestFreeFaculty's choice.
func (s *solver) attendingFor(j slotIdx, t templateIdx) (personIdx, bool) {
	if j >= 2 {
		for _, f := range s.faculty {
			if s.assigned[f][j-2] == t && s.facultyFree(f, j, t) && s.dayOffAt(f, j) == 0 {
				return f, true
			}
		}
	}
	return s.bestFreeFaculty(j, t)
}

// facultyFree says whether faculty f may be put on t in slot j: free then, present, within
// their weekly cap, credentialed, and not on a shift of theirs that overlaps it.
func (s *solver) facultyFree(f personIdx, j slotIdx, t templateIdx) bool {
	return s.assigned[f][j] == free && !s.absent[f][j] && s.sessionsLeft(f, j) > 0 && s.credentialed(f, t) && !s.facultyOverlaps(f, j, t)
}

// facultyOverlaps says whether a session of faculty f in a nearby half-day overlaps t in slot
// j (only shifts with their own hours can: a day shift and an afternoon clinic).
func (s *solver) facultyOverlaps(f personIdx, j slotIdx, t templateIdx) bool {
	if !s.anyShift {
		return false
	}
	d, ok := s.templates[t].Duty(s.slots[j], s.loc)
	if !ok {
		return false
	}
	for n := max(0, j-3); n < min(s.nSlots, j+4); n++ {
		u := s.assigned[f][n]
		if n == j || u == free {
			continue
		}
		if e, ok := s.templates[u].Duty(s.slots[n], s.loc); ok && e.Start.Before(d.End) && d.Start.Before(e.End) {
			return true
		}
	}
	return false
}

package roster

import "slices"

// PlanEntry puts one resident on one rotation for the days [Start, End] (one academic block):
// on those days they hold only templates of that rotation or templates of no rotation.
type PlanEntry struct {
	PersonID   string `json:"person_id"`
	RotationID string `json:"rotation_id"`
	Start      Date   `json:"start_date"`
	End        Date   `json:"end_date"`
}

// Covers says whether the entry includes day d.
func (e PlanEntry) Covers(d Date) bool { return !d.Before(e.Start) && !e.End.Before(d) }

// RotationOn is the rotation the plan gives person id on day d, or "" (no plan for that day:
// every template stays open to them, as before there were plans).
func (p *Problem) RotationOn(id string, d Date) string {
	for _, e := range p.Plan {
		if e.PersonID == id && e.Covers(d) {
			return e.RotationID
		}
	}
	return ""
}

// PlanAllows says whether the block plan lets person id hold template t on day d: a template of
// no rotation is open to everyone, one of a rotation to those the plan puts on it that day and
// to those the plan does not cover that day.
func (p *Problem) PlanAllows(id string, t Template, d Date) bool {
	if t.RotationID == "" {
		return true
	}
	r := p.RotationOn(id, d)
	return r == "" || r == t.RotationID
}

// checkPlan refuses plan entries of unknown or non-resident people, without a rotation, ending
// before they start, or overlapping another entry of the same person.
func (p *Problem) checkPlan(people map[string]Person) error {
	byPerson := map[string][]PlanEntry{}
	for _, e := range p.Plan {
		x, ok := people[e.PersonID]
		switch {
		case !ok:
			return inputErrorf("a block plan entry names unknown person %q", e.PersonID)
		case x.Type != Resident:
			return inputErrorf("a block plan entry names %s, who is not a resident", e.PersonID)
		case e.RotationID == "":
			return inputErrorf("a block plan entry of %s has no rotation", e.PersonID)
		case e.End.Before(e.Start):
			return inputErrorf("a block plan entry of %s ends before it starts", e.PersonID)
		}
		if slices.ContainsFunc(byPerson[e.PersonID], func(o PlanEntry) bool { return !e.End.Before(o.Start) && !o.End.Before(e.Start) }) {
			return inputErrorf("%s has two block plan entries on the same days", e.PersonID)
		}
		byPerson[e.PersonID] = append(byPerson[e.PersonID], e)
	}
	return nil
}

// layOutPlan fills s.planned: for each resident with a plan, the rotation (1-based index, 0
// none) of each half-day, and s.templateRotation, each template's rotation index (0 none).
func (s *solver) layOutPlan() {
	index := map[string]int16{}
	idx := func(r string) int16 {
		if r == "" {
			return 0
		}
		if _, ok := index[r]; !ok {
			index[r] = int16(len(index) + 1)
		}
		return index[r]
	}
	s.templateRotation = make([]int16, s.nTemplates)
	for t, tp := range s.templates {
		s.templateRotation[t] = idx(tp.RotationID)
	}
	s.planned = make([][]int16, len(s.people))
	for _, e := range s.problem.Plan {
		i := s.ids.person[e.PersonID]
		if s.planned[i] == nil {
			s.planned[i] = make([]int16, s.nSlots)
		}
		r := idx(e.RotationID)
		for j, sl := range s.slots {
			if e.Covers(sl.Date) {
				s.planned[i][j] = r
			}
		}
	}
}

// planAllows is PlanAllows for the solver's cells.
func (s *solver) planAllows(i personIdx, j slotIdx, t templateIdx) bool {
	r := s.templateRotation[t]
	return r == 0 || s.planned[i] == nil || s.planned[i][j] == 0 || s.planned[i][j] == r
}

// planAllowsSome says whether the plan lets person id hold t on some day of the range.
func (p *Problem) planAllowsSome(id string, t Template) bool {
	for d := p.From; !p.To.Before(d); d = d.AddDays(1) {
		if p.PlanAllows(id, t, d) {
			return true
		}
	}
	return false
}

package scheduling

import (
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// An archived person or a learner with assignments in the window stays (their half-days are
// history, or kept, and the rules and the run must see them); one without leaves with their
// absences; the active residents and faculty all stay.
func TestWithoutIdleSetAsideKeepsOnlyThoseWithHistoryInTheWindow(t *testing.T) {
	now := time.Now()
	archived := func(id string) store.PersonRecord {
		return store.PersonRecord{Person: roster.Person{ID: id}, Archive: store.Archive{ArchivedAt: &now, ArchivedReason: store.ArchivedRemoved}}
	}
	in := store.Inputs{
		People: []store.PersonRecord{{Person: roster.Person{ID: "active", Type: roster.Resident}}, archived("worked"), archived("idle"),
			{Person: roster.Person{ID: "student", Type: roster.Learner}}, {Person: roster.Person{ID: "visiting", Type: roster.Learner}}},
		Absences:    []roster.Absence{{PersonID: "active"}, {PersonID: "worked"}, {PersonID: "idle"}, {PersonID: "visiting"}},
		Assignments: []store.StoredAssignment{{Assignment: roster.Assignment{PersonID: "worked"}}, {Assignment: roster.Assignment{PersonID: "student"}}},
	}
	out, kept := withoutIdleSetAside(in)
	if !kept || len(out.People) != 3 || out.People[1].ID != "worked" || out.People[2].ID != "student" || len(out.Absences) != 2 || out.Absences[1].PersonID != "worked" {
		t.Fatalf("kept %v, people %v, absences %v", kept, out.People, out.Absences)
	}
	if out, kept := withoutIdleSetAside(store.Inputs{People: in.People[:1], Absences: in.Absences[:1]}); kept || len(out.People) != 1 || len(out.Absences) != 1 {
		t.Fatalf("no archived people: kept %v, %v", kept, out)
	}
}

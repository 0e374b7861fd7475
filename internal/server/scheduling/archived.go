package scheduling

import (
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// setAside says whether a run never places x: an archived person, or a learner (placed by hand
// only). Their half-days are kept as they are.
func setAside(x store.PersonRecord) bool { return x.Archived() || x.Type == roster.Learner }

// withoutIdleSetAside leaves out of in the people set aside with no assignment in its window,
// and their absences: nothing of theirs is scheduled or judged there. It says whether people
// set aside remain: their half-days in the window are history, or kept as they are, so a run
// reschedules only the others, as if filtered to them.
func withoutIdleSetAside(in store.Inputs) (store.Inputs, bool) {
	working := map[string]bool{}
	for _, a := range in.Assignments {
		working[a.PersonID] = true
	}
	out, dropped, kept := in, map[string]bool{}, false
	out.People = make([]store.PersonRecord, 0, len(in.People))
	for _, x := range in.People {
		switch {
		case !setAside(x):
		case working[x.ID]:
			kept = true
		default:
			dropped[x.ID] = true
			continue
		}
		out.People = append(out.People, x)
	}
	if len(dropped) == 0 {
		return out, kept
	}
	out.Absences = nil
	for _, a := range in.Absences {
		if !dropped[a.PersonID] {
			out.Absences = append(out.Absences, a)
		}
	}
	return out, kept
}

package scheduling

import (
	"fmt"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// checkLearnerPreferences refuses a learner's preference for a template that takes no learners
// (max_learners 0), naming the template. It is judged on the stored people and templates: the
// problem leaves out a learner with nothing in the window, whose preference would otherwise be
// refused as naming an unknown person (roster.Problem checks it again for the learners it holds).
func checkLearnerPreferences(in store.Inputs, prefs []roster.Preference) error {
	learners, templates := map[string]bool{}, map[string]roster.Template{}
	for _, x := range in.People {
		learners[x.ID] = x.Type == roster.Learner
	}
	for _, t := range in.Templates {
		templates[t.ID] = t.Template
	}
	for _, pr := range prefs {
		if t, ok := templates[pr.TemplateID]; ok && learners[pr.PersonID] && t.MaxLearners == 0 {
			return &roster.InputError{Reason: fmt.Sprintf("a preference of learner %s names template %q (%s), which takes no learners (max_learners 0)",
				pr.PersonID, t.Name, t.ID)}
		}
	}
	return nil
}

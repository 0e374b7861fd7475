package roster

import (
	"strings"
	"testing"
)

// A learner's preference may name only a template that takes learners (max_learners 1 or
// more); a resident's or a faculty member's is not bound by max_learners.
func TestALearnersPreferenceNeedsATemplateThatTakesLearners(t *testing.T) {
	for _, c := range []struct {
		name, person, template string
		maxLearners            int
		refused                bool
	}{
		{"learner, none taken", "s1", "wards", 0, true},
		{"learner, one taken", "s1", "wards", 1, false},
		{"learner, the clinic's one", "s1", "clinic", 1, false},
		{"resident, none taken", "r1", "wards", 0, false},
		{"faculty, none taken", "f1", "wards", 0, false},
	} {
		p := learnerWeek()
		p.Templates[1].Name, p.Templates[1].MaxLearners = "Wards", c.maxLearners
		p.Preferences = []Preference{{PersonID: c.person, TemplateID: c.template, Weight: 3}}
		err := p.check()
		if c.refused != (err != nil) || (err != nil && (!IsInputError(err) || !strings.Contains(err.Error(), `template "Wards" (wards), which takes no learners`))) {
			t.Errorf("%s: %v, want refused %v", c.name, err, c.refused)
		}
	}
}

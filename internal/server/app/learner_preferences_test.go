package app

import (
	"strings"
	"testing"
)

// A learner's preference for a template that takes no learners (max_learners 0) is refused
// with a 422 naming the template, and nothing is written; one for a template that takes
// learners is weighed like any other.
func TestALearnersPreferenceNeedsATemplateThatTakesLearners(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	student := e.call("POST", "/api/v1/people", map[string]any{"name": "Student", "type": "learner"}, req{bearer: coord.Access}).want(t, 201, "a learner").str("id")
	teaching := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Teaching clinic", "activity_type": "clinic", "hours_per_session": 4,
		"min_residents": 0, "max_residents": 2, "max_learners": 1, "supervision_required": true}, req{bearer: admin.Access}).want(t, 201, "a template for learners").str("id")
	generate := func(template string) resp {
		return e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.2, "draft": true,
			"preferences": []any{map[string]any{"person_id": student, "rotation_template_id": template, "weight": 5}}}, req{bearer: coord.Access})
	}
	r := generate(p.clinic).want(t, 422, "a learner's wish for a template that takes none")
	if d := r.detail(); !strings.Contains(d, `"Clinic"`) || !strings.Contains(d, "takes no learners") || !strings.Contains(d, student) {
		t.Errorf("detail %q", d)
	}
	if n := e.count(`SELECT count(*) FROM assignments`); n != 0 {
		t.Errorf("%d assignments written by a refused run", n)
	}
	// The learner in the week (a learner with nothing in it is not in the problem at all).
	e.call("POST", "/api/v1/assignments", map[string]any{"person_id": student, "rotation_template_id": teaching, "date": weekStart, "time_of_day": "AM",
		"locked": true, "override_reason": "planted: the learner's first clinic"}, req{bearer: coord.Access}).want(t, 201, "the learner placed by hand")
	generate(teaching).want(t, 200, "a learner's wish for a template that takes learners")
}

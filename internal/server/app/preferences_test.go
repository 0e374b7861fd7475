package app

import (
	"strings"
	"testing"
)

// Preferences and weights reach the solver through the API, and the run says which preferences
// it honoured and why not; bad ones are refused with the reason.
func TestGeneratePreferencesAndWeights(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	senior := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Senior clinic", "activity_type": "clinic", "hours_per_session": 4,
		"min_residents": 0, "max_residents": 1, "allowed_pgy_levels": []int{3}}, req{bearer: admin.Access}).want(t, 201, "a PGY-3 template").str("id")
	body := map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3,
		"weights": map[string]any{"coverage": 1000, "fairness": 50, "continuity": 5, "preference": 40},
		"preferences": []any{
			map[string]any{"person_id": p.residents[1], "rotation_template_id": p.clinic, "weight": 10}, // PGY-2 wants clinic
			map[string]any{"person_id": p.residents[0], "rotation_template_id": senior, "weight": 5},    // PGY-1 wants a PGY-3 template
			map[string]any{"person_id": p.residents[4], "rotation_template_id": p.call, "weight": -10},  // PGY-2 avoids call
		}}
	r := e.call("POST", "/api/v1/schedule/generate", body, req{bearer: coord.Access}).want(t, 200, "with preferences")
	outcomes := r.Body["stats"].(map[string]any)["preferences"].([]any)
	if len(outcomes) != 3 {
		t.Fatalf("preference outcomes: %.800s", r.Raw)
	}
	by := map[string]map[string]any{}
	for _, o := range outcomes {
		o := o.(map[string]any)
		by[o["person_id"].(string)+o["rotation_template_id"].(string)] = o
	}
	if o := by[p.residents[1]+p.clinic]; o["honoured"] != true || o["sessions"].(float64) < 1 {
		t.Errorf("the clinic wish: %v", o)
	}
	if o := by[p.residents[0]+senior]; o["honoured"] != false || !strings.Contains(o["why"].(string), "PGY-1") {
		t.Errorf("the impossible wish: %v", o)
	}
	if o := by[p.residents[4]+p.call]; o["honoured"] != (o["sessions"].(float64) == 0) {
		t.Errorf("the avoid wish: %v", o)
	}
	run := e.call("GET", "/api/v1/schedule/runs/"+r.str("id"), nil, req{bearer: coord.Access}).want(t, 200, "the run")
	if w := run.Body["request"].(map[string]any)["weights"].(map[string]any); w["preference"].(float64) != 40 {
		t.Errorf("the stored request's weights: %v", w)
	}
	for what, bad := range map[string]any{
		"weight 0":          []any{map[string]any{"person_id": p.residents[1], "rotation_template_id": p.clinic, "weight": 0}},
		"weight 11":         []any{map[string]any{"person_id": p.residents[1], "rotation_template_id": p.clinic, "weight": 11}},
		"a duplicate":       []any{map[string]any{"person_id": p.residents[1], "rotation_template_id": p.clinic, "weight": 1}, map[string]any{"person_id": p.residents[1], "rotation_template_id": p.clinic, "weight": 2}},
		"not an id":         []any{map[string]any{"person_id": "r1", "rotation_template_id": p.clinic, "weight": 1}},
		"an unknown person": []any{map[string]any{"person_id": "00000000-0000-4000-8000-000000000000", "rotation_template_id": p.clinic, "weight": 1}},
	} {
		e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": "2026-07-09", "end_date": "2026-07-15", "time_budget_seconds": 0.2, "draft": true, "preferences": bad},
			req{bearer: coord.Access}).want(t, 422, what)
	}
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": "2026-07-09", "end_date": "2026-07-15", "draft": true, "weights": map[string]any{"coverage": 0}},
		req{bearer: coord.Access}).want(t, 422, "coverage weighed at nothing")
}

// Day-off requests through the API: a resident who asks for a weekday off is free that day when
// others can cover, the run says it was honoured; bad requests are refused with the reason.
func TestGenerateHonoursDayOffRequests(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	day := "2026-07-06" // a Monday of the week
	body := map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3, "draft": true,
		"day_off_requests": []any{map[string]any{"person_id": p.residents[3], "date": day, "weight": 10}}}
	r := e.call("POST", "/api/v1/schedule/generate", body, req{bearer: coord.Access}).want(t, 200, "with a day-off request")
	outcomes := r.Body["stats"].(map[string]any)["day_off_requests"].([]any)
	o := outcomes[0].(map[string]any)
	if len(outcomes) != 1 || o["honoured"] != true || o["sessions"].(float64) != 0 || o["date"] != day {
		t.Fatalf("day-off outcome: %.800s", r.Raw)
	}
	runs := e.call("GET", "/api/v1/schedule/runs/"+r.str("id")+"/assignments?page_size=5000", nil, req{bearer: coord.Access}).want(t, 200, "the draft's assignments")
	for _, it := range runs.Body["items"].([]any) {
		if a := it.(map[string]any); a["person_id"] == p.residents[3] && a["date"] == day {
			t.Fatalf("the resident works the day they asked off: %v", a)
		}
	}
	// A faculty member's request is weighed too (it steers who supervises) and reported.
	fac := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.2, "draft": true,
		"day_off_requests": []any{map[string]any{"person_id": p.faculty[0], "date": day, "weight": 5}}}, req{bearer: coord.Access}).want(t, 200, "a faculty member's request")
	if fo := fac.Body["stats"].(map[string]any)["day_off_requests"].([]any); len(fo) != 1 || fo[0].(map[string]any)["person_id"] != p.faculty[0] {
		t.Fatalf("faculty day-off outcome: %.800s", fac.Raw)
	}
	for name, bad := range map[string]any{
		"outside the range": map[string]any{"person_id": p.residents[3], "date": "2026-08-01", "weight": 5},
		"weight 0":          map[string]any{"person_id": p.residents[3], "date": day, "weight": 0},
		"weight 11":         map[string]any{"person_id": p.residents[3], "date": day, "weight": 11},
		"not an id":         map[string]any{"person_id": "x", "date": day, "weight": 5},
	} {
		e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.2, "draft": true,
			"day_off_requests": []any{bad}}, req{bearer: coord.Access}).want(t, 422, name)
	}
}

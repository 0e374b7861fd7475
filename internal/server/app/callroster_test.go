package app

import (
	"strings"
	"testing"
)

// The call roster's kinds through the API on real PostgreSQL (issue 18): home and backup call
// templates are stored (migration 015) and read back, bad kinds and lengths are 422 with the
// reason, the equity weights are accepted and checked, and a generated week reports the spread
// of each kind per level with no hard violation.
func TestCallKindsThroughTheAPI(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	e.makeProgram(admin)
	create := func(body map[string]any) resp {
		return e.call("POST", "/api/v1/rotation-templates", body, req{bearer: coord.Access})
	}
	home := create(map[string]any{"name": "Home call", "activity_type": "home_call", "hours_per_session": 14, "min_residents": 1, "max_residents": 1,
		"weekends": true}).want(t, 201, "a home call")
	backup := create(map[string]any{"name": "Backup call", "activity_type": "backup_call", "hours_per_session": 18, "min_residents": 0, "max_residents": 1,
		"weekends": true}).want(t, 201, "an 18-hour backup call")
	if got := e.call("GET", "/api/v1/rotation-templates/"+home.str("id"), nil, req{bearer: coord.Access}).want(t, 200, "read back").str("activity_type"); got != "home_call" {
		t.Fatalf("home call read back as %q", got)
	}
	if backup.str("activity_type") != "backup_call" || backup.Body["hours_per_session"].(float64) != 18 {
		t.Fatalf("backup call: %s", backup.Raw)
	}
	for _, c := range []struct {
		what string
		body map[string]any
		says string
	}{
		{"an unknown kind", map[string]any{"activity_type": "pager_call", "hours_per_session": 12}, "activity_type"},
		{"a 19-hour home call", map[string]any{"activity_type": "home_call", "hours_per_session": 19}, "18"},
		{"a 0-hour backup call", map[string]any{"activity_type": "backup_call", "hours_per_session": 0}, "18"},
	} {
		body := map[string]any{"name": "Bad " + c.what, "max_residents": 1}
		for k, v := range c.body {
			body[k] = v
		}
		if r := create(body).want(t, 422, c.what); !strings.Contains(r.detail(), c.says) {
			t.Errorf("%s: %q does not say %q", c.what, r.detail(), c.says)
		}
	}
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "draft": true,
		"weights": map[string]any{"coverage": 1000, "call_equity": -1}}, req{bearer: coord.Access}).want(t, 422, "a negative call_equity")
	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5, "draft": true,
		"weights": map[string]any{"coverage": 1000, "fairness": 50, "continuity": 5, "preference": 10, "call_equity": 40, "weekend_call_equity": 20,
			"holiday_call_equity": 20, "weekend_off_equity": 10}}, req{bearer: coord.Access}).want(t, 200, "a week with three call kinds")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("hard violations: %.1000s", r.Raw)
	}
	eq := r.Body["stats"].(map[string]any)["equity"].(map[string]any)
	worst := eq["worst"].(map[string]any)
	homeWorst, ok := worst["home_call"].(map[string]any)
	if !ok || worst["backup_call"] == nil {
		t.Fatalf("worst spreads without the call kinds: %v", worst)
	}
	// Two residents per level share seven home calls: one takes at most one more.
	if homeWorst["calls"].(float64) > 1 {
		t.Errorf("home calls spread %v within a level: %v", homeWorst["calls"], eq["levels"])
	}
	total := 0.0
	for _, l := range eq["levels"].([]any) {
		hc := l.(map[string]any)["home_call"].(map[string]any)["calls"].(map[string]any)
		total += hc["min"].(float64) + hc["max"].(float64)
	}
	if total == 0 {
		t.Errorf("no home call counted in any level: %v", eq["levels"])
	}
}

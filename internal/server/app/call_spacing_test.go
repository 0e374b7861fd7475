package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/httpapi"
)

// A q-N call pattern through the API on real PostgreSQL (issue 18): a call template takes
// call_every_nth_night (stored, shown, changed, with clear 422s for what cannot be), the solver
// keeps it, and a manual edit that breaks it is refused with the rule named.
func TestCallPatternThroughTheAPI(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	create := func(body map[string]any) resp {
		return e.call("POST", "/api/v1/rotation-templates", body, req{bearer: coord.Access})
	}
	home := create(map[string]any{"name": "Home call q3", "activity_type": "home_call", "hours_per_session": 12, "min_residents": 1,
		"max_residents": 1, "weekends": true, "call_every_nth_night": 3}).want(t, 201, "a q3 home call")
	if home.Body["call_every_nth_night"].(float64) != 3 {
		t.Fatalf("%s", home.Raw)
	}
	ward := e.call("GET", "/api/v1/rotation-templates/"+p.ward, nil, req{bearer: coord.Access}).want(t, 200, "a template without a pattern")
	if v, ok := ward.Body["call_every_nth_night"]; !ok || v.(float64) != 0 {
		t.Fatalf("a template without a pattern shows 0: %s", ward.Raw)
	}
	for _, c := range []struct {
		what string
		body map[string]any
		says string
	}{
		{"q1", map[string]any{"activity_type": "call", "call_every_nth_night": 1}, "2 to 28"},
		{"q29", map[string]any{"activity_type": "call", "call_every_nth_night": 29}, "2 to 28"},
		{"negative", map[string]any{"activity_type": "call", "call_every_nth_night": -3}, "2 to 28"},
		{"a clinic", map[string]any{"activity_type": "clinic", "hours_per_session": 4, "call_every_nth_night": 4}, "call templates"},
		{"a string", map[string]any{"activity_type": "call", "call_every_nth_night": "q4"}, "call_every_nth_night"},
	} {
		body := map[string]any{"name": "Bad " + c.what, "hours_per_session": 12, "max_residents": 1}
		for k, v := range c.body {
			body[k] = v
		}
		r := create(body).want(t, 422, c.what)
		if !strings.Contains(r.detail(), c.says) {
			t.Errorf("%s: %q does not say %q", c.what, r.detail(), c.says)
		}
	}

	// The solver keeps the pattern over a week: the six residents share the home call nightly,
	// none twice within three days.
	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week with a q3 home call")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %s", r.Raw)
	}
	pool, ctx := e.apps[0].Store.Pool, context.Background()
	rows, err := pool.Query(ctx, `SELECT person_id::text, date FROM assignments WHERE rotation_template_id = $1 ORDER BY person_id, date`, home.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]time.Time{}
	nights := 0
	for rows.Next() {
		var who string
		var d time.Time
		if err := rows.Scan(&who, &d); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[who]; ok && d.Sub(prev) < 3*24*time.Hour {
			t.Errorf("%s holds the q3 home call on %s and %s", who, prev.Format(time.DateOnly), d.Format(time.DateOnly))
		}
		last[who] = d
		nights++
	}
	if rows.Err() != nil || nights != 7 {
		t.Fatalf("%d home-call nights in the week, want 7 (%v)", nights, rows.Err())
	}

	// A manual edit giving a resident the home call the night after theirs is refused, naming
	// the pattern (the night's own holder stays: the refusal also names capacity).
	var who string
	var first time.Time
	if err := pool.QueryRow(ctx, `SELECT person_id::text, date FROM assignments WHERE rotation_template_id = $1 AND date < $2 ORDER BY date DESC LIMIT 1`,
		home.str("id"), weekEnd).Scan(&who, &first); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"person_id": who, "date": first.AddDate(0, 0, 1).Format(time.DateOnly), "time_of_day": "PM", "rotation_template_id": home.str("id")}
	refused := e.call("POST", "/api/v1/assignments", body, req{bearer: coord.Access}).want(t, 422, "the home call the night after theirs")
	found := false
	for _, v := range refused.Body["violations"].([]any) {
		found = found || v.(map[string]any)["type"] == "call_spacing" && v.(map[string]any)["hard"] == true
	}
	if !found {
		t.Fatalf("the refusal does not name call_spacing: %s", refused.Raw)
	}

	// Back to no pattern.
	none := e.call("PATCH", "/api/v1/rotation-templates/"+home.str("id"), map[string]any{"call_every_nth_night": 0}, req{bearer: coord.Access}).
		want(t, 200, "no pattern")
	if none.Body["call_every_nth_night"].(float64) != 0 {
		t.Fatalf("%s", none.Raw)
	}
}

// A program's templates are bounded (the solver's memory grows with them): the next one past
// httpapi.MaxTemplates is a 422.
func TestTemplatesAreBounded(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	if _, err := e.apps[0].Store.Pool.Exec(context.Background(), `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, min_residents, max_residents)
		SELECT gen_random_uuid(), 'T' || n, 'clinic', 4, 0, 1 FROM generate_series(1, $1) AS n`, httpapi.MaxTemplates); err != nil {
		t.Fatal(err)
	}
	r := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "One more", "activity_type": "clinic", "hours_per_session": 4, "max_residents": 1},
		req{bearer: admin.Access}).want(t, 422, "a template past the bound")
	if !strings.Contains(r.detail(), "at most") {
		t.Fatalf("%s", r.Raw)
	}
}

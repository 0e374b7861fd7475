package app

import (
	"context"
	"strings"
	"testing"
)

// Shift definitions through the API on real PostgreSQL (issue 18): templates with their own
// start times are created, read back and changed with clear 422s for what cannot be; the
// solver staffs them; the calendar shows their real hours; a manual edit that would overlap a
// shift is refused with the rule named.
func TestShiftTemplatesThroughTheAPI(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	create := func(body map[string]any) resp {
		return e.call("POST", "/api/v1/rotation-templates", body, req{bearer: coord.Access})
	}

	night := create(map[string]any{"name": "Night float", "activity_type": "inpatient", "start_time": "19:00", "hours_per_session": 12,
		"min_residents": 1, "max_residents": 1, "weekends": true}).want(t, 201, "a 19-07 night float")
	if night.str("start_time") != "19:00" || night.Body["hours_per_session"].(float64) != 12 {
		t.Fatalf("night float: %s", night.Raw)
	}
	day := create(map[string]any{"name": "Day shift", "activity_type": "inpatient", "start_time": "07:00", "hours_per_session": 12,
		"min_residents": 0, "max_residents": 2, "weekends": true}).want(t, 201, "a 07-19 day shift")
	create(map[string]any{"name": "24-hour call", "activity_type": "call", "start_time": "07:00", "hours_per_session": 24, "max_residents": 1}).
		want(t, 201, "a 24-hour call")
	ward := e.call("GET", "/api/v1/rotation-templates/"+p.ward, nil, req{bearer: coord.Access}).want(t, 200, "a half-day template")
	if v, ok := ward.Body["start_time"]; !ok || v != nil {
		t.Fatalf("a half-day template shows start_time null: %s", ward.Raw)
	}
	for _, c := range []struct {
		what string
		body map[string]any
		says string
	}{
		{"25:00", map[string]any{"start_time": "25:00", "hours_per_session": 4}, "HH:MM"},
		{"7:00", map[string]any{"start_time": "7:00", "hours_per_session": 4}, "HH:MM"},
		{"seconds", map[string]any{"start_time": "07:00:00", "hours_per_session": 4}, "HH:MM"},
		{"a number", map[string]any{"start_time": 700, "hours_per_session": 4}, "start_time"},
		{"a 24.5-hour shift", map[string]any{"start_time": "07:00", "hours_per_session": 24.5}, "0 to 24 hours"},
		{"a 12-hour half-day", map[string]any{"hours_per_session": 12}, "start_time"},
	} {
		body := map[string]any{"name": "Bad " + c.what, "activity_type": "inpatient", "max_residents": 1}
		for k, v := range c.body {
			body[k] = v
		}
		r := create(body).want(t, 422, c.what)
		if !strings.Contains(r.detail(), c.says) {
			t.Errorf("%s: %q does not say %q", c.what, r.detail(), c.says)
		}
	}
	// A 12-hour shift cannot go back to the half-day family; a 4-hour one can.
	e.call("PATCH", "/api/v1/rotation-templates/"+day.str("id"), map[string]any{"start_time": ""}, req{bearer: coord.Access}).
		want(t, 422, "a 12-hour day shift without a start time")
	back := e.call("PATCH", "/api/v1/rotation-templates/"+day.str("id"), map[string]any{"start_time": "", "hours_per_session": 6}, req{bearer: coord.Access}).
		want(t, 200, "back to a 6-hour half-day")
	if back.Body["start_time"] != nil {
		t.Fatalf("%s", back.Raw)
	}
	e.call("PATCH", "/api/v1/rotation-templates/"+day.str("id"), map[string]any{"start_time": "07:00", "hours_per_session": 12}, req{bearer: coord.Access}).
		want(t, 200, "a day shift again")

	// The solver staffs the night float every night of the week, within every rule.
	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week with shifts")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %s", r.Raw)
	}
	if n := e.count(`SELECT count(*) FROM assignments WHERE rotation_template_id = $1 AND time_of_day = 'PM'`, night.str("id")); n != 7 {
		t.Fatalf("%d night-float nights, want 7", n)
	}
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if v.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("validation: %s", v.Raw)
	}
	// The calendar shows a night float from 19:00 to 07:00 the next morning.
	var who string
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), `SELECT person_id::text FROM assignments WHERE rotation_template_id = $1 ORDER BY date LIMIT 1`,
		night.str("id")).Scan(&who); err != nil {
		t.Fatal(err)
	}
	ics := e.call("GET", "/api/v1/people/"+who+"/calendar.ics?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "calendar")
	if !strings.Contains(ics.Raw, "T190000") || !strings.Contains(ics.Raw, "SUMMARY:Night float") {
		t.Fatalf("calendar:\n%.1500s", ics.Raw)
	}

	// A clinic afternoon inside a day shift is refused, the overlap named.
	res := p.residents[2]
	e.sql(`DELETE FROM assignments WHERE person_id = $1 AND date = '2026-07-06'`, res)
	e.call("POST", "/api/v1/assignments", map[string]any{"person_id": res, "date": "2026-07-06", "time_of_day": "AM", "rotation_template_id": day.str("id"),
		"override_reason": "Testing shifts: coverage by hand"}, req{bearer: coord.Access}).want(t, 201, "a day shift by hand")
	refused := e.call("POST", "/api/v1/assignments", map[string]any{"person_id": res, "date": "2026-07-06", "time_of_day": "PM", "rotation_template_id": p.clinic},
		req{bearer: coord.Access}).want(t, 422, "a clinic inside the day shift")
	found := false
	for _, x := range refused.Body["violations"].([]any) {
		found = found || x.(map[string]any)["type"] == "overlapping_sessions"
	}
	if !found {
		t.Fatalf("refusal without the overlap: %s", refused.Raw)
	}
	e.call("POST", "/api/v1/assignments", map[string]any{"person_id": res, "date": "2026-07-06", "time_of_day": "PM", "rotation_template_id": day.str("id")},
		req{bearer: coord.Access}).want(t, 422, "a day shift in the afternoon half-day")
}

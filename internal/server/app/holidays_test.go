package app

import (
	"strings"
	"testing"
)

// Holidays on real PostgreSQL: coordinators add and remove them (audited), everyone reads them,
// input is checked, a template made without the flag runs on holidays as it runs on weekends,
// and a generated week leaves the clinic closed on the holiday without calling it a gap.
func TestHolidaysCloseClinicsAndAreCheckedAndAudited(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	nurse := e.create(admin, "nurse", "rn")
	p := e.makeProgram(admin)
	const holiday = "2026-07-03"

	for _, c := range []struct {
		body   map[string]any
		detail string
	}{
		{map[string]any{"name": "Independence Day"}, "date is required (YYYY-MM-DD)"},
		{map[string]any{"date": "2026-07-32", "name": "Independence Day"}, "date must be a date (YYYY-MM-DD)"},
		{map[string]any{"date": holiday, "name": "  "}, "name is required, 1 to 100 characters"},
		{map[string]any{"date": holiday, "name": strings.Repeat("x", 101)}, "name is required, 1 to 100 characters"},
	} {
		r := e.call("POST", "/api/v1/holidays", c.body, req{bearer: coord.Access}).want(t, 422, "a bad holiday")
		if r.detail() != c.detail {
			t.Fatalf("detail %q, want %q", r.detail(), c.detail)
		}
	}
	e.call("POST", "/api/v1/holidays", map[string]any{"date": holiday, "name": "Independence Day"}, req{bearer: nurse.Access}).want(t, 403, "a nurse adds a holiday")
	h := e.call("POST", "/api/v1/holidays", map[string]any{"date": holiday, "name": "Independence Day (observed)"}, req{bearer: coord.Access}).want(t, 201, "add a holiday")
	e.call("POST", "/api/v1/holidays", map[string]any{"date": holiday, "name": "Again"}, req{bearer: coord.Access}).want(t, 409, "a second holiday on a date")
	tmp := e.call("POST", "/api/v1/holidays", map[string]any{"date": "2026-09-07", "name": "Labor Day"}, req{bearer: coord.Access}).want(t, 201, "add another")

	list := e.call("GET", "/api/v1/holidays?start_date=2026-07-01&end_date=2026-07-31", nil, req{bearer: nurse.Access}).want(t, 200, "a nurse lists holidays")
	if list.Body["total"].(float64) != 1 || list.Body["items"].([]any)[0].(map[string]any)["name"] != "Independence Day (observed)" {
		t.Fatalf("July's holidays: %s", list.Raw)
	}
	e.call("GET", "/api/v1/holidays?start_date=2026-07-31&end_date=2026-07-01", nil, req{bearer: nurse.Access}).want(t, 422, "an inverted range")
	e.call("DELETE", "/api/v1/holidays/"+tmp.str("id"), nil, req{bearer: nurse.Access}).want(t, 403, "a nurse removes a holiday")
	e.call("DELETE", "/api/v1/holidays/"+tmp.str("id"), nil, req{bearer: coord.Access}).want(t, 204, "remove a holiday")
	e.call("DELETE", "/api/v1/holidays/"+tmp.str("id"), nil, req{bearer: coord.Access}).want(t, 404, "remove it again")
	audit := e.call("GET", "/api/v1/audit?action=holiday.", nil, req{bearer: admin.Access}).want(t, 200, "audit")
	if audit.Body["total"].(float64) != 3 || !strings.Contains(audit.Raw, "holiday:"+h.str("id")) {
		t.Fatalf("holiday audit entries: %s", audit.Raw)
	}

	// Made without the flag: the clinic (no weekends) is closed on holidays, the wards open.
	for id, want := range map[string]bool{p.clinic: false, p.ward: true, p.call: true} {
		tp := e.call("GET", "/api/v1/rotation-templates/"+id, nil, req{bearer: nurse.Access}).want(t, 200, "read a template")
		if tp.Body["holidays"] != want {
			t.Fatalf("template %s holidays=%v, want %v", tp.str("name"), tp.Body["holidays"], want)
		}
	}

	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week with a holiday")
	live := e.call("GET", "/api/v1/assignments?start_date="+holiday+"&end_date="+holiday+"&page_size=500", nil, req{bearer: nurse.Access}).want(t, 200, "the holiday's assignments")
	onWard := 0
	for _, it := range live.Body["items"].([]any) {
		switch it.(map[string]any)["rotation_template_id"] {
		case p.clinic:
			t.Fatalf("someone is on the clinic on the holiday: %v", it)
		case p.ward:
			onWard++
		}
	}
	if onWard == 0 {
		t.Fatalf("no one on the wards on the holiday: %s", live.Raw)
	}
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: nurse.Access}).want(t, 200, "validate")
	if v.Body["total_violations"].(float64) != 0 {
		t.Fatalf("violations in a week with a holiday: %s", v.Raw)
	}
}

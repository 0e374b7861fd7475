package app

import (
	"strings"
	"testing"
)

// Credentialed supervision through the API on real PostgreSQL (issue 18): faculty hold
// credentials, a template requires one, and only credentialed faculty supervise it, in a
// generated week and in a manual edit; bad credentials are 422s.
func TestCredentialedSupervisionThroughTheAPI(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	// Credentials are the medical staff office's (the matrix's credential resource: administrators
	// manage them, faculty read them): a coordinator can neither set nor see them.
	scope := map[string]any{"name": "Dr. Scope", "type": "faculty", "credentials": []string{"endoscopy", "central-line"}}
	e.call("POST", "/api/v1/people", scope, req{bearer: coord.Access}).want(t, 403, "credentials set by a coordinator")
	scoper := e.call("POST", "/api/v1/people", scope, req{bearer: admin.Access}).want(t, 201, "a credentialed faculty member")
	if cs := scoper.Body["credentials"].([]any); len(cs) != 2 || cs[0] != "endoscopy" {
		t.Fatalf("credentials read back: %s", scoper.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'person.create' AND target = $1 AND details::jsonb->'credentials' ? 'endoscopy'`,
		"person:"+scoper.str("id")); n != 1 {
		t.Errorf("%d person.create audit entries keep the credentials, want 1", n)
	}
	if r := e.call("GET", "/api/v1/people/"+scoper.str("id"), nil, req{bearer: coord.Access}).want(t, 200, "read as a coordinator"); strings.Contains(r.Raw, "credentials") {
		t.Fatalf("a coordinator sees credentials: %s", r.Raw)
	}
	other := e.call("GET", "/api/v1/people/"+p.faculty[0], nil, req{bearer: admin.Access}).want(t, 200, "a faculty member without")
	if cs, ok := other.Body["credentials"].([]any); !ok || len(cs) != 0 {
		t.Fatalf("no credentials shows [] to an administrator: %s", other.Raw)
	}
	for _, c := range []struct {
		what string
		body map[string]any
		says string
	}{
		{"a resident", map[string]any{"name": "R", "type": "resident", "pgy_level": 2, "credentials": []string{"endoscopy"}}, "for faculty"},
		{"capitals", map[string]any{"name": "F", "type": "faculty", "credentials": []string{"Endoscopy"}}, "lower-case"},
		{"twice", map[string]any{"name": "F", "type": "faculty", "credentials": []string{"endoscopy", "endoscopy"}}, "twice"},
		{"not a list", map[string]any{"name": "F", "type": "faculty", "credentials": "endoscopy"}, "credentials"},
	} {
		r := e.call("POST", "/api/v1/people", c.body, req{bearer: admin.Access}).want(t, 422, c.what)
		if !strings.Contains(r.detail(), c.says) {
			t.Errorf("%s: %q does not say %q", c.what, r.detail(), c.says)
		}
	}
	e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Bad", "activity_type": "procedure", "hours_per_session": 4, "max_residents": 1,
		"required_credential": "Endo Scopy"}, req{bearer: coord.Access}).want(t, 422, "a malformed required_credential")
	endo := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Endoscopy", "activity_type": "procedure", "hours_per_session": 4,
		"min_residents": 1, "max_residents": 1, "supervision_required": true, "required_credential": "endoscopy"}, req{bearer: coord.Access}).
		want(t, 201, "a template requiring endoscopy")
	if endo.str("required_credential") != "endoscopy" {
		t.Fatalf("%s", endo.Raw)
	}

	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %s", r.Raw)
	}
	onEndo := e.count(`SELECT count(*) FROM assignments a JOIN people x ON x.id = a.person_id WHERE a.rotation_template_id = $1 AND x.type = 'faculty'`, endo.str("id"))
	credentialed := e.count(`SELECT count(*) FROM assignments a JOIN people x ON x.id = a.person_id WHERE a.rotation_template_id = $1 AND x.type = 'faculty'
		AND 'endoscopy' = ANY (x.credentials)`, endo.str("id"))
	residents := e.count(`SELECT count(*) FROM assignments a JOIN people x ON x.id = a.person_id WHERE a.rotation_template_id = $1 AND x.type = 'resident'`, endo.str("id"))
	if residents == 0 || onEndo == 0 || credentialed != onEndo {
		t.Fatalf("endoscopy: %d resident half-days, %d faculty half-days of which %d credentialed", residents, onEndo, credentialed)
	}

	// By hand: the uncredentialed faculty member on it is refused, the rule named.
	refused := e.call("POST", "/api/v1/assignments", map[string]any{"person_id": p.faculty[1], "date": "2026-07-09", "time_of_day": "AM",
		"rotation_template_id": endo.str("id")}, req{bearer: coord.Access}).want(t, 422, "an uncredentialed supervisor")
	if vs := refused.Body["violations"].([]any); len(vs) == 0 || vs[0].(map[string]any)["type"] != "eligibility" || !strings.Contains(refused.Raw, "credential") {
		t.Fatalf("refusal: %s", refused.Raw)
	}
	// Nor can a resident be given one by a PATCH.
	e.call("PATCH", "/api/v1/people/"+p.residents[0], map[string]any{"credentials": []string{"endoscopy"}}, req{bearer: admin.Access}).
		want(t, 422, "credentials for a resident by PATCH")
	e.call("PATCH", "/api/v1/people/"+p.faculty[1], map[string]any{"credentials": []string{"endoscopy"}}, req{bearer: coord.Access}).
		want(t, 403, "credentials by a coordinator's PATCH")
}

// Faculty shifts through the API on real PostgreSQL (issue 18): the wards made a faculty shift
// (min_faculty 1) get an attending in every half-day of a generated week; bad values are 422s.
func TestFacultyShiftsThroughTheAPI(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	for _, n := range []any{-1, 101, "1", 1.5} {
		e.call("PATCH", "/api/v1/rotation-templates/"+p.ward, map[string]any{"min_faculty": n}, req{bearer: coord.Access}).want(t, 422, "min_faculty")
	}
	ward := e.call("PATCH", "/api/v1/rotation-templates/"+p.ward, map[string]any{"min_faculty": 1}, req{bearer: coord.Access}).want(t, 200, "an attending on the wards")
	if ward.Body["min_faculty"].(float64) != 1 {
		t.Fatalf("%s", ward.Raw)
	}
	e.call("POST", "/api/v1/people", map[string]any{"name": "Dr. Attending", "type": "faculty", "max_sessions_per_week": 14}, req{bearer: coord.Access}).
		want(t, 201, "a third faculty member")
	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %s", r.Raw)
	}
	covered := e.count(`SELECT count(DISTINCT (a.date, a.time_of_day)) FROM assignments a JOIN people x ON x.id = a.person_id
		WHERE a.rotation_template_id = $1 AND x.type = 'faculty'`, p.ward)
	if covered != 14 {
		t.Fatalf("the wards had an attending in %d of 14 half-days", covered)
	}
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if strings.Contains(v.Raw, "faculty_coverage") {
		t.Fatalf("validation: %s", v.Raw)
	}
}

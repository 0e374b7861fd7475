package app

import (
	"context"
	"strings"
	"testing"
)

// count runs a counting query on the test database.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestAChangeNeverCommitsWithoutItsAuditEntry: the audit entry of a change is written in the
// change's own transaction. With every audit insert refused (a trigger on audit_log), each
// change answers 500 with the generic detail and leaves nothing behind; it used to commit, with
// the failed audit write only logged. Once the audit accepts entries again, the same changes
// go through, each with its entry. (A protective revocation commits without its entry instead:
// TestAProtectiveRevocationStandsWhenItsAuditWriteFails.)
func TestAChangeNeverCommitsWithoutItsAuditEntry(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "resident")
	p := e.makeProgram(admin)
	e.call("PATCH", "/api/v1/people/"+p.residents[0], map[string]any{"user_id": bob.ID}, req{bearer: admin.Access}).want(t, 200, "link bob")
	entries := e.count("SELECT count(*) FROM audit_log")

	e.sql(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused for the test'; END $$`)
	e.sql(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`)

	const newPassword = "Quiet-Orchard-Rain-99"
	changes := []struct {
		what, method, path string
		body               any
		as                 *user
		// unchanged counts rows that the change would have altered: it must stay 0.
		unchanged string
	}{
		{"register a user", "POST", "/api/v1/admin/users", map[string]any{"username": "dave", "email": "dave@example.org", "role": "faculty"}, admin,
			"SELECT count(*) FROM users WHERE username = 'dave'"},
		{"change a role", "PATCH", "/api/v1/admin/users/" + bob.ID, map[string]any{"role": "faculty"}, admin,
			"SELECT count(*) FROM users WHERE username = 'bob' AND role <> 'resident'"},
		{"delete a user", "DELETE", "/api/v1/admin/users/" + bob.ID, nil, admin,
			"SELECT count(*) FROM users WHERE username = 'bob' AND deleted_at IS NOT NULL"},
		{"change a password", "POST", "/api/v1/auth/password", map[string]any{"current_password": bob.Password, "new_password": newPassword}, bob,
			"SELECT count(*) - 1 FROM password_history h JOIN users u ON u.id = h.user_id WHERE u.username = 'bob'"},
		{"start an MFA enrolment", "POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": bob.Password}, bob,
			"SELECT count(*) FROM users WHERE username = 'bob' AND totp_pending IS NOT NULL"},
		{"sign in", "POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, nil,
			"SELECT count(*) - 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'bob'"},
		{"create a person", "POST", "/api/v1/people", map[string]any{"name": "Dr. Unaudited", "type": "faculty"}, admin,
			"SELECT count(*) FROM people WHERE name = 'Dr. Unaudited'"},
		{"delete a person", "DELETE", "/api/v1/people/" + p.faculty[1], nil, admin,
			"SELECT 1 - count(*) FROM people WHERE id = '" + p.faculty[1] + "'"},
		{"create a rotation template", "POST", "/api/v1/rotation-templates", map[string]any{"name": "Unaudited", "activity_type": "clinic", "hours_per_session": 4}, admin,
			"SELECT count(*) FROM rotation_templates WHERE name = 'Unaudited'"},
		{"create an assignment", "POST", "/api/v1/assignments", map[string]any{"person_id": p.residents[1], "date": weekStart, "time_of_day": "AM", "rotation_template_id": p.clinic,
			"override_reason": "unsupervised on purpose: this test needs the write to reach the audit"}, admin,
			"SELECT count(*) FROM assignments"},
		{"request an absence", "POST", "/api/v1/absences", map[string]any{"start_date": "2026-07-03", "end_date": "2026-07-05", "absence_type": "vacation"}, bob,
			"SELECT count(*) FROM absences"},
		// The run's outcome is not recorded either: it stays in progress (until closed as
		// abandoned), and no schedule is written.
		{"generate a schedule", "POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5}, admin,
			"SELECT count(*) FROM assignments WHERE source = 'generated'"},
	}
	for _, c := range changes {
		o := req{}
		if c.as != nil {
			o.bearer = c.as.Access
		}
		r := e.call(c.method, c.path, c.body, o)
		if r.Status != 500 || r.detail() != "internal error" {
			t.Errorf("%s with the audit refusing: %d %s, want 500 with the generic detail", c.what, r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "audit refused") {
			t.Errorf("%s: the cause reached the client: %s", c.what, r.Raw)
		}
		if n := e.count(c.unchanged); n != 0 {
			t.Errorf("%s committed without its audit entry (%s = %d)", c.what, c.unchanged, n)
		}
	}
	if n := e.count("SELECT count(*) FROM audit_log"); n != entries {
		t.Fatalf("%d audit entries, want the %d from before", n, entries)
	}

	// The audit accepts entries again: the same kind of change commits, with its entry.
	e.sql("DROP TRIGGER refuse_audit ON audit_log")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access}).want(t, 200, "bob is still signed in: no change ended his session")
	e.call("POST", "/api/v1/people", map[string]any{"name": "Dr. Audited", "type": "faculty"}, req{bearer: admin.Access}).want(t, 201, "create a person")
	e.call("PATCH", "/api/v1/admin/users/"+bob.ID, map[string]any{"role": "faculty"}, req{bearer: admin.Access}).want(t, 200, "change a role")
	g := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": "2026-07-09", "end_date": "2026-07-15", "time_budget_seconds": 0.5},
		req{bearer: admin.Access}).want(t, 200, "generate another week")
	if n := strings.Count(e.stream.String(), `"action":"schedule.generate"`); n != 1 {
		t.Errorf("%d schedule.generate lines in the audit stream, want 1 (the committed run)", n)
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'schedule.generate' AND target = $1 AND details::jsonb->>'status' = 'success'", "schedule_run:"+g.str("id")); n != 1 {
		t.Errorf("%d entries for the run that committed, want 1", n)
	}
	for action, want := range map[string]int{"person.create": 1, "user.updated": 1} {
		if n := e.count("SELECT count(*) FROM audit_log WHERE action = $1 AND seq > $2", action, entries); n != want {
			t.Errorf("%d %s entries after the trigger went, want %d", n, action, want)
		}
	}
	v := e.call("GET", "/api/v1/audit/verify", nil, req{bearer: admin.Access}).want(t, 200, "verify")
	if v.Body["valid"] != true {
		t.Fatalf("the chain is broken: %s", v.Raw)
	}
	e.login(bob)
}

package app

import (
	"testing"
	"time"
)

// lostEntries is rsched_audit_entries_lost_total of instance 0, by action.
func (e *env) lostEntries() map[string]float64 {
	e.t.Helper()
	fams, err := e.metrics[0].Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "rsched_audit_entries_lost_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestAProtectiveRevocationStandsWhenItsAuditWriteFails: a revocation that protects the user
// (refresh token reuse, sign-out, a user ending a session, an administrator's lock, an idle
// session) commits even when its audit entry cannot be written: the stolen or old tokens are
// refused afterwards, the lost entries are counted in rsched_audit_entries_lost_total, and a
// change that is not protective (an unlock, a role change) still rolls back. Before, each
// revocation rolled back with its failed audit write and left the session valid. When the audit
// fails only once, the entry is written after the commit, marked recorded_after_commit.
func TestAProtectiveRevocationStandsWhenItsAuditWriteFails(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob, carol, dave, erin, frank := e.create(admin, "bob", "resident"), e.create(admin, "carol", "resident"),
		e.create(admin, "dave", "resident"), e.create(admin, "erin", "resident"), e.create(admin, "frank", "resident")
	exchanged := bob.Refresh
	bob.Refresh = e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": exchanged}, req{}).want(t, 200, "refresh").str("refresh_token")
	erinElsewhere := *erin
	e.login(&erinElsewhere)
	var elsewhere string
	for _, it := range e.call("GET", "/api/v1/auth/sessions", nil, req{bearer: erin.Access}).want(t, 200, "erin's sessions").Body["items"].([]any) {
		if s := it.(map[string]any); s["current"] != true {
			elsewhere = s["id"].(string)
		}
	}
	entries := e.count("SELECT count(*) FROM audit_log")

	e.sql(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused for the test'; END $$`)
	e.sql(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`)

	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": exchanged}, req{}).want(t, 401, "reuse of an exchanged refresh token")
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": bob.Refresh}, req{}).want(t, 401, "the reused token's family is revoked")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access}).want(t, 401, "bob's session ended with the reuse")

	e.call("POST", "/api/v1/auth/logout", nil, req{bearer: carol.Access}).want(t, 200, "carol signs out")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: carol.Access}).want(t, 401, "carol's access token after signing out")
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": carol.Refresh}, req{}).want(t, 401, "carol's refresh token after signing out")

	e.call("DELETE", "/api/v1/auth/sessions/"+elsewhere, nil, req{bearer: erin.Access}).want(t, 204, "erin ends her other session")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: erinElsewhere.Access}).want(t, 401, "erin's other session")

	e.call("POST", "/api/v1/admin/users/"+dave.ID+"/lock", nil, req{bearer: admin.Access}).want(t, 200, "lock dave")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: dave.Access}).want(t, 401, "dave's session after the lock")
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "dave", "password": dave.Password}, req{}).want(t, 423, "dave signs in while locked")

	// Changes that do not protect anyone keep all-or-nothing.
	e.call("POST", "/api/v1/admin/users/"+dave.ID+"/unlock", nil, req{bearer: admin.Access}).want(t, 500, "unlock dave")
	e.call("PATCH", "/api/v1/admin/users/"+frank.ID, map[string]any{"role": "faculty"}, req{bearer: admin.Access}).want(t, 500, "change frank's role")
	if n := e.count("SELECT count(*) FROM users WHERE username = 'dave' AND locked_until IS NULL") +
		e.count("SELECT count(*) FROM users WHERE username = 'frank' AND role <> 'resident'"); n != 0 {
		t.Errorf("a change that is not protective committed without its audit entry (%d rows)", n)
	}

	e.clock.Advance(e.cfg.Auth.SessionIdleTimeout.D() + time.Minute)
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": frank.Refresh}, req{}).want(t, 401, "frank's idle session")
	if n := e.count("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'frank' AND s.revoked_reason = 'idle_timeout'"); n != 1 {
		t.Errorf("frank's idle session was not revoked (%d)", n)
	}

	if n := e.count("SELECT count(*) FROM audit_log"); n != entries {
		t.Fatalf("%d audit entries, want the %d from before", n, entries)
	}
	want := map[string]float64{"auth.refresh.reuse_detected": 1, "auth.logout": 1, "auth.session.revoked": 2, "user.locked": 1}
	if got := e.lostEntries(); len(got) != len(want) || got["auth.refresh.reuse_detected"] != 1 || got["auth.logout"] != 1 ||
		got["auth.session.revoked"] != 2 || got["user.locked"] != 1 {
		t.Errorf("lost entries %v, want %v", got, want)
	}

	// The audit refuses each entry once: the retry after the commit writes it.
	e.sql("DROP TRIGGER refuse_audit ON audit_log")
	e.login(admin)
	e.sql(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
		WHEN (NOT (NEW.details::jsonb ? 'recorded_after_commit')) EXECUTE FUNCTION refuse_audit()`)
	e.call("POST", "/api/v1/auth/logout", nil, req{bearer: admin.Access}).want(t, 200, "alice signs out")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 401, "alice's access token after signing out")
	e.sql("DROP TRIGGER refuse_audit ON audit_log")
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'auth.logout' AND actor = $1
		AND details::jsonb->>'recorded_after_commit' = 'true'`, admin.ID); n != 1 {
		t.Errorf("%d late entries of alice's sign-out, want 1", n)
	}
	if got := e.lostEntries(); got["auth.logout"] != 1 {
		t.Errorf("lost entries %v after a retry that succeeded", got)
	}
	e.login(admin)
	if v := e.call("GET", "/api/v1/audit/verify", nil, req{bearer: admin.Access}).want(t, 200, "verify"); v.Body["valid"] != true {
		t.Fatalf("the chain is broken: %s", v.Raw)
	}
}

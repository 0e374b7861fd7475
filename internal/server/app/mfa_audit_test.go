package app

import (
	"testing"
	"time"
)

// TestARecoveryCodeIsSpentOnlyWithItsSignInsAuditEntry: a recovery code is consumed in the
// transaction that creates the session and audits the sign-in. With that audit write failing,
// the second step answers 500 and leaves the code, the challenge and the sessions as they were
// (the code used to be spent with no session and no entry); once the audit works, the same code
// completes the same challenge, once, with its entry.
func TestARecoveryCodeIsSpentOnlyWithItsSignInsAuditEntry(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "faculty")
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": bob.Password}, req{bearer: bob.Access}).want(t, 200, "enrol")
	conf := e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: bob.Access}).
		want(t, 200, "confirm")
	rc := conf.Body["recovery_codes"].([]any)[0].(string)
	e.clock.Advance(31 * time.Second)
	ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 200, "password step")
	sessions := e.count("SELECT count(*) FROM sessions WHERE user_id = $1", bob.ID)

	e.sql(`CREATE FUNCTION refuse_sign_in() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused for the test'; END $$`)
	e.sql(`CREATE TRIGGER refuse_sign_in BEFORE INSERT ON audit_log FOR EACH ROW
		WHEN (NEW.action = 'auth.login.succeeded') EXECUTE FUNCTION refuse_sign_in()`)
	r := e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "recovery_code": rc}, req{})
	if r.Status != 500 || r.detail() != "internal error" {
		t.Fatalf("the second step with the audit refusing: %d %s, want 500 with the generic detail", r.Status, r.Raw)
	}
	if n := e.count("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1", bob.ID); n != 10 {
		t.Errorf("%d recovery codes left, want 10: the code was spent without its audit entry", n)
	}
	if n := e.count("SELECT count(*) FROM sessions WHERE user_id = $1", bob.ID); n != sessions {
		t.Errorf("%d sessions, want %d", n, sessions)
	}

	e.sql("DROP TRIGGER refuse_sign_in ON audit_log")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "recovery_code": rc}, req{}).
		want(t, 200, "the same code once the audit works")
	if n := e.count("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1", bob.ID); n != 9 {
		t.Errorf("%d recovery codes left, want 9", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'auth.login.succeeded' AND actor = $1
		AND details::jsonb->>'used_backup_code' = 'true'`, bob.ID); n != 1 {
		t.Errorf("%d sign-in entries with a recovery code, want 1", n)
	}
	ch = e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 200, "password step again")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "recovery_code": rc}, req{}).want(t, 401, "a recovery code works once")
}

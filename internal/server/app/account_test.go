package app

import (
	"context"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/testenv"
)

// totpCode computes the current code of an authenticator app holding secret (base32).
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	code, err := auth.TOTPCode(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestMFAEnrolmentChallengeReplayAndRecoveryCodes(t *testing.T) {
	e := newEnv(t, 2, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "faculty")

	e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": "wrong-password-9"}, req{bearer: bob.Access}).want(t, 400, "enrol needs the password")
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": bob.Password}, req{bearer: bob.Access}).want(t, 200, "enrol")
	secret := en.str("secret")
	if !strings.HasPrefix(en.str("otpauth_uri"), "otpauth://totp/") || secret == "" {
		t.Fatalf("enrolment %v", en.Body)
	}
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": "000000"}, req{bearer: bob.Access}).want(t, 401, "wrong first code")
	conf := e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, secret, e.clock.Now())}, req{bearer: bob.Access}).want(t, 200, "confirm")
	codes := conf.Body["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	var stored string
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), "SELECT totp_secret FROM users WHERE id = $1", bob.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "rsf1.") || strings.Contains(stored, secret) {
		t.Fatal("the TOTP secret is not stored sealed")
	}

	// The password step now returns a challenge, not tokens.
	e.clock.Advance(31 * time.Second)
	ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 200, "password step")
	if ch.Body["mfa_required"] != true || ch.str("access_token") != "" || ch.str("mfa_token") == "" {
		t.Fatalf("challenge %v", ch.Body)
	}
	code := totpCode(t, secret, e.clock.Now())
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": wrongCode(code)}, req{}).want(t, 401, "wrong code")
	ok := e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": code}, req{instance: 1}).want(t, 200, "right code")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: ok.str("access_token")}).want(t, 200, "MFA session works")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": code}, req{}).want(t, 401, "a challenge completes once")

	// The same code cannot open a second challenge, even on the other instance.
	ch2 := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 200, "password step 2")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch2.str("mfa_token"), "code": code}, req{instance: 0}).want(t, 401, "replayed code")
	rc := codes[0].(string)
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch2.str("mfa_token"), "recovery_code": rc}, req{}).want(t, 200, "recovery code")
	ch3 := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 200, "password step 3")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch3.str("mfa_token"), "recovery_code": rc}, req{}).want(t, 401, "a recovery code works once")

	// Disable needs password and a fresh code.
	e.clock.Advance(31 * time.Second)
	e.call("POST", "/api/v1/auth/mfa/disable", map[string]any{"password": bob.Password, "code": "123456"}, req{bearer: ok.str("access_token")}).want(t, 401, "disable with a wrong code")
	e.call("POST", "/api/v1/auth/mfa/disable", map[string]any{"password": bob.Password, "code": totpCode(t, secret, e.clock.Now())}, req{bearer: ok.str("access_token")}).want(t, 204, "disable")
	e.login(bob)
}

func wrongCode(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

func TestMFAChallengeAttemptsAreBounded(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": admin.Password}, req{bearer: admin.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: admin.Access}).want(t, 200, "confirm")
	e.clock.Advance(31 * time.Second)
	ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": admin.Password}, req{}).want(t, 200, "password step")
	code := totpCode(t, en.str("secret"), e.clock.Now())
	for range 5 {
		e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": wrongCode(code)}, req{}).want(t, 401, "guess")
	}
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": code}, req{}).want(t, 401, "the right code after 5 wrong ones")
}

func TestRolesThatRequireMFAMustEnrolBeforeAnythingElse(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.MFARequiredRoles = []string{"admin"} })
	admin := e.bootstrap()
	me := e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 200, "me is allowed")
	if me.str("restriction") != "mfa_enrolment_required" {
		t.Fatalf("restriction %q", me.str("restriction"))
	}
	if d := e.call("GET", "/api/v1/admin/users", nil, req{bearer: admin.Access}).want(t, 403, "admin route before enrolment").detail(); !strings.Contains(d, "MFA enrolment required") {
		t.Fatalf("detail %q", d)
	}
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": admin.Password}, req{bearer: admin.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: admin.Access}).want(t, 200, "confirm")
	e.call("GET", "/api/v1/admin/users", nil, req{bearer: admin.Access}).want(t, 200, "after enrolment")
	e.call("POST", "/api/v1/auth/mfa/disable", map[string]any{"password": admin.Password, "code": "000000"}, req{bearer: admin.Access}).want(t, 409, "a required factor cannot be turned off")
}

func TestPasswordChangeEnforcesPolicyAndHistoryAndEndsOtherSessions(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.PasswordPolicy.HistorySize = 2 })
	admin := e.bootstrap()
	other := &user{Username: admin.Username, Password: admin.Password}
	e.login(other) // a second session of the same user
	change := func(cur, next string) resp {
		return e.call("POST", "/api/v1/auth/password", map[string]any{"current_password": cur, "new_password": next}, req{bearer: admin.Access})
	}
	change("wrong-current-1", "Violet-Harbor-Lamp-42").want(t, 400, "wrong current password")
	change(admin.Password, "short").want(t, 422, "policy")
	change(admin.Password, admin.Password).want(t, 422, "same password")
	change(admin.Password, "Violet-Harbor-Lamp-42").want(t, 204, "change")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 200, "this session survives")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: other.Access}).want(t, 401, "other session ended")
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": other.Refresh}, req{}).want(t, 401, "other session's refresh token")
	change("Violet-Harbor-Lamp-42", "Copper-Meadow-Kite-43").want(t, 204, "change again")
	change("Copper-Meadow-Kite-43", "Violet-Harbor-Lamp-42").want(t, 422, "reuse within history")
	change("Copper-Meadow-Kite-43", adminPassword).want(t, 422, "reuse of the first password (history 2 + current)")
}

func TestExpiredAndTemporaryPasswordsMustBeChangedFirst(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	created := e.call("POST", "/api/v1/admin/users", map[string]any{"username": "tess", "email": "tess@example.org", "role": "resident"}, req{bearer: admin.Access}).
		want(t, 201, "create with a generated password")
	temp := created.str("temporary_password")
	if len(temp) != 20 {
		t.Fatalf("temporary password %q", temp)
	}
	tess := &user{Username: "tess", Password: temp}
	e.login(tess)
	e.call("GET", "/api/v1/auth/sessions", nil, req{bearer: tess.Access}).want(t, 403, "restricted until changed")
	e.call("POST", "/api/v1/auth/password", map[string]any{"current_password": temp, "new_password": "Quiet-Orchard-Rain-99"}, req{bearer: tess.Access}).want(t, 204, "change")
	e.call("GET", "/api/v1/auth/sessions", nil, req{bearer: tess.Access}).want(t, 200, "unrestricted")

	e.clock.Advance(e.cfg.Auth.PasswordPolicy.MaxAge.D() + time.Hour)
	e.login(admin)
	if d := e.call("GET", "/api/v1/admin/users", nil, req{bearer: admin.Access}).want(t, 403, "expired password").detail(); !strings.Contains(d, "password expired") {
		t.Fatalf("detail %q", d)
	}
}

func TestUsersListAndRevokeTheirOwnSessionsOnly(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	second := &user{Username: admin.Username, Password: admin.Password}
	e.login(second)
	bob := e.create(admin, "bob", "resident")
	list := e.call("GET", "/api/v1/auth/sessions", nil, req{bearer: admin.Access}).want(t, 200, "list")
	items := list.Body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("%d sessions", len(items))
	}
	var otherID string
	for _, it := range items {
		m := it.(map[string]any)
		if m["current"] == false {
			otherID = m["id"].(string)
		}
	}
	e.call("DELETE", "/api/v1/auth/sessions/"+otherID, nil, req{bearer: bob.Access}).want(t, 404, "someone else's session")
	e.call("DELETE", "/api/v1/auth/sessions/"+otherID, nil, req{bearer: admin.Access}).want(t, 204, "own session")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: second.Access}).want(t, 401, "revoked session's token")
	e.call("DELETE", "/api/v1/auth/sessions/not-a-uuid", nil, req{bearer: admin.Access}).want(t, 404, "malformed id")
}

// Seed #27 and the admin rules.
func TestAdminUserManagement(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "coordinator")
	e.call("DELETE", "/api/v1/admin/users/"+admin.ID, nil, req{bearer: admin.Access}).want(t, 400, "delete self")
	e.call("POST", "/api/v1/admin/users/"+admin.ID+"/lock", nil, req{bearer: admin.Access}).want(t, 400, "lock self")
	e.call("PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"role": "coordinator"}, req{bearer: admin.Access}).want(t, 409, "demote the last admin")
	e.call("PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"is_active": false}, req{bearer: admin.Access}).want(t, 409, "deactivate the last admin")

	// A role change takes effect at once and ends the user's sessions.
	e.call("PATCH", "/api/v1/admin/users/"+bob.ID, map[string]any{"role": "admin"}, req{bearer: admin.Access}).want(t, 200, "promote")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access}).want(t, 401, "sessions end on role change")
	e.login(bob)
	e.call("GET", "/api/v1/admin/users", nil, req{bearer: bob.Access}).want(t, 200, "new role in force")
	e.call("PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"role": "coordinator"}, req{bearer: bob.Access}).want(t, 200, "demote: another admin exists")

	// Lock, then delete: the row is anonymised, the audit trail keeps its id.
	e.call("POST", "/api/v1/admin/users/"+admin.ID+"/lock", nil, req{bearer: bob.Access}).want(t, 200, "lock")
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": adminPassword}, req{}).want(t, 423, "locked by an admin")
	e.call("DELETE", "/api/v1/admin/users/"+admin.ID, nil, req{bearer: bob.Access}).want(t, 204, "delete")
	e.call("GET", "/api/v1/admin/users/"+admin.ID, nil, req{bearer: bob.Access}).want(t, 404, "deleted user")
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": adminPassword}, req{}).want(t, 401, "deleted user signs in")
	var name, email string
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), "SELECT username, email FROM users WHERE id = $1", admin.ID).Scan(&name, &email); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(name, "alice") || strings.Contains(email, "alice") {
		t.Fatalf("not anonymised: %s %s", name, email)
	}
	trail := e.call("GET", "/api/v1/audit?target=user:"+admin.ID, nil, req{bearer: bob.Access}).want(t, 200, "trail")
	if trail.Body["total"].(float64) < 3 {
		t.Fatalf("audit trail of the deleted user: %v", trail.Body["total"])
	}
	list := e.call("GET", "/api/v1/admin/users?page_size=1&role=admin", nil, req{bearer: bob.Access}).want(t, 200, "filtered page")
	if list.Body["total"] != float64(1) || list.Body["total_pages"] != float64(1) {
		t.Fatalf("page %v", list.Body)
	}
	e.call("GET", "/api/v1/admin/users?page_size=9999", nil, req{bearer: bob.Access}).want(t, 422, "page size bound")
	e.call("PATCH", "/api/v1/admin/users/"+bob.ID, map[string]any{"role": "root"}, req{bearer: bob.Access}).want(t, 422, "bad role")
}

// Replicas cache authenticated principals; a change made through one replica (or straight in
// the database) reaches the others through the database's notifications.
func TestRevocationReachesTheOtherReplicasCache(t *testing.T) {
	e := newEnv(t, 2, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "coordinator")
	testenv.Eventually(t, 5*time.Second, "listeners up", func() (bool, string) {
		return e.apps[0].Accounts.CacheEnabled() && e.apps[1].Accounts.CacheEnabled(), "cache not enabled"
	})
	for range 3 { // warm replica 1's cache
		e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access, instance: 1}).want(t, 200, "warm")
	}
	e.call("POST", "/api/v1/auth/logout", nil, req{bearer: bob.Access, instance: 0}).want(t, 200, "logout on replica 0")
	testenv.Eventually(t, 5*time.Second, "replica 1 refuses the logged-out token", func() (bool, string) {
		r := e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access, instance: 1})
		return r.Status == 401, r.Raw
	})
	e.login(bob)
	e.call("GET", "/api/v1/admin/users", nil, req{bearer: bob.Access, instance: 1}).want(t, 403, "coordinator")
	e.sql("UPDATE users SET role = 'admin' WHERE id = $1", bob.ID) // a change made outside the server
	testenv.Eventually(t, 5*time.Second, "replica 1 sees the new role", func() (bool, string) {
		r := e.call("GET", "/api/v1/admin/users", nil, req{bearer: bob.Access, instance: 1})
		return r.Status == 200, r.Raw
	})
}

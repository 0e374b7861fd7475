package app

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/serverconfig"
)

// Seed #5 with the deviations: 423 (not 429), doubling lockouts, an admin can unlock.
func TestLockoutAnswers423WithBackoffAndAdminCanUnlock(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) {
		c.Auth.Lockout.MaxFailedAttempts = 5
		c.Auth.Lockout.Duration = serverconfig.Duration(time.Minute)
	})
	admin := e.bootstrap()
	carol := e.create(admin, "carol", "coordinator")
	bad := map[string]any{"username": "carol", "password": "not-her-password-1"}
	for i := 1; i <= 4; i++ {
		e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 401, "failure "+strconv.Itoa(i))
	}
	r := e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 423, "fifth failure locks")
	if r.Header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q, want 60", r.Header.Get("Retry-After"))
	}
	good := map[string]any{"username": "carol", "password": carol.Password}
	e.call("POST", "/api/v1/auth/login/json", good, req{}).want(t, 423, "right password while locked")

	e.clock.Advance(61 * time.Second)
	for i := 1; i <= 4; i++ {
		e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 401, "failure after the first lock")
	}
	if r := e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 423, "second lock"); r.Header.Get("Retry-After") != "120" {
		t.Fatalf("second lockout Retry-After %q, want 120 (doubled)", r.Header.Get("Retry-After"))
	}
	e.call("POST", "/api/v1/admin/users/"+carol.ID+"/unlock", nil, req{bearer: admin.Access}).want(t, 200, "admin unlocks")
	e.call("POST", "/api/v1/auth/login/json", good, req{}).want(t, 200, "after unlock")

	events := e.call("GET", "/api/v1/audit?action=auth.lockout.started", nil, req{bearer: admin.Access}).want(t, 200, "audit")
	if events.Body["total"] != float64(2) {
		t.Fatalf("lockouts audited: %v", events.Body["total"])
	}
}

func TestLockoutLooksTheSameForNamesWithoutAnAccount(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.Lockout.MaxFailedAttempts = 3 })
	e.bootstrap()
	bad := map[string]any{"username": "nobody-here", "password": "whatever-it-is-1"}
	e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 401, "1")
	e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 401, "2")
	e.call("POST", "/api/v1/auth/login/json", bad, req{}).want(t, 423, "3 locks an unknown name too")
}

// Limits are counted in PostgreSQL: requests alternating between two server instances on one
// database meet one limit, not two.
func TestRateLimitsHoldAcrossTwoInstances(t *testing.T) {
	e := newEnv(t, 2, func(c *serverconfig.Config) {
		c.RateLimit.Login = serverconfig.Limit{Requests: 5, Period: serverconfig.Duration(time.Minute)}
		c.RateLimit.Register = serverconfig.Limit{Requests: 3, Period: serverconfig.Duration(time.Minute)}
	})
	e.bootstrap() // one registration and one login used
	for i := 2; i <= 5; i++ {
		r := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "user" + strconv.Itoa(i), "password": "irrelevant-pw-1"}, req{instance: i % 2})
		r.want(t, 401, "login "+strconv.Itoa(i))
		if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(5-i) {
			t.Fatalf("login %d: headers %v", i, r.Header)
		}
	}
	r := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "user6", "password": "irrelevant-pw-1"}, req{instance: 0}).want(t, 429, "6th login on either instance")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("429 headers %v", r.Header)
	}
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "user7", "password": "irrelevant-pw-1"}, req{instance: 1}).want(t, 429, "and on the other")
	// Separate limits per endpoint: registration still has its own budget.
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "zed", "email": "zed@example.org", "password": "Zq8#Vw2mLr-T4kx"}, req{instance: 1}).want(t, 403, "register is limited separately")
	// X-Forwarded-For from an untrusted peer changes nothing.
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "user8", "password": "irrelevant-pw-1"}, req{xff: "203.0.113.9"}).want(t, 429, "spoofed XFF")
	e.clock.Advance(2 * time.Minute)
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "user9", "password": "irrelevant-pw-1"}, req{instance: 1}).want(t, 401, "after the window")
}

func TestForwardedForIsHonouredOnlyFromTrustedProxies(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) {
		c.RateLimit.Login = serverconfig.Limit{Requests: 2, Period: serverconfig.Duration(time.Minute)}
		c.RateLimit.TrustedProxies = []string{"127.0.0.0/8"}
	})
	n := 0
	login := func(xff string) int {
		n++ // a new name each time: only the per-address limit is under test
		return e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "someone" + strconv.Itoa(n), "password": "irrelevant-pw-1"}, req{xff: xff}).Status
	}
	// Two clients behind the trusted proxy have their own budgets.
	for _, ip := range []string{"198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2"} {
		if s := login(ip); s != 401 {
			t.Fatalf("client %s: %d", ip, s)
		}
	}
	if s := login("198.51.100.1"); s != 429 {
		t.Fatalf("third request of one client: %d", s)
	}
	// A client cannot prepend addresses: the nearest untrusted hop counts.
	if s := login("10.9.9.9, 198.51.100.1"); s != 429 {
		t.Fatalf("prepended address escaped the limit: %d", s)
	}
}

func TestWholeAPILimitAppliesToAuthenticatedCallers(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) {
		c.RateLimit.API = serverconfig.Limit{Requests: 20, Period: serverconfig.Duration(time.Hour)}
	})
	admin := e.bootstrap()
	limited := false
	for range 25 {
		r := e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access})
		if r.Status == 429 {
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("25 requests against a limit of 20 were all served")
	}
	e.call("GET", "/api/v1/health/live", nil, req{}).want(t, 200, "probes are never limited")
}

// A locked name is locked for every step that checks a secret, not only the password step.
func TestLockoutAlsoStopsTheMFAStepAndPasswordChange(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.Lockout.MaxFailedAttempts = 3 })
	admin := e.bootstrap()
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": admin.Password}, req{bearer: admin.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: admin.Access}).want(t, 200, "confirm")
	e.clock.Advance(31 * time.Second)
	ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": admin.Password}, req{}).want(t, 200, "password step")
	for range 3 {
		e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": "not-the-password-1"}, req{})
	}
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": totpCode(t, en.str("secret"), e.clock.Now())}, req{}).
		want(t, 423, "MFA step of a locked name")
	e.call("POST", "/api/v1/auth/password", map[string]any{"current_password": admin.Password, "new_password": "Violet-Harbor-Lamp-42"}, req{bearer: admin.Access}).
		want(t, 423, "password change of a locked name")
}

// The whole-API limit decides in memory but shares its counts through PostgreSQL: after a sync,
// what one replica served counts on the other.
func TestWholeAPILimitHoldsAcrossReplicasAfterSync(t *testing.T) {
	e := newEnv(t, 2, func(c *serverconfig.Config) {
		c.RateLimit.API = serverconfig.Limit{Requests: 20, Period: serverconfig.Duration(time.Hour)}
	})
	admin := e.bootstrap()
	for i := range 20 {
		e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access, instance: i % 2}).want(t, 200, "request "+strconv.Itoa(i))
	}
	// Neither replica alone has seen more than 12 requests; together they have seen 22.
	for _, i := range []int{0, 1, 0} {
		if err := e.apps[i].APILimit.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	r := e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access, instance: 1}).want(t, 429, "over the shared limit")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Limit") != "20" {
		t.Fatalf("429 headers %v", r.Header)
	}
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access, instance: 0}).want(t, 429, "on the other replica too")
}

// A correct password does not clear the failures of an account with MFA: wrong codes keep
// counting across password steps until the name locks.
func TestPasswordStepDoesNotResetWrongMFACodes(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.Lockout.MaxFailedAttempts = 3 })
	admin := e.bootstrap()
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": admin.Password}, req{bearer: admin.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: admin.Access}).want(t, 200, "confirm")
	wrong := wrongCode(totpCode(t, en.str("secret"), e.clock.Now()))
	guess := func() int {
		ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": admin.Password}, req{})
		if ch.Status != 200 {
			return ch.Status
		}
		return e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": wrong}, req{}).Status
	}
	statuses := []int{guess(), guess(), guess(), guess()}
	if statuses[0] != 401 || statuses[1] != 401 || statuses[3] != 423 {
		t.Fatalf("statuses %v: wrong codes must lock the name after 3 failures across password steps", statuses)
	}
}

// Failures that were already being checked when the lock began never lift or shorten it.
func TestConcurrentFailuresNeverLiftALock(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Auth.Lockout.MaxFailedAttempts = 5 })
	e.bootstrap()
	statuses := make(chan int, 10)
	for range 10 {
		go func() {
			statuses <- e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": "not-the-password-1"}, req{}).Status
		}()
	}
	var got []int
	for range 10 {
		got = append(got, <-statuses)
	}
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": adminPassword}, req{}).want(t, 423, "after 10 concurrent failures (statuses "+fmt.Sprint(got)+")")
}

package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/config"
)

func setupForBench(b *testing.B) (*env, *user) {
	b.Helper()
	e := newEnv(b, 1, func(c *config.Config) {
		huge := config.Limit{Requests: 1_000_000, Period: config.Duration(time.Minute)}
		c.RateLimit.API, c.RateLimit.Login = huge, huge
	})
	return e, e.bootstrap()
}

// BenchmarkAuthenticatedGet is GET /api/v1/auth/me through the whole handler: request ID,
// security headers, CORS, panic recovery, body limit, the whole-API limit, token verification
// (HS256) and the one database query that loads the user and checks the session and the
// revocation list. No network: the handler is called directly.
func BenchmarkAuthenticatedGet(b *testing.B) {
	e, admin := setupForBench(b)
	h := e.apps[0].HTTP
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/api/v1/auth/me", nil)
			r.Header.Set("Authorization", "Bearer "+admin.Access)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		}
	})
}

// BenchmarkLogin is POST /api/v1/auth/login/json end to end: rate limit checks in PostgreSQL,
// the lockout check, Argon2id verification (m=19456 KiB, t=2, p=1), and a new session with its
// refresh token and access token.
func BenchmarkLogin(b *testing.B) {
	e, admin := setupForBench(b)
	h := e.apps[0].HTTP
	body := `{"username": "alice", "password": "` + admin.Password + `"}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/api/v1/auth/login/json", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		}
	})
}

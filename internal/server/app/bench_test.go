package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/apiload"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/serverconfig"
)

func setupForBench(b *testing.B) (*env, *user) {
	b.Helper()
	e := newEnv(b, 1, func(c *serverconfig.Config) {
		huge := serverconfig.Limit{Requests: 1_000_000, Period: serverconfig.Duration(time.Minute)}
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

// BenchmarkGenerateBlockThroughAPI is POST /api/v1/schedule/generate for one 28-day block of the
// predecessor's size (18 residents, 12 faculty, 5 % absences, loaded through the API) with a
// 1 s budget, on real PostgreSQL: reading the inputs, solving, validating and writing the
// schedule in one transaction. ns/op minus the budget is what the API adds to the solver; the
// quality of each result is reported beside it.
func BenchmarkGenerateBlockThroughAPI(b *testing.B) {
	e, admin := setupForBench(b)
	srv := e.servers[0]
	c := &apiload.Client{Base: srv.URL, Token: admin.Access, HTTP: srv.Client()}
	from, to := roster.Date{Year: 2026, Month: time.July, Day: 2}, roster.Date{Year: 2026, Month: time.July, Day: 29}
	p, err := roster.GenerateProgram(roster.ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Load(context.Background(), p, time.Second, 1); err != nil {
		b.Fatal(err)
	}
	body := map[string]any{"start_date": from, "end_date": to, "time_budget_seconds": 1}
	var coverage, hard, construct float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var run struct {
			Hard  int `json:"hard_violations"`
			Stats struct {
				CoverageRate float64 `json:"coverage_rate"`
				Construct    int64   `json:"construct_elapsed_ns"`
			} `json:"stats"`
		}
		if _, err := c.Call(context.Background(), "POST", "/api/v1/schedule/generate", body, &run, http.StatusOK, http.StatusMultiStatus); err != nil {
			b.Fatal(err)
		}
		coverage += run.Stats.CoverageRate
		hard += float64(run.Hard)
		construct += float64(run.Stats.Construct) / 1e6
	}
	b.ReportMetric(coverage/float64(b.N), "coverage")
	b.ReportMetric(hard/float64(b.N), "hard-violations")
	b.ReportMetric(construct/float64(b.N), "first-compliant-ms")
}

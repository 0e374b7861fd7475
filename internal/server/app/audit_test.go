package app

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/serverconfig"
)

func TestAuditTrailIsChainedStreamedAndFreeOfSecrets(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "resident")
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": "Wrong-Guess-123"}, req{header: map[string]string{"User-Agent": "probe/1.0"}}).want(t, 401, "failure")
	e.call("POST", "/api/v1/auth/password", map[string]any{"current_password": bob.Password, "new_password": "Quiet-Orchard-Rain-99"}, req{bearer: bob.Access}).want(t, 204, "change")

	v := e.call("GET", "/api/v1/audit/verify", nil, req{bearer: admin.Access}).want(t, 200, "verify")
	if v.Body["valid"] != true || v.Body["checked"].(float64) < 5 {
		t.Fatalf("verify %v", v.Body)
	}
	list := e.call("GET", "/api/v1/audit?action=auth.login.failed", nil, req{bearer: admin.Access}).want(t, 200, "list")
	item := list.Body["items"].([]any)[0].(map[string]any)
	if item["user_agent"] != "probe/1.0" || item["ip"] != "127.0.0.1" || item["request_id"] == "" || item["target"] != "user:"+bob.ID {
		t.Fatalf("entry %v", item)
	}
	e.call("GET", "/api/v1/audit?since=yesterday", nil, req{bearer: admin.Access}).want(t, 422, "bad time filter")
	e.call("GET", "/api/v1/audit", nil, req{bearer: bob.Access}).want(t, 403, "non-admin")

	// Every appended entry went to the stream with its hash; no secret anywhere in it.
	stream := e.stream.String()
	sc := bufio.NewScanner(strings.NewReader(stream))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stream line is not JSON: %q", sc.Text())
		}
		if m["audit"] != true || len(m["hash"].(string)) != 64 {
			t.Fatalf("stream line %v", m)
		}
		n++
	}
	if float64(n) < v.Body["checked"].(float64) {
		t.Fatalf("%d stream lines for %v entries", n, v.Body["checked"])
	}
	for _, secret := range []string{adminPassword, bob.Password, "Quiet-Orchard-Rain-99", "Wrong-Guess-123", admin.Refresh, admin.Access} {
		if strings.Contains(stream, secret) {
			t.Fatal("a secret reached the audit stream")
		}
	}

	// Tampering with any row is detected and reported.
	e.sql("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
	bad := e.call("GET", "/api/v1/audit/verify", nil, req{bearer: admin.Access}).want(t, 200, "verify tampered")
	if bad.Body["valid"] != false || !strings.Contains(bad.str("error"), "entry 2") {
		t.Fatalf("tampered verify %v", bad.Body)
	}
}

func TestAuditRetentionKeepsTheChainVerifiable(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Audit.Retention = serverconfig.Duration(48 * time.Hour) })
	admin := e.bootstrap()
	e.clock.Advance(72 * time.Hour)
	e.login(admin)
	deleted, err := e.apps[0].Audit.Prune(t.Context(), e.cfg.Audit.Retention.D())
	if err != nil || deleted < 2 {
		t.Fatalf("prune: %d, %v", deleted, err)
	}
	v := e.call("GET", "/api/v1/audit/verify", nil, req{bearer: admin.Access}).want(t, 200, "verify after prune")
	if v.Body["valid"] != true {
		t.Fatalf("verify after prune %v", v.Body)
	}
	if l := e.call("GET", "/api/v1/audit?action=audit.pruned", nil, req{bearer: admin.Access}); l.Body["total"] != float64(1) {
		t.Fatalf("prune not audited: %v", l.Body)
	}
}

func TestCSPReportsAreAcceptedBoundedAndAudited(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	legacy := `{"csp-report": {"document-uri": "https://schedule.example.org/", "violated-directive": "script-src", "blocked-uri": "https://evil.example/x.js"}}`
	e.call("POST", "/api/v1/security/csp-report", legacy, req{contentType: "application/csp-report"}).want(t, 204, "report-uri format")
	modern := `[{"type": "csp-violation", "body": {"documentURL": "https://schedule.example.org/a", "effectiveDirective": "img-src", "blockedURL": "data"}}]`
	e.call("POST", "/api/v1/security/csp-report", modern, req{contentType: "application/reports+json"}).want(t, 204, "report-to format")
	e.call("POST", "/api/v1/security/csp-report", `{"hello": 1}`, req{contentType: "application/csp-report"}).want(t, 422, "not a report")
	e.call("POST", "/api/v1/security/csp-report", `{"csp-report": {"x": "`+strings.Repeat("a", 9000)+`"}}`, req{contentType: "application/csp-report"}).want(t, 413, "too large")
	e.call("POST", "/api/v1/security/csp-report", legacy, req{contentType: "text/plain"}).want(t, 415, "content type")
	l := e.call("GET", "/api/v1/audit?action=security.csp.violation", nil, req{bearer: admin.Access}).want(t, 200, "audited")
	if l.Body["total"] != float64(2) || !strings.Contains(l.Raw, "evil.example") {
		t.Fatalf("csp audit %v", l.Raw)
	}
}

func TestCSPReportSinkIsRateLimited(t *testing.T) {
	e := newEnv(t, 1, nil)
	legacy := `{"csp-report": {"violated-directive": "script-src"}}`
	limited := false
	for range 35 {
		if e.call("POST", "/api/v1/security/csp-report", legacy, req{contentType: "application/csp-report"}).Status == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("35 reports in a minute were all accepted (limit 30)")
	}
}

func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	e := newEnv(t, 1, func(c *serverconfig.Config) { c.Security.AllowedOrigins = []string{"https://app.example.org"} })
	pre := func(origin string) resp {
		return e.call("OPTIONS", "/api/v1/auth/me", nil, req{origin: origin, header: map[string]string{"Access-Control-Request-Method": "GET"}})
	}
	ok := pre("https://app.example.org").want(t, 204, "allowed preflight")
	if ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" || ok.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight headers %v", ok.Header)
	}
	pre("https://evil.example").want(t, 403, "other origin preflight")
	r := e.call("GET", "/api/v1/health/live", nil, req{origin: "https://evil.example"}).want(t, 200, "simple request")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers for an unknown origin")
	}
	if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatal("no Vary: Origin")
	}
}

func TestMeExportHoldsTheCallersDataAndNoSecrets(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "resident")
	r := e.call("GET", "/api/v1/me/export", nil, req{bearer: bob.Access}).want(t, 200, "export")
	if !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") || r.Body["user"].(map[string]any)["username"] != "bob" {
		t.Fatalf("export %v", r.Raw)
	}
	if len(r.Body["sessions"].([]any)) != 1 || r.Body["activity_total"].(float64) < 1 {
		t.Fatalf("export sessions/activity %v", r.Raw)
	}
	for _, s := range []string{bob.Password, "argon2id", "password_hash", bob.Refresh, "alice"} {
		if strings.Contains(r.Raw, s) {
			t.Fatalf("export contains %q", s)
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("export cacheable")
	}
}

func TestBodiesAreBoundedAndRequestIDsEchoed(t *testing.T) {
	e := newEnv(t, 1, nil)
	big := `{"username": "` + strings.Repeat("a", 2<<20) + `", "password": "x"}`
	e.call("POST", "/api/v1/auth/login/json", big, req{contentType: "application/json"}).want(t, http.StatusRequestEntityTooLarge, "2 MiB body")
	r := e.call("GET", "/api/v1/health/live", nil, req{header: map[string]string{"X-Request-ID": "trace-12345678"}})
	if r.Header.Get("X-Request-ID") != "trace-12345678" {
		t.Fatalf("request id %q", r.Header.Get("X-Request-ID"))
	}
}

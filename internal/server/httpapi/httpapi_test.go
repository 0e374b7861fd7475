package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method, path string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func detail(t *testing.T, resp *http.Response) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	return m["detail"]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("secret internal state") })
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			Error(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/v1/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h := chain(mux, Options{Headers: Headers{HSTS: true}, Log: quiet})
	for name, c := range map[string]struct {
		method, path string
		body         io.Reader
		status       int
		detail       string
	}{
		"live":             {"GET", "/api/v1/health/live", nil, 200, ""},
		"not found":        {"GET", "/api/v1/nope", nil, 404, "not found"},
		"wrong method":     {"DELETE", "/api/v1/health/live", nil, 405, "method not allowed"},
		"panic":            {"GET", "/boom", nil, 500, "internal error"},
		"body too large":   {"POST", "/echo", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)), 413, "request body too large"},
		"body within size": {"POST", "/echo", strings.NewReader("{}"), 204, ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp := serve(t, h, c.method, c.path, c.body, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			for header, want := range map[string]string{
				"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
				"Content-Security-Policy":   APIContentSecurityPolicy,
				"X-Frame-Options":           "DENY",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"Cache-Control":             "no-store",
			} {
				if got := resp.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
			if resp.Header.Get("Permissions-Policy") == "" || len(resp.Header.Get("X-Request-ID")) < 8 {
				t.Error("Permissions-Policy or X-Request-ID missing")
			}
			if c.detail != "" {
				if got := detail(t, resp); got != c.detail {
					t.Errorf("detail %q, want %q", got, c.detail)
				}
			}
			if c.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

func TestUnknownPathsAndMethodsOfTheRealRouterAreJSON(t *testing.T) {
	h := NewHandler(Options{Log: quiet})
	if resp := serve(t, h, "DELETE", "/api/v1/health/live", nil, nil); resp.StatusCode != 405 || detail(t, resp) != "method not allowed" || resp.Header.Get("Allow") == "" {
		t.Errorf("DELETE on a GET route: %d", resp.StatusCode)
	}
	if resp := serve(t, h, "GET", "/metrics", nil, nil); resp.StatusCode != 404 || detail(t, resp) != "not found" {
		t.Errorf("GET /metrics on the public router: %d (metrics belong on their own listener)", resp.StatusCode)
	}
}

func TestHeaderSettingsFollowTheConfig(t *testing.T) {
	h := NewHandler(Options{Headers: Headers{HSTS: false, CSPReportOnly: true}, Log: quiet})
	resp := serve(t, h, "GET", "/api/v1/health/live", nil, nil)
	if resp.Header.Get("Strict-Transport-Security") != "" || resp.Header.Get("Content-Security-Policy") != "" ||
		resp.Header.Get("Content-Security-Policy-Report-Only") != APIContentSecurityPolicy {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestRequestIDsAreEchoedOrMade(t *testing.T) {
	h := NewHandler(Options{Log: quiet})
	if got := serve(t, h, "GET", "/api/v1/health/live", nil, map[string]string{"X-Request-ID": "trace-1234abcd"}).Header.Get("X-Request-ID"); got != "trace-1234abcd" {
		t.Errorf("a valid client ID was replaced by %q", got)
	}
	for _, bad := range []string{"short", "has spaces in it", strings.Repeat("a", 65), "inject\r\nX-Evil: 1"} {
		got := serve(t, h, "GET", "/api/v1/health/live", nil, map[string]string{"X-Request-ID": bad}).Header.Get("X-Request-ID")
		if got == bad || len(got) != 24 {
			t.Errorf("client ID %q: got %q, want a fresh 24-hex ID", bad, got)
		}
	}
}

func TestReadinessReportsOnlyAStatus(t *testing.T) {
	failing := NewHandler(Options{Log: quiet, Ready: func(context.Context) error {
		return errors.New("dial tcp 10.0.0.5:5432: password authentication failed for user rsched")
	}})
	resp := serve(t, failing, "GET", "/api/v1/health/ready", nil, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if d := detail(t, resp); d != "not ready" {
		t.Errorf("detail %q leaks the reason", d)
	}
	ok := NewHandler(Options{Log: quiet, Ready: func(context.Context) error { return nil }})
	if resp := serve(t, ok, "GET", "/api/v1/health/ready", nil, nil); resp.StatusCode != 200 {
		t.Errorf("ready: %d", resp.StatusCode)
	}
}

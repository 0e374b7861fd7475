// Package httpapi is the HTTP surface of the scheduling API server: the router under /api/v1,
// JSON errors ({"detail": "..."}), and the middleware every response passes through (request
// IDs, security headers, body limits, panic recovery). Handlers for each resource live in their
// own files and state their permission where they are registered.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
)

// MaxBodyBytes bounds every request body; uploads, when they come, get their own limit.
const MaxBodyBytes = 1 << 20

// Headers are the security header settings (config security.*).
type Headers struct {
	HSTS          bool
	CSPReportOnly bool
}

// Ready reports whether the server can serve: nil, or why not.
type Ready func(ctx context.Context) error

// writeJSON writes v with status. Encoding errors are logged by the caller's middleware only:
// the status line is already sent.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error writes {"detail": detail} with status. detail is for the client: it never carries internal
// errors, secrets or stack traces.
func Error(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// chain applies the middleware, outermost first.
func chain(h http.Handler, o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h = jsonMuxErrors(h)
	h = legacyRedirect(h)
	h = limitBody(h)
	h = recoverPanics(h, o.Log)
	h = cors(h, o.AllowedOrigins)
	h = securityHeaders(h, o.Headers)
	h = requestID(h)
	return h
}

// legacyRedirect keeps the predecessor's clients working: /api/<x> outside /api/v1 answers 307
// (method and body preserved) to /api/v1/<x>. Preflights are not redirected, so CORS works. The
// target is a path on this host only: nothing in the request can point it elsewhere.
func legacyRedirect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if r.Method != http.MethodOptions && strings.HasPrefix(p, "/api/") && p != "/api/v1" && !strings.HasPrefix(p, "/api/v1/") {
			target := "/api/v1/" + strings.TrimLeft(strings.TrimPrefix(p, "/api/"), "/")
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", target)
			writeJSON(w, http.StatusTemporaryRedirect, map[string]string{"detail": "moved to " + target})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID is the ID of the request in ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID accepts a well-formed X-Request-ID from the client (so a trace spans a proxy) or
// makes one, and echoes it on the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// APIContentSecurityPolicy is the CSP of a JSON API: nothing may load, nothing may frame it.
// Violations are reported both ways: report-to (Reporting API, current browsers) and report-uri
// (older ones); both reach POST /api/v1/security/csp-report.
const APIContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; report-uri /api/v1/security/csp-report; report-to csp"

// securityHeaders sets the headers of the seeds' security architecture on every response,
// errors included (they are set before the handler writes anything).
func securityHeaders(next http.Handler, o Headers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if o.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		h.Set("Reporting-Endpoints", `csp="/api/v1/security/csp-report"`)
		if o.CSPReportOnly {
			h.Set("Content-Security-Policy-Report-Only", APIContentSecurityPolicy)
		} else {
			h.Set("Content-Security-Policy", APIContentSecurityPolicy)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; a handler reading past the cap gets an error and answers 413.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			Error(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500 with a generic detail: no stack trace or
// internal message reaches the client.
func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "panic", v, "method", r.Method, "path", r.URL.Path, "request_id", RequestID(r.Context()))
				Error(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// jsonMuxErrors rewrites ServeMux's plain-text 404 and 405 as JSON, keeping the 405's Allow
// header. Handlers' own errors are JSON already and pass untouched.
func jsonMuxErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&methodWriter{ResponseWriter: w}, r)
	})
}

type methodWriter struct {
	http.ResponseWriter
	swallow bool
}

// Unwrap lets http.ResponseController reach the connection.
func (m *methodWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

func (m *methodWriter) WriteHeader(status int) {
	if (status == http.StatusMethodNotAllowed || status == http.StatusNotFound) && m.Header().Get("Content-Type") != "application/json" {
		m.swallow = true
		detail := "not found"
		if status == http.StatusMethodNotAllowed {
			detail = "method not allowed"
		}
		Error(m.ResponseWriter, status, detail)
		return
	}
	m.ResponseWriter.WriteHeader(status)
}

func (m *methodWriter) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil // ServeMux's text body, replaced by the JSON above
	}
	return m.ResponseWriter.Write(b)
}

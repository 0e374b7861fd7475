package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is the servers' clock; tests move it instead of sleeping.
type clock struct{ now atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time { return *c.now.Load() }
func (c *clock) Advance(d time.Duration) {
	t := c.Now().Add(d)
	c.now.Store(&t)
}

// lines collects the audit stream.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is one database and one or more server instances on it, sharing a clock and a keyring.
type env struct {
	t     testing.TB
	dbURL string
	cfg   serverconfig.Config
	clock *clock
	// keys are per instance: replicas see a rotated keyring at different moments.
	keys    []*keyringtest.Source
	metrics []*prometheus.Registry
	apps    []*App
	servers []*httptest.Server
	stream  *lines
}

var databases atomic.Int32

// secretHS and secretAES are the material of the test keyring's first keys.
var (
	secretHS  = keyringtest.Random(32)
	secretAES = keyringtest.Random(32)
)

func testRing(t testing.TB) *keyring.Keyring {
	return keyringtest.Build(t, 1,
		[]keyringtest.Key{{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: secretHS}},
		[]keyringtest.Key{{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: secretAES}})
}

// newEnv starts instances servers on a fresh database. Limits are generous unless mutate sets
// them: tests of limits set their own.
func newEnv(t testing.TB, instances int, mutate func(*serverconfig.Config)) *env {
	t.Helper()
	dbURL, err := pg.CreateDatabase(fmt.Sprintf("app_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverconfig.Default()
	cfg.Issuer = "https://schedule.example.org"
	cfg.Auth.MFARequiredRoles = nil
	// testenv's PostgreSQL speaks plain text (the TLS cases are the store's tests).
	cfg.Database.TLS = serverconfig.DatabaseTLS{Mode: "disable", InsecureAllowUnverified: true}
	big := serverconfig.Limit{Requests: 10000, Period: serverconfig.Duration(time.Minute)}
	cfg.RateLimit.Login, cfg.RateLimit.Register, cfg.RateLimit.Refresh, cfg.RateLimit.MFA, cfg.RateLimit.API = big, big, big, big, big
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	now := time.Now().Truncate(time.Second)
	c.now.Store(&now)
	e := &env{t: t, dbURL: dbURL, cfg: cfg, clock: c, stream: &lines{}}
	ring := testRing(t)
	for range instances {
		keys := keyringtest.NewSource(ring)
		e.keys = append(e.keys, keys)
		reg := prometheus.NewRegistry()
		e.metrics = append(e.metrics, reg)
		a, err := New(context.Background(), cfg, keys, dbURL, Options{Log: quiet, Now: c.Now, AuditStream: e.stream, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go a.ListenForChanges(ctx)
		srv := httptest.NewServer(a.HTTP)
		t.Cleanup(srv.Close)
		e.apps = append(e.apps, a)
		e.servers = append(e.servers, srv)
	}
	return e
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	List   []any
	Raw    string
}

func (r resp) detail() string { s, _ := r.Body["detail"].(string); return s }
func (r resp) str(k string) string {
	s, _ := r.Body[k].(string)
	return s
}

// req is one request's options.
type req struct {
	bearer, cookie, csrf, contentType, xff, origin string
	form                                           url.Values
	instance                                       int
	header                                         map[string]string
}

// call sends a request to instance o.instance; body is JSON-encoded unless it is a string.
func (e *env) call(method, path string, body any, o req) resp {
	e.t.Helper()
	var rd io.Reader
	ct := o.contentType
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
		if ct == "" {
			ct = "application/json"
		}
	}
	if o.form != nil {
		rd, ct = strings.NewReader(o.form.Encode()), "application/x-www-form-urlencoded"
	}
	r, err := http.NewRequest(method, e.servers[o.instance].URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if o.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+o.bearer)
	}
	if o.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "access_token", Value: o.cookie})
	}
	if o.csrf != "" {
		r.Header.Set("X-CSRF-Token", o.csrf)
	}
	if o.xff != "" {
		r.Header.Set("X-Forwarded-For", o.xff)
	}
	if o.origin != "" {
		r.Header.Set("Origin", o.origin)
	}
	for k, v := range o.header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if raw[0] == '[' {
			_ = json.Unmarshal(raw, &out.List)
		} else if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
		}
	}
	return out
}

// want fails the test unless r has status.
func (r resp) want(t testing.TB, status int, what string) resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Raw)
	}
	return r
}

const adminPassword = "Correct-Horse-Battery-9"

// user is a signed-in test account.
type user struct {
	ID, Username, Password, Role string
	Access, Refresh, CSRF        string
}

// bootstrap registers the first user (who becomes admin) and signs them in.
func (e *env) bootstrap() *user {
	e.t.Helper()
	r := e.call("POST", "/api/v1/auth/register", map[string]any{"username": "alice", "email": "alice@example.org", "password": adminPassword}, req{}).
		want(e.t, 201, "first registration")
	u := &user{ID: r.str("id"), Username: "alice", Password: adminPassword, Role: "admin"}
	e.login(u)
	return u
}

// login signs u in with the JSON endpoint and keeps the tokens.
func (e *env) login(u *user) resp {
	e.t.Helper()
	r := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": u.Username, "password": u.Password}, req{}).
		want(e.t, 200, "login "+u.Username)
	u.Access, u.Refresh, u.CSRF = r.str("access_token"), r.str("refresh_token"), r.str("csrf_token")
	return r
}

// create has admin create a user with role and signs them in.
func (e *env) create(admin *user, name, role string) *user {
	e.t.Helper()
	pw := "Zq8#" + base64.RawURLEncoding.EncodeToString(keyringtest.Random(12)) + "xY"
	r := e.call("POST", "/api/v1/admin/users", map[string]any{"username": name, "email": name + "@example.org", "password": pw, "role": role},
		req{bearer: admin.Access}).want(e.t, 201, "create "+name)
	u := &user{ID: r.Body["user"].(map[string]any)["id"].(string), Username: name, Password: pw, Role: role}
	e.login(u)
	return u
}

// sql runs a statement on the test database directly (to set up or tamper).
func (e *env) sql(q string, args ...any) {
	e.t.Helper()
	if _, err := e.apps[0].Store.Pool.Exec(context.Background(), q, args...); err != nil {
		e.t.Fatal(err)
	}
}

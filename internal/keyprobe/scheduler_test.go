package keyprobe

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/testenv"
)

var schedulerBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := testenv.BuildBinary("cmd/scheduler")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	schedulerBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// scheduler is the real server binary on a real database, with its keyring file in dir.
type scheduler struct {
	t                 *testing.T
	dir, api, metrics string
	dbURL             string
}

var (
	jwt1    = keyringtest.Random(32)
	fields1 = keyringtest.Random(32)
	fields2 = keyringtest.Random(32)
)

// writeKeyring replaces the keyring file in one rename, as a Secret volume update does.
func (s *scheduler) writeKeyring(version int64, encryption ...keyring.FileKey) {
	s.t.Helper()
	data, err := keyring.Marshal(&keyring.File{Format: keyring.FormatVersion, Version: version,
		Signing:    []keyring.FileKey{{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.Active, CreatedAt: keyringtest.T0, Key: jwt1}},
		Encryption: encryption})
	if err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, ".keyring.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "keyring.json")); err != nil {
		s.t.Fatal(err)
	}
}

func encKey(kid string, state keyring.State, material []byte) keyring.FileKey {
	return keyring.FileKey{KID: kid, Algorithm: keyring.AES256GCM, State: state, CreatedAt: keyringtest.T0, Key: material}
}

func startScheduler(t *testing.T) *scheduler {
	t.Helper()
	pg := testenv.StartPostgres(t)
	s := &scheduler{t: t, dir: t.TempDir(), api: testenv.FreeAddr(t), metrics: testenv.FreeAddr(t), dbURL: pg.URL}
	s.writeKeyring(1, encKey("fields-1", keyring.Active, fields1))
	dbFile := filepath.Join(s.dir, "db-url")
	if err := os.WriteFile(dbFile, []byte(pg.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("listen_addr: %q\nmetrics_addr: %q\nissuer: https://schedule.test\nauth: {mfa_required_roles: []}\n"+
		"database: {tls: {mode: disable, insecure_allow_unverified: true}}\n"+ // plain test PostgreSQL
		"secrets:\n  database_url_file: %s\n  keyring_file: %s\n", s.api, s.metrics, dbFile, filepath.Join(s.dir, "keyring.json"))
	configPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testenv.OutputBuffer{}
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("scheduler output:\n%s", out.String())
		}
	})
	testenv.Eventually(t, 30*time.Second, "the scheduler ready", func() (bool, string) {
		code, _ := s.call("GET", "/api/v1/health/ready", nil, "")
		return code == 200, fmt.Sprint(code)
	})
	return s
}

// call sends a JSON request to the API and decodes the JSON answer.
func (s *scheduler) call(method, path string, body any, bearer string) (int, map[string]any) {
	s.t.Helper()
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			s.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, "http://"+s.api+path, &rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// enrolMFA registers the first user and gives them a confirmed TOTP secret, which the server
// seals with the active encryption key. It returns the user's id.
func (s *scheduler) enrolMFA() string {
	s.t.Helper()
	const pw = "Correct-Horse-Battery-9"
	code, r := s.call("POST", "/api/v1/auth/register", map[string]any{"username": "alice", "email": "alice@example.org", "password": pw}, "")
	if code != 201 {
		s.t.Fatalf("register: %d %v", code, r)
	}
	id, _ := r["id"].(string)
	code, r = s.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": pw}, "")
	if code != 200 {
		s.t.Fatalf("login: %d %v", code, r)
	}
	access, _ := r["access_token"].(string)
	code, r = s.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": pw}, access)
	if code != 200 {
		s.t.Fatalf("enrol: %d %v", code, r)
	}
	secret, _ := r["secret"].(string)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		s.t.Fatal(err)
	}
	totp, err := auth.TOTPCode(raw, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if code, r = s.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totp}, access); code != 200 {
		s.t.Fatalf("confirm: %d %v", code, r)
	}
	return id
}

// db runs fn on a connection to the scheduler's database.
func (s *scheduler) db(fn func(*pgx.Conn) error) {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := fn(conn); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scheduler) sealedUnder(userID string) string {
	s.t.Helper()
	var v string
	s.db(func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), "SELECT totp_secret FROM users WHERE id = $1", userID).Scan(&v)
	})
	kid, err := fieldcrypt.KeyID(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return kid
}

// scrapeUntil scrapes the scheduler's metrics listener until cond holds.
func (s *scheduler) scrapeUntil(timeout time.Duration, what string, cond func(*Report) bool) *Report {
	s.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	var last *Report
	testenv.Eventually(s.t, timeout, what, func() (bool, string) {
		r, err := Scrape(context.Background(), hc, "http://"+s.metrics+"/metrics")
		if err != nil {
			return false, err.Error()
		}
		last = r
		return cond(r), fmt.Sprintf("%+v rewrap %+v", *r, r.Rewrap)
	})
	return last
}

// The operator's view of one pod through a rotation: the real server's metrics listener says
// which keyring it has loaded and, once an activation has been rewrapped, under which key and
// with how much left over. One sealed value is real (moved by the rewrap); one is corrupt (never
// movable), so the counts are not all zeros.
func TestScrapeFollowsTheRealSchedulerThroughAnActivation(t *testing.T) {
	started := time.Now()
	s := startScheduler(t)
	r := s.scrapeUntil(10*time.Second, "keyring 1 and a completed pass", func(r *Report) bool {
		return r.HasKeyring && r.KeyringVersion == 1 && r.Rewrap != nil && r.Rewrap.ActiveKID == "fields-1"
	})
	if rw := r.Rewrap; rw.Pending != 0 || rw.Failed != 0 || rw.StartedAt.Before(started.Add(-time.Second)) || rw.StartedAt.After(time.Now()) {
		t.Fatalf("first pass %+v (scheduler started %s)", *rw, started)
	}

	alice := s.enrolMFA()
	if kid := s.sealedUnder(alice); kid != "fields-1" {
		t.Fatalf("TOTP secret sealed under %s", kid)
	}
	s.db(func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), "UPDATE users SET totp_pending = 'not-a-sealed-value' WHERE id = $1", alice)
		return err
	})

	// Staged: the pod loads version 2; the active key and the last pass stay.
	s.writeKeyring(2, encKey("fields-1", keyring.Active, fields1), encKey("fields-2", keyring.Staged, fields2))
	r = s.scrapeUntil(15*time.Second, "keyring 2", func(r *Report) bool { return r.KeyringVersion == 2 })
	if r.Rewrap == nil || r.Rewrap.ActiveKID != "fields-1" {
		t.Fatalf("after staging: rewrap %+v", r.Rewrap)
	}

	// Activated: version 3, and within seconds a completed pass under fields-2.
	activated := time.Now()
	s.writeKeyring(3, encKey("fields-1", keyring.DecryptOnly, fields1), encKey("fields-2", keyring.Active, fields2))
	r = s.scrapeUntil(10*time.Second, "keyring 3 rewrapped under fields-2", func(r *Report) bool {
		return r.KeyringVersion == 3 && r.Rewrap != nil && r.Rewrap.ActiveKID == "fields-2"
	})
	t.Logf("activation reported as rewrapped %s after the file changed", time.Since(activated).Round(time.Millisecond))
	rw := r.Rewrap
	if rw.Pending != 1 || rw.Failed != 1 {
		t.Fatalf("pass under fields-2: %+v, want the corrupt value pending and failed", *rw)
	}
	if rw.StartedAt.Before(activated.Add(-time.Millisecond)) || rw.StartedAt.After(time.Now()) {
		t.Fatalf("pass started %s, activation written %s", rw.StartedAt, activated)
	}
	if kid := s.sealedUnder(alice); kid != "fields-2" {
		t.Fatalf("TOTP secret still sealed under %s", kid)
	}
}

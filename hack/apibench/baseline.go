package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/testenv"
)

// baselineSchema is run.sh's: the user the token names and a revocation list of 10,000 entries.
const baselineSchema = `create table users(id text primary key, username text, email text, role text, is_active bool);
create table token_blacklist(jti text primary key, expires_at timestamptz);
insert into users values ('u1','admin','admin@example.org','admin',true);
insert into token_blacklist select 'j'||g, now() from generate_series(1,10000) g;`

// uvicornArgs are run.sh's uvicorn options (two workers, uvloop, httptools), to which the
// baseline's own TLS options are added: uvicorn terminates TLS itself, as run.sh does with
// BASELINE_TLS=1.
func uvicornArgs(port string, f tlsFiles) []string {
	return []string{"-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", port,
		"--workers", "2", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
		"--ssl-certfile", f.certFile, "--ssl-keyfile", f.keyFile}
}

// uvicorn is the FastAPI baseline (run.sh's app.py and command line) on the run's certificate.
type uvicorn struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	log     string
	addr    string // 127.0.0.1:port
	token   string // an HS256 access token for the baseline's user; never printed
}

// startBaseline loads run.sh's schema into a new database of pg and starts app.py from appDir
// under uvicorn with the run's certificate; it returns once GET /api/v1/auth/me answers 200 to a
// client that verifies the run's CA. run.sh must have run before: it installs the packages.
func startBaseline(ctx context.Context, appDir, dir string, pg *testenv.Postgres, f tlsFiles) (*uvicorn, error) {
	dbURL, err := pg.CreateDatabase("fastapi_baseline")
	if err != nil {
		return nil, err
	}
	if err := loadSchema(ctx, dbURL); err != nil {
		return nil, err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, errors.New("the baseline's database URL does not parse") // the URL holds the password
	}
	u.Scheme = "postgresql+psycopg2" // SQLAlchemy's name for the same URL
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(48))
	token, err := hs256Token(secret, map[string]any{"sub": "u1", "jti": "x1", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		return nil, err
	}

	var lastErr error
	for attempt := range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		_, port, _ := strings.Cut(addr, ":")
		uv := &uvicorn{addr: addr, token: token, done: make(chan struct{}), log: filepath.Join(dir, fmt.Sprintf("uvicorn-%d.log", attempt))}
		logFile, err := os.OpenFile(uv.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		uv.cmd = exec.Command("/usr/bin/python3", uvicornArgs(port, f)...)
		uv.cmd.Dir = appDir
		uv.cmd.Env = append(os.Environ(), "BASELINE_SECRET="+secret, "BASELINE_DB="+u.String())
		uv.cmd.Stdout, uv.cmd.Stderr = logFile, logFile
		uv.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err = uv.cmd.Start()
		_ = logFile.Close()
		if err != nil {
			return nil, err
		}
		go func() { uv.waitErr = uv.cmd.Wait(); close(uv.done) }()
		if lastErr = uv.waitReady(ctx, f, 60*time.Second); lastErr == nil {
			return uv, nil
		}
		_ = uv.stop()
		if !strings.Contains(uv.tail(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func loadSchema(ctx context.Context, dbURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("the baseline's database: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, baselineSchema); err != nil {
		return fmt.Errorf("the baseline's schema: %w", err)
	}
	return nil
}

// hs256Token is a JWT signed with HS256, as run.sh makes with PyJWT.
func hs256Token(secret string, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

func (uv *uvicorn) me() string { return "https://" + uv.addr + "/api/v1/auth/me" }

func (uv *uvicorn) header() http.Header { return http.Header{"Authorization": {"Bearer " + uv.token}} }

func (uv *uvicorn) waitReady(ctx context.Context, f tlsFiles, timeout time.Duration) error {
	hc := newClient(f.clientTLS(), 1, false)
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := call(ctx, hc, http.MethodGet, uv.me(), uv.token, nil, nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-uv.done:
			return uv.withLog(fmt.Errorf("uvicorn exited before it answered (%v)", uv.waitErr))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return uv.withLog(fmt.Errorf("the baseline did not answer 200 within %s: %s", timeout, describe(code, "", err)))
		}
	}
}

// stop sends SIGTERM to uvicorn's process group (its workers) and kills the group after 20 s.
func (uv *uvicorn) stop() error {
	select {
	case <-uv.done:
	default:
		_ = syscall.Kill(-uv.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-uv.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-uv.cmd.Process.Pid, syscall.SIGKILL)
			<-uv.done
		}
	}
	if left := testenv.ProcessGroupAlive(uv.cmd.Process.Pid); len(left) > 0 {
		_ = syscall.Kill(-uv.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("processes %v of uvicorn's group outlived it; killed", left)
	}
	return nil
}

func (uv *uvicorn) tail() string { return tailOf(uv.log) }

func (uv *uvicorn) withLog(err error) error {
	return fmt.Errorf("%w\nuvicorn's log ends with:\n%s", err, uv.tail())
}

// machineLoad is the 1-, 5- and 15-minute load averages from /proc/loadavg.
func machineLoad() ([3]float64, error) {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, err
	}
	if _, err := fmt.Sscan(string(b), &l[0], &l[1], &l[2]); err != nil {
		return l, fmt.Errorf("/proc/loadavg: %w", err)
	}
	return l, nil
}

func loadString(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

// waitForCalm waits, polling every 30 s, until the 1-minute load average is below limit or wait
// has passed; other work on the machine takes the cores the servers are measured on. It returns
// the load it last saw and whether it was below limit. limit <= 0: no wait.
func waitForCalm(ctx context.Context, limit float64, wait time.Duration) ([3]float64, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := machineLoad()
		if err != nil || limit <= 0 || l[0] < limit {
			return l, err == nil, err
		}
		if !time.Now().Before(deadline) {
			return l, false, nil
		}
		step("load average %s: waiting for the 1-minute load to fall below %.1f (until %s)", loadString(l), limit, deadline.UTC().Format("15:04:05"))
		select {
		case <-ctx.Done():
			return l, false, ctx.Err()
		case <-time.After(30 * time.Second):
		}
	}
}

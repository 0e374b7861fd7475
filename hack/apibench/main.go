// Command apibench measures the authenticated read path of the real scheduling API server end to
// end and compares it with the predecessor's FastAPI baseline (../shared/bench/fastapi-baseline).
//
// It builds cmd/scheduler, starts a throw-away PostgreSQL, writes the files the operator would
// mount (keyring, database URL, config), starts the server on free loopback ports, registers the
// first user (who becomes admin), logs in, and loads GET /api/v1/auth/me with the access token:
// first with hack/load's engine (exact percentiles), then with wrk -t2 when wrk is installed,
// which is the tool the baseline is measured with. The baseline runs before our stack starts,
// never beside it: on a 2-core machine two servers would measure each other. It also installs
// wrk when missing, so running it first gives the tool-for-tool line on the first run.
//
// Run it through `make bench-api` (APIBENCH_FLAGS="-c 64 -d 30s"), or
// `source hack/test-env.sh && go run ./hack/apibench -d 5s`. Everything it starts is stopped and
// every temporary file removed when it ends, also on failure or Ctrl-C. It never prints the
// password, the tokens or the database URL.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rsched/rsched/hack/load/loadgen"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

// settings are the flags.
type settings struct {
	conns   int
	seconds int // wrk and the baseline take whole seconds, so the duration is rounded up to one
	warmup  time.Duration
}

func (s settings) duration() time.Duration { return time.Duration(s.seconds) * time.Second }

// ourFigures is what was measured against our server.
type ourFigures struct {
	load loadgen.Result
	wrk  *wrkFigures // nil when wrk is not installed
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apibench", flag.ContinueOnError)
	c := fs.Int("c", 32, "Concurrent connections (clients), for every tool.")
	d := fs.Duration("d", 10*time.Second, "Measured duration of each run, rounded up to whole seconds.")
	warmup := fs.Duration("warmup", time.Second, "Load before our measurement, not counted.")
	baseline := fs.Bool("baseline", true, "Also run ../shared/bench/fastapi-baseline/run.sh and print the ratio.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *c < 1 || *d <= 0 || *warmup < 0 || fs.NArg() > 0 {
		return errors.New("-c must be at least 1, -d positive, -warmup not negative; no arguments")
	}
	s := settings{conns: *c, seconds: int(math.Ceil(d.Seconds())), warmup: *warmup}
	root := testenv.RepoRoot()

	step("building cmd/scheduler")
	bin, removeBin, err := testenv.BuildBinary("cmd/scheduler")
	if err != nil {
		return err
	}
	defer removeBin()

	var base *wrkFigures
	var baseErr error
	script := filepath.Join(root, "..", "shared", "bench", "fastapi-baseline", "run.sh")
	if *baseline {
		if _, err := os.Stat(script); err != nil {
			step("no baseline at %s: printing our figures only", script)
		} else {
			step("measuring the FastAPI baseline: %s %d %d", script, s.seconds, s.conns)
			base, baseErr = runBaseline(ctx, script, s)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	ours, err := measureOurs(ctx, bin, s)
	if err != nil {
		if base != nil { // measured already: worth keeping even when ours failed
			fmt.Printf("fastapi_me_rps=%.1f %s tool=wrk\n", base.rps, base.details())
		}
		if baseErr != nil {
			err = fmt.Errorf("%w; baseline: %v", err, baseErr)
		}
		return err
	}
	report(s, ours, base)

	var problems []string
	if !ours.load.OK() {
		problems = append(problems, fmt.Sprintf("our server answered %d non-2xx (%s) and %d transport errors %q",
			ours.load.Non2xx(), ours.load.StatusSummary(), ours.load.Errors, ours.load.ErrorSamples))
	}
	if ours.load.Status[http.StatusTooManyRequests] > 0 {
		problems = append(problems, "429s: the run reached rate_limit.api (1000000 per minute, the most the config allows); shorten -d")
	}
	if ours.wrk != nil && (ours.wrk.non2xx > 0 || ours.wrk.socketErrors > 0) {
		problems = append(problems, fmt.Sprintf("wrk against our server: %d non-2xx, %d socket errors", ours.wrk.non2xx, ours.wrk.socketErrors))
	}
	if baseErr != nil {
		problems = append(problems, "baseline: "+baseErr.Error())
	} else if base != nil && base.non2xx > 0 {
		problems = append(problems, fmt.Sprintf("the baseline answered %d non-2xx", base.non2xx))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// report prints the figures, one key=value line per tool and server, and the ratio.
func report(s settings, ours ourFigures, base *wrkFigures) {
	fmt.Printf("# %d cores (runtime.NumCPU), %d connections, %ds each, GET /api/v1/auth/me with a bearer token\n",
		runtime.NumCPU(), s.conns, s.seconds)
	fmt.Printf("rsched_me_rps=%.1f p50=%s p90=%s p99=%s max=%s n=%d non2xx=%d errors=%d tool=loadgen\n",
		ours.load.RPS, loadgen.Millis(ours.load.P50), loadgen.Millis(ours.load.P90), loadgen.Millis(ours.load.P99),
		loadgen.Millis(ours.load.Max), ours.load.Requests, ours.load.Non2xx(), ours.load.Errors)
	if ours.wrk != nil {
		fmt.Printf("rsched_me_wrk_rps=%.1f %s tool=wrk\n", ours.wrk.rps, ours.wrk.details())
	} else {
		fmt.Println("# wrk is not installed: no tool-for-tool line for our server")
	}
	if base == nil {
		return
	}
	fmt.Printf("fastapi_me_rps=%.1f %s tool=wrk\n", base.rps, base.details())
	switch {
	case base.rps <= 0:
		fmt.Println("# the baseline measured 0 requests/s: no ratio")
	case ours.wrk != nil:
		fmt.Printf("ratio=%.1fx (wrk against both)\n", ours.wrk.rps/base.rps)
	default:
		fmt.Printf("ratio=%.1fx (loadgen against ours, wrk against the baseline: different tools)\n", ours.load.RPS/base.rps)
	}
}

// measureOurs starts PostgreSQL and the server, gets an access token and loads /me. Everything it
// starts is stopped before it returns.
func measureOurs(ctx context.Context, bin string, s settings) (figures ourFigures, err error) {
	step("starting PostgreSQL")
	pg, err := testenv.NewPostgres()
	if err != nil {
		return figures, err
	}
	defer func() {
		step("stopping PostgreSQL")
		if stopErr := pg.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	dir, err := os.MkdirTemp("", "rsched-apibench-")
	if err != nil {
		return figures, err
	}
	defer os.RemoveAll(dir)

	step("starting the scheduler")
	srv, err := startServer(ctx, bin, dir, pg.URL)
	if err != nil {
		return figures, err
	}
	defer func() {
		step("stopping the scheduler")
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	step("registering the first user and logging in")
	token, err := adminToken(ctx, srv.base)
	if err != nil {
		return figures, srv.withLog(err)
	}
	me := srv.base + "/api/v1/auth/me"
	if code, detail, err := call(ctx, http.MethodGet, me, token, nil, nil); err != nil || code != http.StatusOK {
		return figures, srv.withLog(fmt.Errorf("GET /api/v1/auth/me with the new token: %s", describe(code, detail, err)))
	}

	step("loading GET /api/v1/auth/me: %d clients for %ds after %s of warm-up (hack/load/loadgen)", s.conns, s.seconds, s.warmup)
	figures.load, err = loadgen.Run(ctx, loadgen.Options{
		URL:         me,
		Header:      http.Header{"Authorization": {"Bearer " + token}},
		Concurrency: s.conns,
		Duration:    s.duration(),
		Warmup:      s.warmup,
	})
	if err != nil {
		return figures, err
	}

	wrk, err := exec.LookPath("wrk")
	if err != nil {
		step("wrk is not installed (the baseline's run.sh installs it): skipping the wrk run against our server")
		return figures, nil
	}
	step("loading GET /api/v1/auth/me with wrk -t2 -c%d -d%ds", s.conns, s.seconds)
	cmd := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(s.conns), "-d"+strconv.Itoa(s.seconds)+"s", "--latency",
		"-H", "Authorization: Bearer "+token, me)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// Not err.Error() of the command line: it holds the token. wrk's output does not.
		return figures, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	w, err := parseWrk(out.String())
	if err != nil {
		return figures, err
	}
	figures.wrk = &w
	return figures, nil
}

// server is a running scheduler.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; waitErr is set then
	base string        // http://127.0.0.1:port
	log  string        // its stdout and stderr

	waitErr error
}

// startServer writes the mounted files and the config into dir, starts bin on free loopback ports
// and waits until /api/v1/health/ready answers 200. A port taken between choosing and binding it
// is retried on another.
func startServer(ctx context.Context, bin, dir, dbURL string) (*server, error) {
	keyringFile, dbURLFile, err := writeSecrets(dir, dbURL)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := range 3 {
		api, err := freeAddr()
		if err != nil {
			return nil, err
		}
		metrics, err := freeAddr()
		if err != nil {
			return nil, err
		}
		config := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(config, []byte(configYAML(api, metrics, dbURLFile, keyringFile)), 0o600); err != nil {
			return nil, err
		}
		srv := &server{base: "http://" + api, log: filepath.Join(dir, fmt.Sprintf("scheduler-%d.log", attempt)), done: make(chan struct{})}
		logFile, err := os.OpenFile(srv.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		// The server writes its log straight into the file: no copying goroutine of ours
		// competes with it for the CPU during the measurement.
		srv.cmd = exec.Command(bin, "--config", config)
		srv.cmd.Stdout, srv.cmd.Stderr = logFile, logFile
		// Its own process group, so a Ctrl-C reaches us and we drain it with SIGTERM; and it
		// dies with us if we are killed.
		srv.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err = srv.cmd.Start()
		_ = logFile.Close()
		if err != nil {
			return nil, err
		}
		go func() { srv.waitErr = srv.cmd.Wait(); close(srv.done) }()

		if lastErr = srv.waitReady(ctx, 60*time.Second); lastErr == nil {
			return srv, nil
		}
		_ = srv.stop()
		if !strings.Contains(srv.tail(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func writeSecrets(dir, dbURL string) (keyringFile, dbURLFile string, err error) {
	now := time.Now().UTC()
	kr, err := keyring.Marshal(&keyring.File{
		Format:     keyring.FormatVersion,
		Version:    1,
		Signing:    []keyring.FileKey{{KID: "s1", Algorithm: keyring.HS256, State: keyring.Active, CreatedAt: now, Key: randomBytes(32)}},
		Encryption: []keyring.FileKey{{KID: "e1", Algorithm: keyring.AES256GCM, State: keyring.Active, CreatedAt: now, Key: randomBytes(32)}},
	})
	if err != nil {
		return "", "", err
	}
	keyringFile = filepath.Join(dir, "keyring.json")
	dbURLFile = filepath.Join(dir, "database-url")
	if err := os.WriteFile(keyringFile, kr, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(dbURLFile, []byte(dbURL+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return keyringFile, dbURLFile, nil
}

// configYAML is the server's configuration for the benchmark: no MFA (the admin logs in with a
// password alone) and rate limits far above what the run sends, so they never answer 429.
func configYAML(api, metrics, dbURLFile, keyringFile string) string {
	return fmt.Sprintf(`listen_addr: %q
metrics_addr: %q
issuer: http://127.0.0.1
auth:
  mfa_required_roles: []
rate_limit:
  api: {requests: 1000000, period: 1m}
  login: {requests: 1000, period: 1m}
  register: {requests: 1000, period: 1m}
security:
  hsts: false
# The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
database:
  tls: {mode: disable, insecure_allow_unverified: true}
secrets:
  database_url_file: %q
  keyring_file: %q
`, api, metrics, dbURLFile, keyringFile)
}

func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := call(ctx, http.MethodGet, s.base+"/api/v1/health/ready", "", nil, nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-s.done:
			return s.withLog(fmt.Errorf("the scheduler exited before it was ready (%v)", s.waitErr))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s.withLog(fmt.Errorf("the scheduler was not ready within %s: %s", timeout, describe(code, "", err)))
		}
	}
}

// stop drains the server with SIGTERM (it has 20 s to finish in-flight requests) and kills its
// process group if it is still there after 30 s. A non-zero exit is an error: a clean stop is part
// of what a benchmark run checks.
func (s *server) stop() error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
			return s.withLog(errors.New("the scheduler did not stop within 30 s of SIGTERM; killed"))
		}
	}
	if left := testenv.ProcessGroupAlive(s.cmd.Process.Pid); len(left) > 0 {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("processes %v of the scheduler's group outlived it; killed", left)
	}
	if s.waitErr != nil {
		return s.withLog(fmt.Errorf("the scheduler did not stop cleanly: %w", s.waitErr))
	}
	return nil
}

// tail is the end of the server's log.
func (s *server) tail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

func (s *server) withLog(err error) error {
	return fmt.Errorf("%w\nthe scheduler's log ends with:\n%s", err, s.tail())
}

// adminToken registers the first user of the empty database, who becomes admin, and logs in.
// The password exists only in this function and the requests; the token is returned to be sent,
// never printed.
func adminToken(ctx context.Context, base string) (string, error) {
	password, err := randomPassword(24)
	if err != nil {
		return "", err
	}
	redact := func(s string) string { return strings.ReplaceAll(s, password, "<password>") }
	code, detail, err := call(ctx, http.MethodPost, base+"/api/v1/auth/register", "",
		map[string]string{"username": "benchadmin", "email": "bench@example.org", "password": password}, nil)
	if err != nil || code != http.StatusCreated {
		return "", fmt.Errorf("POST /api/v1/auth/register: %s (want 201)", redact(describe(code, detail, err)))
	}
	var tokens struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	code, detail, err = call(ctx, http.MethodPost, base+"/api/v1/auth/login/json", "",
		map[string]string{"username": "benchadmin", "password": password}, &tokens)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /api/v1/auth/login/json: %s (want 200)", redact(describe(code, detail, err)))
	}
	if tokens.AccessToken == "" || !strings.EqualFold(tokens.TokenType, "bearer") {
		return "", fmt.Errorf("POST /api/v1/auth/login/json: no bearer access_token in the answer (token_type %q)", tokens.TokenType)
	}
	return tokens.AccessToken, nil
}

// call sends one JSON request with an optional bearer token and decodes a 2xx answer into out
// (when not nil). For other statuses it returns the error body's "detail", which the server keeps
// free of secrets; the body itself is never returned, so an answer holding tokens cannot reach
// an error message.
func call(ctx context.Context, method, url, token string, in, out any) (int, string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, "", err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, "", err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Detail json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(b, &e) != nil || len(e.Detail) == 0 {
			return resp.StatusCode, "(no JSON detail)", nil
		}
		d := string(e.Detail)
		if len(d) > 300 {
			d = d[:300] + "…"
		}
		return resp.StatusCode, d, nil
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("the answer is not the expected JSON: %w", err)
		}
	}
	return resp.StatusCode, "", nil
}

func describe(code int, detail string, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		return fmt.Sprintf("%d %s: this build of the server does not have the endpoint", code, detail)
	default:
		return fmt.Sprintf("%d %s", code, detail)
	}
}

// wrkFigures are the figures of one wrk --latency run, latencies in milliseconds like loadgen's
// ("457.00us" becomes "0.46ms"), or as wrk printed them if they do not parse.
type wrkFigures struct {
	rps          float64
	p50, p99     string
	non2xx       int
	socketErrors int
}

func (w wrkFigures) details() string {
	return fmt.Sprintf("p50=%s p99=%s non2xx=%d", w.p50, w.p99, w.non2xx)
}

// parseWrk reads the output of wrk --latency.
func parseWrk(out string) (wrkFigures, error) {
	var w wrkFigures
	var haveRPS bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("wrk: %q is not a rate", f[1])
			}
			w.rps, haveRPS = v, true
		case len(f) == 2 && f[0] == "50%":
			w.p50 = wrkMillis(f[1])
		case len(f) == 2 && f[0] == "99%":
			w.p99 = wrkMillis(f[1])
		case len(f) == 5 && f[0] == "Non-2xx":
			w.non2xx, _ = strconv.Atoi(f[4])
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				w.socketErrors += n
			}
		}
	}
	if !haveRPS || w.p50 == "" || w.p99 == "" {
		return w, fmt.Errorf("wrk: no Requests/sec or latency distribution in its output:\n%s", out)
	}
	return w, nil
}

// wrkMillis turns one of wrk's latencies ("457.00us", "1.23ms", "1.02s", "1.10m") into
// loadgen's form ("0.46ms"); anything else is returned as it is.
func wrkMillis(v string) string {
	d, err := time.ParseDuration(v)
	if err != nil {
		return v
	}
	return loadgen.Millis(d)
}

// runBaseline runs the baseline's run.sh, which prints
// "fastapi_me_rps=<n> p50=<x> p99=<y> non2xx=<k>" as its last line. It stays in our process group
// so a Ctrl-C reaches it as when run by hand; on SIGTERM to us it gets a SIGTERM, so its own
// cleanup trap stops its PostgreSQL and uvicorn.
func runBaseline(ctx context.Context, script string, s settings) (*wrkFigures, error) {
	cmd := exec.CommandContext(ctx, script, strconv.Itoa(s.seconds), strconv.Itoa(s.conns))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = s.duration() + 30*time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", script, err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "fastapi_me_rps=") {
			continue
		}
		var w wrkFigures
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "fastapi_me_rps":
				w.rps, _ = strconv.ParseFloat(v, 64)
			case "p50":
				w.p50 = wrkMillis(v)
			case "p99":
				w.p99 = wrkMillis(v)
			case "non2xx":
				w.non2xx, _ = strconv.Atoi(v)
			}
		}
		return &w, nil
	}
	return nil, fmt.Errorf("%s printed no fastapi_me_rps= line:\n%s", script, out.String())
}

// freeAddr is a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// randomPassword has n characters with at least one upper-case letter, lower-case letter, digit
// and symbol, in random positions. The letters are consonants other than y and z, and no digit or
// symbol is one the password policy reads as a letter ("4" as "a"): every word of its blocklist
// has a vowel, y or z, so a random password can never be refused as containing one.
func randomPassword(n int) (string, error) {
	classes := []string{"BCDFGHJKLMNPQRSTVWX", "bcdfghjkmnpqrstvwx", "2689", "#%&*-=?^_~"}
	all := strings.Join(classes, "")
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[i.Int64()], nil
	}
	pw := make([]byte, n)
	for i := range pw {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		c, err := pick(set)
		if err != nil {
			return "", err
		}
		pw[i] = c
	}
	for i := len(pw) - 1; i > 0; i-- { // Fisher-Yates, so the guaranteed classes are not in front
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		pw[i], pw[j.Int64()] = pw[j.Int64()], pw[i]
	}
	return string(pw), nil
}

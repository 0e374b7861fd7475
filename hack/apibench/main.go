// Command apibench measures the authenticated read path of the real scheduling API server end to
// end over HTTPS and compares it with the predecessor's FastAPI baseline
// (../shared/bench/fastapi-baseline), both behind TLS, in the same run.
//
// It issues a throw-away CA and an ECDSA P-256 serving certificate for localhost (internal/pki),
// builds cmd/scheduler, waits until the machine is quiet (1-minute load below -max-load, for at
// most -load-wait), then measures, one server at a time (on a 2-core machine two servers would
// measure each other):
//
//  1. the baseline's own run.sh with BASELINE_TLS=1 (uvicorn's own TLS, its own certificate of the
//     same key type): wrk -t2 over kept-alive HTTPS, the tool-for-tool figure. run.sh also installs
//     the baseline's packages and wrk when missing.
//  2. the baseline again, run.sh's app.py and uvicorn command line with --ssl-certfile/--ssl-keyfile
//     on the run's certificate, on the bench's PostgreSQL, with a Go client that verifies the run's
//     CA: kept-alive HTTPS, then a new HTTPS connection (a full TLS handshake) for every request.
//  3. the real server with tls.cert_file/key_file in its config (both listeners HTTPS), after it
//     registered and signed in its first user: the same two Go scenarios and wrk -t2.
//
// Every scenario is GET /api/v1/auth/me with a bearer token: the same work per request on both
// servers (verify a JWT, check the user and the revocation list). All clients speak HTTP/1.1 (wrk
// and uvicorn have nothing else). The Go clients trust only the run's CA and check the name
// localhost; wrk does not verify certificates, which costs a client nothing.
//
// Run it through `make bench-api` (APIBENCH_FLAGS="-c 64 -d 30s"), or
// `source hack/test-env.sh && go run ./hack/apibench -d 5s`. Everything it starts is stopped and
// every temporary file removed when it ends, also on failure or Ctrl-C. It never prints the
// password, the tokens, the keys or the database URL.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
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

// target is the ratio the issue asks for: our requests/s over HTTPS at least this many times the
// baseline's, measured in the same run.
const target = 10

// settings are the flags.
type settings struct {
	conns   int
	seconds int // wrk and the baseline take whole seconds, so the duration is rounded up to one
	warmup  time.Duration
}

func (s settings) duration() time.Duration { return time.Duration(s.seconds) * time.Second }

// figures is what was measured against one server; a nil field was not measured.
type figures struct {
	keepAlive *driveResult // Go client, kept-alive HTTPS
	newConn   *driveResult // Go client, a new HTTPS connection (full handshake) per request
	// newConnX25519 is newConn with the client offering X25519 alone, the key exchange the
	// baseline's OpenSSL 3.0 negotiates; Go's default is the hybrid X25519MLKEM768, which costs
	// more and is what Go clients and browsers get. Measured against our server only.
	newConnX25519 *driveResult
	wrk           *wrkFigures // wrk -t2, kept-alive HTTPS
	wrkPlain      *wrkFigures // wrk -t2, kept-alive plain HTTP (our server only)
	tls           string      // what the server negotiated with the Go client
}

// flags are the command line of a run.
type flags struct {
	s               settings
	baseline, plain bool
	maxLoad         float64
	loadWait        time.Duration
}

func parseFlags(args []string) (flags, error) {
	fs := flag.NewFlagSet("apibench", flag.ContinueOnError)
	c := fs.Int("c", 32, "Concurrent connections (clients), for every tool and scenario.")
	d := fs.Duration("d", 10*time.Second, "Measured duration of each scenario, rounded up to whole seconds.")
	warmup := fs.Duration("warmup", time.Second, "Load before each Go scenario, not counted.")
	baseline := fs.Bool("baseline", true, "Also measure the FastAPI baseline (../shared/bench/fastapi-baseline) and print the ratios.")
	maxLoad := fs.Float64("max-load", 2.5, "Wait until the 1-minute load average is below this before measuring; 0: do not wait.")
	plain := fs.Bool("plain", true, "Also load our server over plain HTTP with wrk (one more run), to show what TLS costs.")
	loadWait := fs.Duration("load-wait", 15*time.Minute, "Longest wait for -max-load; then measure anyway and say so.")
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	if *c < 1 || *d <= 0 || *warmup < 0 || *maxLoad < 0 || *loadWait < 0 || fs.NArg() > 0 {
		return flags{}, errors.New("-c must be at least 1, -d positive, -warmup, -max-load and -load-wait not negative; no arguments")
	}
	return flags{s: settings{conns: *c, seconds: int(math.Ceil(d.Seconds())), warmup: *warmup},
		baseline: *baseline, plain: *plain, maxLoad: *maxLoad, loadWait: *loadWait}, nil
}

func run(ctx context.Context, args []string) (err error) {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	s := f.s
	root := testenv.RepoRoot()

	dir, err := os.MkdirTemp("", "rsched-apibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step("issuing a throw-away CA and an ECDSA P-256 serving certificate for %s", serverName)
	certs, err := issueTLS(dir, time.Now())
	if err != nil {
		return err
	}

	step("building cmd/scheduler")
	bin, removeBin, err := testenv.BuildBinary("cmd/scheduler")
	if err != nil {
		return err
	}
	defer removeBin()

	before, calm, err := waitForCalm(ctx, f.maxLoad, f.loadWait)
	if err != nil {
		return err
	}
	if calm {
		step("load average %s: measuring", loadString(before))
	} else {
		step("load average %s, still not below %.1f after %s: measuring anyway", loadString(before), f.maxLoad, f.loadWait)
	}

	script := filepath.Join(root, "..", "shared", "bench", "fastapi-baseline", "run.sh")
	base, problems := baselineWrk(ctx, f.baseline, script, s)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	step("starting PostgreSQL")
	pg, err := testenv.NewPostgres()
	if err != nil {
		return err
	}
	defer func() {
		step("stopping PostgreSQL")
		if stopErr := pg.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	if base != nil && base.wrk != nil { // run.sh ran, so the baseline's packages are installed
		if err := measureBaseline(ctx, filepath.Dir(script), dir, pg, certs, s, base); err != nil {
			problems = append(problems, "baseline (Go client): "+err.Error())
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	ours, err := measureOurs(ctx, bin, dir, pg, certs, s, f.plain)
	after, _ := machineLoad()
	report(s, before, after, f.maxLoad, calm, ours, base)
	return runProblems(err, ours, base, problems)
}

// runProblems is the run's error: what failed, and figures that cannot be trusted.
func runProblems(err error, ours figures, base *figures, problems []string) error {
	if err != nil {
		problems = append([]string{err.Error()}, problems...)
	}
	problems = append(problems, ours.problems("our server")...)
	if ours.keepAlive != nil && ours.keepAlive.Status[http.StatusTooManyRequests]+ours.newConn.statusOr0(http.StatusTooManyRequests) > 0 {
		problems = append(problems, "429s: the run reached rate_limit.api (1000000 per minute, the most the config allows); shorten -d")
	}
	if base != nil {
		problems = append(problems, base.problems("the baseline")...)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (r *driveResult) statusOr0(code int) int {
	if r == nil {
		return 0
	}
	return r.Status[code]
}

// problems lists every non-2xx answer, transport error and resumed session of what was measured.
func (f figures) problems(who string) []string {
	var out []string
	for _, sc := range []struct {
		name string
		r    *driveResult
	}{{"kept-alive", f.keepAlive}, {"new connections", f.newConn}, {"new connections, X25519", f.newConnX25519}} {
		if sc.r == nil {
			continue
		}
		if !sc.r.OK() {
			out = append(out, fmt.Sprintf("%s (%s) answered %d non-2xx (%s) and %d transport errors %q",
				who, sc.name, sc.r.Non2xx(), sc.r.StatusSummary(), sc.r.Errors, sc.r.ErrorSamples))
		}
		if sc.r.Resumed > 0 {
			out = append(out, fmt.Sprintf("%s (%s): %d resumed TLS sessions, not full handshakes", who, sc.name, sc.r.Resumed))
		}
	}
	for _, w := range []*wrkFigures{f.wrk, f.wrkPlain} {
		if w != nil && (w.non2xx > 0 || w.socketErrors > 0) {
			out = append(out, fmt.Sprintf("wrk against %s: %d non-2xx, %d socket errors", who, w.non2xx, w.socketErrors))
		}
	}
	return out
}

// report prints the figures, one key=value line per server, scenario and tool, and the ratios.
func report(s settings, before, after [3]float64, maxLoad float64, calm bool, ours figures, base *figures) {
	reportHeader(s, before, after, maxLoad, calm)
	for _, sv := range []struct {
		name string
		f    *figures
	}{{"rsched", &ours}, {"fastapi", base}} {
		if sv.f != nil {
			reportServer(sv.name, sv.f, sv.f == base)
		}
	}
	if base != nil {
		reportRatios(ours, base)
	}
}

// reportHeader prints the machine, the load around the run and the scenario.
func reportHeader(s settings, before, after [3]float64, maxLoad float64, calm bool) {
	quiet := ""
	if maxLoad <= 0 {
		quiet = " (-max-load 0: no wait)"
	} else if !calm {
		quiet = " (NOT quiet: the wait for a low load timed out)"
	}
	gate := ""
	if maxLoad > 0 {
		gate = fmt.Sprintf(" (start when the 1-minute load is below %.1f)", maxLoad)
	}
	fmt.Printf("# %d cores (runtime.NumCPU), load average %s before%s, %s after%s\n", runtime.NumCPU(), loadString(before), gate, loadString(after), quiet)
	fmt.Println("# others_cpu: share of the 2 cores other work took during a scenario (the load average counts the run's own work too)")
	fmt.Printf("# %d connections, %ds each, GET /api/v1/auth/me with a bearer token, HTTPS (HTTP/1.1), ECDSA P-256 certificate\n", s.conns, s.seconds)
}

// reportLine prints one Go-client scenario (nothing when it did not run).
func reportLine(name, tool string, r *driveResult) {
	if r != nil {
		fmt.Printf("%s=%.1f p50=%s p90=%s p99=%s max=%s n=%d non2xx=%d errors=%d handshakes=%d resumed=%d server_cpu_per_req=%s others_cpu=%s tool=%s\n",
			name, r.RPS, loadgen.Millis(r.P50), loadgen.Millis(r.P90), loadgen.Millis(r.P99), loadgen.Millis(r.Max),
			r.Requests, r.Non2xx(), r.Errors, r.Handshakes, r.Resumed, micros(r.CPUPerRequest()), percent(r.Others), tool)
	}
}

// reportServer prints one server's figures.
func reportServer(name string, f *figures, baseline bool) {
	if f.tls != "" {
		fmt.Printf("# %s negotiated %s with the Go client\n", name, f.tls)
	}
	reportLine(name+"_me_rps", "go-keepalive", f.keepAlive)
	if f.wrk != nil {
		tool := "wrk"
		if baseline {
			tool = "wrk(run.sh,BASELINE_TLS=1)"
		}
		fmt.Printf("%s_me_wrk_rps=%.1f %s others_cpu=%s tool=%s\n", name, f.wrk.rps, f.wrk.details(), percent(f.wrk.others), tool)
	}
	if w := f.wrkPlain; w != nil {
		fmt.Printf("%s_me_wrk_plain_http_rps=%.1f %s others_cpu=%s tool=wrk\n", name, w.rps, w.details(), percent(w.others))
		if f.wrk != nil && w.rps > 0 {
			fmt.Printf("%s_https_vs_plain=%.0f%% (wrk over kept-alive HTTPS / over plain HTTP)\n", name, 100*f.wrk.rps/w.rps)
		}
	}
	reportLine(name+"_newconn_rps", "go-new-connection-per-request", f.newConn)
	reportLine(name+"_newconn_x25519_rps", "go-new-connection-per-request,client-offers-X25519-only", f.newConnX25519)
	if ka, nc := f.keepAlive, f.newConn; ka != nil && nc != nil && ka.CPUPerRequest() > 0 && nc.CPUPerRequest() > 0 {
		fmt.Printf("%s_handshake_server_cpu=%s (server CPU per request on a new connection minus on a kept-alive one)\n",
			name, micros(nc.CPUPerRequest()-ka.CPUPerRequest()))
	}
}

// reportRatios prints rsched's figures against the baseline's, and whether it keeps the target.
func reportRatios(ours figures, base *figures) {
	ratio := func(name string, ours, theirs float64, what string) {
		if ours > 0 && theirs > 0 {
			fmt.Printf("%s=%.1fx (%s)\n", name, ours/theirs, what)
		}
	}
	var wrkOurs, wrkBase float64
	if ours.wrk != nil && base.wrk != nil {
		wrkOurs, wrkBase = ours.wrk.rps, base.wrk.rps
		ratio("ratio", wrkOurs, wrkBase, "requests/s over kept-alive HTTPS, wrk against both")
	}
	if ours.keepAlive != nil && base.keepAlive != nil {
		ratio("ratio_go", ours.keepAlive.RPS, base.keepAlive.RPS, "requests/s over kept-alive HTTPS, the Go client against both")
	}
	if ours.newConn != nil && base.newConn != nil {
		ratio("ratio_newconn", ours.newConn.RPS, base.newConn.RPS, "new HTTPS connections/s, a full handshake and one request each, the Go client against both")
	}
	if ours.newConnX25519 != nil && base.newConn != nil {
		ratio("ratio_newconn_x25519", ours.newConnX25519.RPS, base.newConn.RPS, "the same, both on X25519 key exchange")
	}
	if wrkOurs > 0 && wrkBase > 0 {
		verdict := "yes"
		if wrkOurs < target*wrkBase {
			verdict = "no"
		}
		fmt.Printf("keeps_%dx_over_tls=%s\n", target, verdict)
	}
}

// baselineWrk runs the baseline's own script (wrk over HTTPS) when asked and present; nil figures
// when not measured.
func baselineWrk(ctx context.Context, wanted bool, script string, s settings) (*figures, []string) {
	if !wanted {
		return nil, nil
	}
	if _, err := os.Stat(script); err != nil {
		step("no baseline at %s: printing our figures only", script)
		return nil, nil
	}
	base := &figures{}
	step("measuring the FastAPI baseline over HTTPS: BASELINE_TLS=1 %s %d %d", script, s.seconds, s.conns)
	var err error
	if base.wrk, err = runBaseline(ctx, script, s); err != nil {
		return base, []string{"baseline (run.sh): " + err.Error()}
	}
	return base, nil
}

// measureBaseline starts the baseline on the run's certificate and measures the Go scenarios.
func measureBaseline(ctx context.Context, appDir, dir string, pg *testenv.Postgres, certs tlsFiles, s settings, f *figures) error {
	step("starting the baseline (run.sh's app.py and uvicorn command line) with --ssl-certfile/--ssl-keyfile")
	uv, err := startBaseline(ctx, appDir, dir, pg, certs)
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the baseline")
		_ = uv.stop()
	}()
	meter := &cpuMeter{groups: []int{uv.cmd.Process.Pid, pg.Pid()}}
	return measure(ctx, "the baseline", uv.addr, uv.me(), uv.header(), certs, s, groupCPU(uv.cmd.Process.Pid), meter, f)
}

// measure fills f with what was negotiated, the kept-alive scenario and the new-connection
// scenario against url.
func measure(ctx context.Context, who, addr, url string, header http.Header, certs tlsFiles, s settings,
	cpu func() (time.Duration, error), meter *cpuMeter, f *figures) (err error) {
	if f.tls, err = negotiated(ctx, addr, certs.clientTLS()); err != nil {
		return err
	}
	step("loading %s over kept-alive HTTPS: %d clients for %ds after %s of warm-up", who, s.conns, s.seconds, s.warmup)
	ka := drive(ctx, driveOptions{client: newClient(certs.clientTLS(), s.conns, true), url: url, header: header,
		conns: s.conns, warmup: s.warmup, duration: s.duration(), serverCPU: cpu, meter: meter})
	f.keepAlive = &ka
	if ctx.Err() != nil {
		return ctx.Err()
	}
	step("loading %s with a new HTTPS connection per request: %d clients for %ds after %s of warm-up", who, s.conns, s.seconds, s.warmup)
	nc := drive(ctx, driveOptions{client: newClient(certs.clientTLS(), s.conns, false), url: url, header: header,
		conns: s.conns, warmup: s.warmup, duration: s.duration(), serverCPU: cpu, meter: meter})
	f.newConn = &nc
	return ctx.Err()
}

// measureOurs starts the server over HTTPS on pg, gets an access token and loads /me: the Go
// scenarios, then wrk. Everything it starts is stopped before it returns.
func measureOurs(ctx context.Context, bin, dir string, pg *testenv.Postgres, certs tlsFiles, s settings, plain bool) (f figures, err error) {
	step("starting the scheduler over HTTPS")
	keyringFile, dbURLFile, err := writeSecrets(dir, pg.URL)
	if err != nil {
		return f, err
	}
	srv, err := startServer(ctx, bin, dir, keyringFile, dbURLFile, &certs)
	if err != nil {
		return f, err
	}
	defer func() {
		step("stopping the scheduler")
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	step("registering the first user and logging in")
	token, err := adminToken(ctx, srv.client, srv.base)
	if err != nil {
		return f, srv.withLog(err)
	}
	me := srv.base + "/api/v1/auth/me"
	if code, detail, err := call(ctx, srv.client, http.MethodGet, me, token, nil, nil); err != nil || code != http.StatusOK {
		return f, srv.withLog(fmt.Errorf("GET /api/v1/auth/me with the new token: %s", describe(code, detail, err)))
	}
	meter := &cpuMeter{groups: []int{srv.cmd.Process.Pid, pg.Pid()}}

	// wrk first: the ratio the issue asks for is wrk against wrk, so ours runs as close as possible
	// to the baseline's.
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		wrk = ""
		step("wrk is not installed (the baseline's run.sh installs it): skipping the wrk runs against our server")
	} else if f.wrk, err = runWrk(ctx, wrk, me, token, s, meter); err != nil {
		return f, err
	}

	header := http.Header{"Authorization": {"Bearer " + token}}
	cpu := groupCPU(srv.cmd.Process.Pid)
	if err := measure(ctx, "our server", srv.addr, me, header, certs, s, cpu, meter, &f); err != nil {
		return f, err
	}
	step("loading our server with a new HTTPS connection per request, the client offering X25519 only")
	x25519 := certs.clientTLS()
	x25519.CurvePreferences = []tls.CurveID{tls.X25519}
	nc := drive(ctx, driveOptions{client: newClient(x25519, s.conns, false), url: me, header: header,
		conns: s.conns, warmup: s.warmup, duration: s.duration(), serverCPU: cpu, meter: meter})
	f.newConnX25519 = &nc
	if ctx.Err() != nil || !plain || wrk == "" {
		return f, ctx.Err()
	}

	// What TLS costs: the same wrk run against the same server over plain HTTP, on the same
	// database and keyring, so the token is valid there too.
	step("starting the scheduler over plain HTTP")
	plainDir := filepath.Join(dir, "plain")
	if err := os.Mkdir(plainDir, 0o700); err != nil {
		return f, err
	}
	psrv, err := startServer(ctx, bin, plainDir, keyringFile, dbURLFile, nil)
	if err != nil {
		return f, err
	}
	defer func() {
		step("stopping the plain-HTTP scheduler")
		if stopErr := psrv.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	pmeter := &cpuMeter{groups: []int{psrv.cmd.Process.Pid, srv.cmd.Process.Pid, pg.Pid()}}
	f.wrkPlain, err = runWrk(ctx, wrk, psrv.base+"/api/v1/auth/me", token, s, pmeter)
	return f, err
}

// runWrk loads url with wrk -t2 --latency and the bearer token.
func runWrk(ctx context.Context, wrk, url, token string, s settings, meter *cpuMeter) (*wrkFigures, error) {
	step("loading %s with wrk -t2 -c%d -d%ds", url, s.conns, s.seconds)
	cmd := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(s.conns), "-d"+strconv.Itoa(s.seconds)+"s", "--latency",
		"-H", "Authorization: Bearer "+token, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	m0, meterErr := meter.sample()
	if err := cmd.Run(); err != nil {
		// Not err.Error() of the command line: it holds the token. wrk's output does not.
		return nil, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	w, err := parseWrk(out.String())
	if err != nil {
		return nil, err
	}
	w.others = -1
	if m1, err := meter.sample(); err == nil && meterErr == nil {
		w.others = othersShare(m0, m1)
	}
	return &w, nil
}

// server is a running scheduler.
type server struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited; waitErr is set then
	addr   string        // 127.0.0.1:port of the API listener
	base   string        // https://127.0.0.1:port
	client *http.Client  // verifies the run's CA
	log    string        // its stdout and stderr

	waitErr error
}

// startServer writes the mounted files and the config into dir, starts bin on free loopback ports
// and waits until /api/v1/health/ready answers 200. A port taken between choosing and binding it
// is retried on another.
func startServer(ctx context.Context, bin, dir, keyringFile, dbURLFile string, certs *tlsFiles) (*server, error) {
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
		if err := os.WriteFile(config, []byte(configYAML(api, metrics, dbURLFile, keyringFile, certs)), 0o600); err != nil {
			return nil, err
		}
		srv := &server{addr: api, base: "http://" + api, client: newClient(nil, 1, true), log: filepath.Join(dir, fmt.Sprintf("scheduler-%d.log", attempt)), done: make(chan struct{})}
		if certs != nil {
			srv.base, srv.client = "https://"+api, newClient(certs.clientTLS(), 1, true)
		}
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
// password alone), rate limits far above what the run sends, so they never answer 429, and both
// listeners on the run's certificate (certs nil: plain HTTP). The issuer is the same either way,
// so a token from one server is valid at the other (same keyring, same database).
func configYAML(api, metrics, dbURLFile, keyringFile string, certs *tlsFiles) string {
	tlsSection := ""
	if certs != nil {
		tlsSection = fmt.Sprintf("tls:\n  cert_file: %q\n  key_file: %q\n", certs.certFile, certs.keyFile)
	}
	return fmt.Sprintf(`listen_addr: %q
metrics_addr: %q
issuer: https://localhost
%sauth:
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
`, api, metrics, tlsSection, dbURLFile, keyringFile)
}

func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := call(ctx, s.client, http.MethodGet, s.base+"/api/v1/health/ready", "", nil, nil)
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
func (s *server) tail() string { return tailOf(s.log) }

// tailOf is the end of a log file.
func tailOf(path string) string {
	b, err := os.ReadFile(path)
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
func adminToken(ctx context.Context, hc *http.Client, base string) (string, error) {
	password, err := randomPassword(24)
	if err != nil {
		return "", err
	}
	redact := func(s string) string { return strings.ReplaceAll(s, password, "<password>") }
	code, detail, err := call(ctx, hc, http.MethodPost, base+"/api/v1/auth/register", "",
		map[string]string{"username": "benchadmin", "email": "bench@example.org", "password": password}, nil)
	if err != nil || code != http.StatusCreated {
		return "", fmt.Errorf("POST /api/v1/auth/register: %s (want 201)", redact(describe(code, detail, err)))
	}
	var tokens struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	code, detail, err = call(ctx, hc, http.MethodPost, base+"/api/v1/auth/login/json", "",
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
func call(ctx context.Context, hc *http.Client, method, url, token string, in, out any) (int, string, error) {
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
	resp, err := hc.Do(req)
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
	others       float64 // share of the cores other work took meanwhile; -1: not measured
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

// runBaseline runs the baseline's run.sh with BASELINE_TLS=1 (uvicorn's own TLS options on a
// certificate run.sh makes: ECDSA P-256, like ours), which prints
// "fastapi_me_rps=<n> p50=<x> p99=<y> non2xx=<k>" as its last line. It stays in our process group
// so a Ctrl-C reaches it as when run by hand; on SIGTERM to us it gets a SIGTERM, so its own
// cleanup trap stops its PostgreSQL and uvicorn.
func runBaseline(ctx context.Context, script string, s settings) (*wrkFigures, error) {
	cmd := exec.CommandContext(ctx, script, strconv.Itoa(s.seconds), strconv.Itoa(s.conns))
	cmd.Env = append(os.Environ(), "BASELINE_TLS=1")
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
		w := wrkFigures{others: -1}
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

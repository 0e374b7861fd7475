package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/testenv"
)

var schedulerBin string

func TestMain(m *testing.M) {
	if os.Getenv(rootsProbeEnv) != "" { // a child of TestSystemRoots...: no scheduler build needed
		os.Exit(probeRoots())
	}
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

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// setup writes what the operator would mount: config, database URL file and keyring file.
func setup(t *testing.T, dbURL string) (configPath, api, metrics string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now().UTC()
	kr, err := keyring.Marshal(&keyring.File{Format: keyring.FormatVersion, Version: 1,
		Signing:    []keyring.FileKey{{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.Active, CreatedAt: now, Key: random(32)}},
		Encryption: []keyring.FileKey{{KID: "fields-1", Algorithm: keyring.AES256GCM, State: keyring.Active, CreatedAt: now, Key: random(32)}}})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "keyring.json"), kr, 0o600))
	must(os.WriteFile(filepath.Join(dir, "db-url"), []byte(dbURL+"\n"), 0o600))
	api, metrics = testenv.FreeAddr(t), testenv.FreeAddr(t)
	// testenv's PostgreSQL speaks plain text: the opt-out is what lets the server use it.
	cfg := fmt.Sprintf("listen_addr: %q\nmetrics_addr: %q\nissuer: https://schedule.test\nsecrets:\n  database_url_file: %s\n  keyring_file: %s\n"+
		"database: {tls: {mode: disable, insecure_allow_unverified: true}}\n",
		api, metrics, filepath.Join(dir, "db-url"), filepath.Join(dir, "keyring.json"))
	configPath = filepath.Join(dir, "config.yaml")
	must(os.WriteFile(configPath, []byte(cfg), 0o600))
	return configPath, api, metrics
}

func get(url string) (int, string) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerServesHealthAndMetricsAndFollowsTheDatabase(t *testing.T) {
	pg := testenv.StartPostgres(t)
	configPath, api, metrics := setup(t, pg.URL)
	out := &testenv.OutputBuffer{}
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("scheduler output:\n%s", out.String())
		}
	})

	testenv.Eventually(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := get("http://" + api + "/api/v1/health/ready")
		return code == 200, fmt.Sprint(code, body)
	})
	if code, _ := get("http://" + api + "/api/v1/health/live"); code != 200 {
		t.Errorf("live: %d", code)
	}
	if code, body := get("http://" + metrics + "/metrics"); code != 200 || !strings.Contains(body, "rsched_keyring_version 1") {
		t.Errorf("metrics listener: %d, keyring version gauge present: %v", code, strings.Contains(body, "rsched_keyring_version"))
	}
	if code, _ := get("http://" + api + "/metrics"); code != 404 {
		t.Errorf("metrics on the public port: %d, want 404", code)
	}
	if strings.Contains(out.String(), strings.SplitN(strings.TrimPrefix(pg.URL, "postgres://rsched:"), "@", 2)[0]) {
		t.Error("the database password appears in the server's output")
	}

	// The database goes away: not ready (so Kubernetes stops routing), still alive (no restart storm).
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "not ready without the database", func() (bool, string) {
		code, body := get("http://" + api + "/api/v1/health/ready")
		return code == 503, fmt.Sprint(code, body)
	})
	if code, _ := get("http://" + api + "/api/v1/health/live"); code != 200 {
		t.Errorf("live without the database: %d, want 200", code)
	}

	// SIGTERM drains and exits 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("no exit within 25s of SIGTERM")
	}
	if !strings.Contains(out.String(), "stopped cleanly") {
		t.Error("no clean-stop log line")
	}
}

func TestServerRefusesToStartWithAWeakDatabasePassword(t *testing.T) {
	configPath, _, _ := setup(t, "postgres://rsched:changeme@127.0.0.1:5432/rsched")
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("started with the password changeme")
	}
	if !strings.Contains(string(out), "well-known default") || strings.Contains(string(out), "changeme") {
		t.Errorf("output %s: want a refusal that does not repeat the password", out)
	}
}

func TestServerRefusesAnUnknownConfigKey(t *testing.T) {
	configPath, _, _ := setup(t, "postgres://rsched:Xk9vQ2mL7pR4tZ8w@127.0.0.1:5432/rsched")
	f, err := os.OpenFile(configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("acces_token_ttl: 5m\n")
	_ = f.Close()
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown field \"acces_token_ttl\"`) {
		t.Errorf("err %v, output %s", err, out)
	}
}

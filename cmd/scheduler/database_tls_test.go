package main

import (
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// strictDatabaseTLS undoes setup's opt-out through the environment, as the operator would
// render database.tls: verify-full with the database's CA and, when certFile is set, a client
// certificate.
func strictDatabaseTLS(caFile, certFile, keyFile string) []string {
	env := []string{"PATH=/usr/bin:/bin", "RSCHED_SERVER_DATABASE_TLS_MODE=verify-full",
		"RSCHED_SERVER_DATABASE_TLS_INSECURE_ALLOW_UNVERIFIED=false", "RSCHED_SERVER_DATABASE_TLS_CA_FILE=" + caFile}
	if certFile != "" {
		env = append(env, "RSCHED_SERVER_DATABASE_TLS_CERT_FILE="+certFile, "RSCHED_SERVER_DATABASE_TLS_KEY_FILE="+keyFile)
	}
	return env
}

// TestServerSignsInToTheDatabaseWithAClientCertificateOverVerifiedTLS runs the binary against
// the TLS-only PostgreSQL with a URL that has no password: migration, pool and the notification
// listener all dial with the client certificate and verify the server.
func TestServerSignsInToTheDatabaseWithAClientCertificateOverVerifiedTLS(t *testing.T) {
	pg := testenv.StartPostgresTLS(t)
	u, err := url.Parse(pg.CertURL)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = "sslmode=verify-full" // the files come from database.tls, not the URL
	configPath, api, _ := setup(t, u.String())
	out := &testenv.OutputBuffer{}
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = strictDatabaseTLS(pg.CAFile, pg.ClientCertFile, pg.ClientKeyFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("scheduler output:\n%s", out.String())
		}
	})
	testenv.Eventually(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := get("http://" + api + "/api/v1/health/ready")
		return code == 200, fmt.Sprint(code, body)
	})
	time.Sleep(time.Second) // the notification listener dials after the start
	if strings.Contains(out.String(), "notifications interrupted") {
		t.Errorf("the notification listener could not connect:\n%s", out)
	}
	pw, _ := mustParse(t, pg.URL).User.Password()
	if strings.Contains(out.String(), pw) {
		t.Error("the database password appears in the server's output")
	}
}

// TestServerRefusesAnUnverifiedDatabaseBeforeDialling: a weak sslmode, or TLS files that cannot
// be read, end the start at once with an error that names the setting, never the URL's password.
func TestServerRefusesAnUnverifiedDatabaseBeforeDialling(t *testing.T) {
	const password = "Xk9vQ2mL7pR4tZ8w"
	caFile := filepath.Join(t.TempDir(), "missing-ca.crt")
	for name, c := range map[string]struct{ query, want string }{
		"sslmode=disable":       {"sslmode=disable", "sslmode=disable, weaker than database.tls.mode verify-full"},
		"sslmode=require":       {"sslmode=require", "sslmode=require, weaker than database.tls.mode verify-full"},
		"no sslmode":            {"", "has no sslmode"},
		"an unreadable CA file": {"sslmode=verify-full", "database.tls.ca_file: open " + caFile},
	} {
		// Port 9 (discard) on loopback: nothing answers, so a dial would show as a hang or a refusal.
		configPath, _, _ := setup(t, "postgres://rsched:"+password+"@127.0.0.1:9/rsched?"+c.query)
		cmd := exec.Command(schedulerBin, "--config", configPath)
		cmd.Env = strictDatabaseTLS(caFile, "", "")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: started", name)
			continue
		}
		if !strings.Contains(string(out), c.want) || strings.Contains(string(out), password) || strings.Contains(string(out), "connecting") {
			t.Errorf("%s: output %s; want %q, before any dial, without the password", name, out, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refusing took %s", name, d)
		}
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

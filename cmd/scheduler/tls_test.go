package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/tlsserve/tlstest"
	"github.com/rsched/rsched/internal/testenv"
)

// tlsServer is the scheduler binary serving HTTPS with a certificate from a Secret volume.
type tlsServer struct {
	api, metrics string
	ca           *tlstest.CA
	vol          *tlstest.SecretVolume
	client       *http.Client
	out          *testenv.OutputBuffer
}

// startTLSServer starts the binary against a real PostgreSQL with tls.cert_file and tls.key_file
// set (serial 1) and waits until it is ready over HTTPS.
func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	pg := testenv.StartPostgres(t)
	configPath, api, metrics := setup(t, pg.URL)
	s := &tlsServer{api: api, metrics: metrics, ca: tlstest.NewCA(t), out: &testenv.OutputBuffer{}}
	leaf := s.ca.Issue(t, 1)
	s.vol = tlstest.NewSecretVolume(t, leaf.CertPEM, leaf.KeyPEM)
	f, err := os.OpenFile(configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fmt.Fprintf(f, "tls:\n  cert_file: %s\n  key_file: %s\n", s.vol.CertFile(), s.vol.KeyFile())
	_ = f.Close()
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("scheduler output:\n%s", s.out.String())
		}
	})
	s.client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	testenv.Eventually(t, 30*time.Second, "ready over HTTPS", func() (bool, string) {
		code, body := s.get("https://" + api + "/api/v1/health/ready")
		return code == 200, fmt.Sprint(code, body)
	})
	return s
}

func (s *tlsServer) get(url string) (int, string) {
	resp, err := s.client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// serial is the serial a new TLS connection to addr is served.
func (s *tlsServer) serial(addr string) int64 {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		return -1
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// plainHTTP sends a plain-HTTP request to addr and returns the status and body it gets back.
func plainHTTP(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerWithACertificateServesHTTPSOnlyOnBothListenersAndReloadsIt(t *testing.T) {
	s := startTLSServer(t)
	resp, err := s.client.Get("https://" + s.api + "/api/v1/health/live")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("live: %d over %s, TLS %x; want 200 over HTTP/2 and TLS 1.3", resp.StatusCode, resp.Proto, resp.TLS.Version)
	}
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS header over HTTPS: %q", resp.Header.Get("Strict-Transport-Security"))
	}
	if code, body := s.get("https://" + s.metrics + "/metrics"); code != 200 || !strings.Contains(body, "rsched_tls_certificate_not_after_timestamp_seconds") {
		t.Errorf("metrics over HTTPS: %d, certificate gauge present: %v", code, strings.Contains(body, "rsched_tls_certificate"))
	}
	for _, addr := range []string{s.api, s.metrics} {
		code, body := plainHTTP(t, addr, "/api/v1/health/live")
		if code != http.StatusBadRequest || !strings.Contains(body, "Client sent an HTTP request to an HTTPS server") {
			t.Errorf("plain HTTP to %s: %d %q; want 400 and the explanation", addr, code, body)
		}
	}

	leaf := s.ca.Issue(t, 2)
	start := time.Now()
	s.vol.Update(leaf.CertPEM, leaf.KeyPEM)
	testenv.Eventually(t, 15*time.Second, "both listeners serve serial 2", func() (bool, string) {
		a, m := s.serial(s.api), s.serial(s.metrics)
		return a == 2 && m == 2, fmt.Sprintf("api serial %d, metrics serial %d", a, m)
	})
	t.Logf("both listeners served the new certificate %s after the swap, no restart", time.Since(start).Round(time.Millisecond))
	if code, _ := s.get("https://" + s.api + "/api/v1/health/live"); code != 200 {
		t.Errorf("live after the swap: %d", code)
	}
	if strings.Contains(s.out.String(), "PRIVATE KEY") {
		t.Error("the server's output holds a PEM private key")
	}
}

func TestServerRefusesToStartWithAMismatchedCertificateAndKey(t *testing.T) {
	configPath, _, _ := setup(t, "postgres://rsched:Xk9vQ2mL7pR4tZ8w@127.0.0.1:5432/rsched")
	ca := tlstest.NewCA(t)
	a, b := ca.Issue(t, 1), ca.Issue(t, 2)
	vol := tlstest.NewSecretVolume(t, a.CertPEM, b.KeyPEM)
	cmd := exec.Command(schedulerBin, "--config", configPath)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "RSCHED_SERVER_TLS_CERT_FILE=" + vol.CertFile(), "RSCHED_SERVER_TLS_KEY_FILE=" + vol.KeyFile()}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not match") || strings.Contains(string(out), "PRIVATE KEY") {
		t.Errorf("err %v, output %s; want a refusal naming the mismatch and no key", err, out)
	}
}

// testsslFinding is one entry of testssl.sh's flat JSON output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// testsslBin is Debian's testssl.sh from RSCHED_TESTSSL_BIN. Missing, the test fails, saying how
// to get it (as every component of internal/testenv does): it is never skipped.
func testsslBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RSCHED_TESTSSL_BIN")
	if fi, err := os.Stat(bin); bin != "" && err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return bin
	}
	msg := fmt.Sprintf("testssl.sh is not available (RSCHED_TESTSSL_BIN=%q is not an executable file): run `make test`, or "+
		"`export RSCHED_TESTSSL_BIN=\"$(hack/get-testssl.sh)\"` and run the tests again", bin)
	t.Fatal(msg)
	return ""
}

// weakCipherLists are testssl.sh's (3.0) cipher categories that must not be offered; AVERAGE
// holds the CBC suites and the ones without forward secrecy.
var weakCipherLists = []string{"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
	"cipherlist_3DES_IDEA", "cipherlist_AVERAGE"}

// testsslCertificateOnly are findings about the certificate a PKI issues, not about the server's
// TLS, that testssl.sh rates HIGH. cert_revocation: "Neither CRL nor OCSP URI provided", which
// every certificate of a private CA without a CRL earns; revocation of a short-lived leaf is
// rotation (docs/tls.md). It is the only finding tolerated above MEDIUM, and only with that text.
var testsslCertificateOnly = map[string]string{"cert_revocation": "Neither CRL nor OCSP URI provided"}

func TestTestsslFindsNoOldProtocolWeakCipherOrHighFindingOnTheServer(t *testing.T) {
	bin := testsslBin(t)
	s := startTLSServer(t)
	dir := t.TempDir()
	caFile, report := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "testssl.json")
	if err := os.WriteFile(caFile, s.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(bin, "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none", "--add-ca", caFile,
		"--jsonfile", report, "--protocols", "--std", "--fs", "--server-defaults", "--headers", "--vulnerable",
		"https://"+s.api)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("testssl.sh took %s", time.Since(start).Round(time.Second))
	if err != nil && len(out) > 0 && !fileExists(report) {
		t.Fatalf("testssl.sh: %v\n%s", err, out)
	}
	findings := readTestsslReport(t, report)
	byID := map[string]testsslFinding{}
	for _, f := range findings {
		byID[f.ID] = f
		if (f.Severity == "HIGH" || f.Severity == "CRITICAL") && testsslCertificateOnly[f.ID] != f.Finding {
			t.Errorf("testssl.sh %s %s: %s", f.Severity, f.ID, f.Finding)
		}
	}
	for _, id := range append([]string{"SSLv2", "SSLv3", "TLS1", "TLS1_1"}, weakCipherLists...) {
		if f, ok := byID[id]; !ok || !strings.HasPrefix(f.Finding, "not offered") {
			t.Errorf("testssl.sh %s: %q, want not offered", id, f.Finding)
		}
	}
	for id, want := range map[string]string{"TLS1_2": "offered", "TLS1_3": "offered", "PFS": "offered", "ALPN_HTTP2": "h2"} {
		if f := byID[id]; !strings.HasPrefix(f.Finding, want) {
			t.Errorf("testssl.sh %s: %q, want %s", id, f.Finding, want)
		}
	}
	if t.Failed() {
		t.Logf("testssl.sh output:\n%s", out)
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

func readTestsslReport(t *testing.T, path string) []testsslFinding {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testssl.sh wrote no report: %v", err)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(b, &findings); err != nil {
		t.Fatalf("testssl.sh report: %v", err)
	}
	if len(findings) < 20 {
		t.Fatalf("testssl.sh reported %d findings; the scan did not run:\n%s", len(findings), b)
	}
	return findings
}

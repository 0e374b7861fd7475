package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/server/auth"
)

func TestRandomPasswordsMeetTheServersPasswordPolicy(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := randomPassword(24)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 24 || seen[pw] {
			t.Fatalf("password of %d characters, or repeated", len(pw))
		}
		seen[pw] = true
		if err := auth.DefaultPasswordPolicy.Check(pw, "benchadmin", "bench@example.org"); err != nil {
			t.Fatalf("a generated password breaks the policy: %v", err) // the password itself is not printed
		}
	}
}

func TestParseWrkReadsRateLatenciesAndErrors(t *testing.T) {
	w, err := parseWrk(`Running 5s test @ http://127.0.0.1:8080/api/v1/auth/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00ms    2.00ms  30.00ms   90.00%
  Latency Distribution
     50%  457.00us
     75%    1.00ms
     90%    2.00ms
     99%    1.02s
  290000 requests in 5.00s, 40.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:  58086.87
Transfer/sec:      8.00MB
`)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkFigures{rps: 58086.87, p50: "0.46ms", p99: "1020.00ms", non2xx: 12, socketErrors: 5}
	if w != want {
		t.Errorf("got %+v, want %+v", w, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil || !strings.Contains(err.Error(), "Requests/sec") {
		t.Errorf("output without figures: err = %v", err)
	}
}

func TestIssuedCertificateVerifiesAgainstTheRunsCAForLocalhostOnly(t *testing.T) {
	f, err := issueTLS(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pemCert, err := os.ReadFile(f.certFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.DecodeCertificates(pemCert)
	if err != nil || len(certs) != 1 {
		t.Fatalf("tls.crt: %d certificates, %v", len(certs), err)
	}
	if _, ok := certs[0].PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("serving key is %T, want ECDSA", certs[0].PublicKey)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: f.roots, DNSName: serverName}); err != nil {
		t.Errorf("verify for %s: %v", serverName, err)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: f.roots, DNSName: "example.org"}); err == nil {
		t.Error("the certificate verifies for example.org")
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: serverName}); err == nil {
		t.Error("the certificate verifies without the run's CA")
	}
	if c := f.clientTLS(); c.InsecureSkipVerify || c.RootCAs != f.roots || c.ServerName != serverName || c.ClientSessionCache != nil {
		t.Errorf("client TLS config: skip %v, roots %p (want %p), name %q, session cache %v", c.InsecureSkipVerify, c.RootCAs, f.roots, c.ServerName, c.ClientSessionCache)
	}
}

func TestProcessCPUReadsThisProcesssTime(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	d, err := processCPU(os.Getpid())
	if err != nil || d <= 0 {
		t.Fatalf("processCPU(self) = %s, %v", d, err)
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// rootsProbeEnv makes the test binary (TestMain) print probeRoots' verdicts instead of testing:
// the system roots are loaded once per process, so each host setup needs a process of its own.
const rootsProbeEnv = "RSCHED_ROOTS_PROBE_CA"

// probeRoots says whether x509's system pool trusts one root of the embedded bundle and the CA
// in the file named by rootsProbeEnv ("-" for none).
func probeRoots() int {
	verdict := func(c *x509.Certificate) string {
		if _, err := c.Verify(x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return "untrusted"
		}
		return "trusted"
	}
	var embedded *x509.Certificate
	for r := range bundle.Roots() {
		if c, err := x509.ParseCertificate(r.Certificate); err == nil && r.Constraint == nil {
			embedded = c
			break
		}
	}
	if embedded == nil {
		fmt.Println("no unconstrained root in the embedded bundle")
		return 1
	}
	custom := "none"
	if f := os.Getenv(rootsProbeEnv); f != "-" {
		b, err := os.ReadFile(f)
		blk, _ := pem.Decode(b)
		if err != nil || blk == nil {
			fmt.Println("reading", f, err)
			return 1
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		custom = verdict(c)
	}
	fmt.Printf("embedded=%s custom=%s\n", verdict(embedded), custom)
	return 0
}

// The images carry no CA bundle: with no roots on the host, the scheduler (and the manager, which
// imports the same package) trusts the Mozilla roots of golang.org/x/crypto/x509roots/fallback;
// when the host provides roots (SSL_CERT_FILE, a mounted bundle), those alone are trusted.
func TestSystemRootsFallBackToTheEmbeddedBundleOnlyWhenTheHostHasNone(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rsched test host CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, certFile, probe, want string
	}{
		{"no roots on the host (the image)", filepath.Join(empty, "none.crt"), "-", "embedded=trusted custom=none"},
		{"the host's own bundle", ca, ca, "embedded=untrusted custom=trusted"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+c.certFile, "SSL_CERT_DIR="+empty, rootsProbeEnv+"="+c.probe, "GODEBUG=")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%s: %v %q, want %q", c.name, err, out, c.want)
		}
	}
}

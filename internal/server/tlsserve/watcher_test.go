package tlsserve

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsched/rsched/internal/server/tlsserve/tlstest"
)

// newSerial is the serial a new connection is served.
func (s *server) newSerial(t *testing.T) int64 {
	t.Helper()
	st, err := s.handshake(&tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerCertificates[0].SerialNumber.Int64()
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// keepAliveClient keeps one connection open between requests and reports the serial it was served.
func (s *server) keepAliveClient(proto string) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"}, MaxIdleConnsPerHost: 1}
	if proto == "h2" {
		tr.ForceAttemptHTTP2 = true
	} else {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: tr}
}

func servedSerial(t *testing.T, c *http.Client, url string) int64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

func TestAKubeletSwapReachesNewConnectionsWhileOpenOnesFinishOnTheOldCertificate(t *testing.T) {
	// No poll within the test: the file notification alone must bring the new certificate.
	s := startServerPolling(t, time.Hour)
	ctx := t.Context()
	go func() { _ = s.certs.Run(ctx) }()
	url := "https://" + s.addr + "/"
	clients := map[string]*http.Client{"HTTP/1.1": s.keepAliveClient("http/1.1"), "HTTP/2": s.keepAliveClient("h2")}
	for name, c := range clients {
		if got := servedSerial(t, c, url); got != 1 {
			t.Fatalf("%s before the swap: serial %d", name, got)
		}
	}

	leaf := s.ca.Issue(t, 2)
	s.vol.Update(leaf.CertPEM, leaf.KeyPEM)
	took := waitFor(t, 5*time.Second, "a new connection served serial 2", func() bool { return s.newSerial(t) == 2 })
	t.Logf("new handshakes served the new certificate %s after the swap", took.Round(time.Millisecond))

	// The open connections were not dropped: the same connection, so the same certificate.
	for name, c := range clients {
		if got := servedSerial(t, c, url); got != 1 {
			t.Errorf("%s keep-alive connection after the swap: serial %d, want 1 (the connection it opened)", name, got)
		}
	}
	if n := testutil.ToFloat64(s.metrics.Reloads); n != 1 {
		t.Errorf("reloads_total %v, want 1", n)
	}
	if got := testutil.ToFloat64(s.metrics.NotAfter); got != float64(s.certs.Current().Leaf.NotAfter.Unix()) {
		t.Errorf("not-after gauge %v", got)
	}
}

func TestAMismatchedPairIsRefusedAndTheLastGoodCertificateKept(t *testing.T) {
	s := startServer(t)
	go func() { _ = s.certs.Run(t.Context()) }()
	good := s.ca.Issue(t, 2)
	s.vol.Update(good.CertPEM, good.KeyPEM)
	waitFor(t, 5*time.Second, "serial 2 served", func() bool { return s.newSerial(t) == 2 })

	// Serial 3's certificate with another leaf's key: refused, serial 2 stays.
	other, mismatched := s.ca.Issue(t, 4), s.ca.Issue(t, 3)
	s.vol.Update(mismatched.CertPEM, other.KeyPEM)
	waitFor(t, 5*time.Second, "the mismatched pair counted", func() bool { return testutil.ToFloat64(s.metrics.ReloadErrors) == 1 })
	if err := s.certs.LastError(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LastError %v, want the mismatch", err)
	}
	if got := s.newSerial(t); got != 2 {
		t.Errorf("serial %d served after a mismatched pair, want 2 (the last good one)", got)
	}
	// Garbage is refused the same way; polling does not count the same bad pair twice.
	s.vol.Update([]byte("not a certificate"), other.KeyPEM)
	waitFor(t, 5*time.Second, "the unparsable pair counted", func() bool { return testutil.ToFloat64(s.metrics.ReloadErrors) == 2 })
	time.Sleep(200 * time.Millisecond) // four polls
	if n := testutil.ToFloat64(s.metrics.ReloadErrors); n != 2 {
		t.Errorf("reload_errors_total %v after polls of the same bad pair, want 2", n)
	}
	if got := s.newSerial(t); got != 2 {
		t.Errorf("serial %d served after an unparsable pair, want 2", got)
	}

	// A good pair afterwards is taken and clears the error.
	s.vol.Update(mismatched.CertPEM, mismatched.KeyPEM)
	waitFor(t, 5*time.Second, "serial 3 served", func() bool { return s.newSerial(t) == 3 })
	if err := s.certs.LastError(); err != nil {
		t.Errorf("LastError %v after a good pair", err)
	}
	assertNoKeyMaterial(t, s.logs.String(), good, other, mismatched)
	if !strings.Contains(s.logs.String(), "the previous certificate stays in use") {
		t.Errorf("no rejection log line in %s", s.logs.String())
	}
}

// assertNoKeyMaterial fails when a key of leaves, in PEM or any base64 line of it, is in logs.
func assertNoKeyMaterial(t *testing.T, logs string, leaves ...tlstest.Leaf) {
	t.Helper()
	if strings.Contains(logs, "PRIVATE KEY") {
		t.Error("the log names a PEM private key")
	}
	for _, l := range leaves {
		block, _ := pem.Decode(l.KeyPEM)
		b64 := base64.StdEncoding.EncodeToString(block.Bytes)
		for i := 0; i+32 <= len(b64); i += 32 {
			if strings.Contains(logs, b64[i:i+32]) {
				t.Fatal("the log holds private key material")
			}
		}
	}
}

func TestNewWatcherRefusesAMissingOrMismatchedPair(t *testing.T) {
	ca := tlstest.NewCA(t)
	a, b := ca.Issue(t, 1), ca.Issue(t, 2)
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certA, keyA, keyB := write("a.crt", a.CertPEM), write("a.key", a.KeyPEM), write("b.key", b.KeyPEM)
	for name, pair := range map[string][2]string{
		"missing certificate": {filepath.Join(dir, "absent.crt"), keyA},
		"missing key":         {certA, filepath.Join(dir, "absent.key")},
		"mismatched key":      {certA, keyB},
		"key as certificate":  {keyA, keyA},
	} {
		if _, err := NewWatcher(pair[0], pair[1], WatcherOptions{Logger: quietLogger(nil)}); err == nil {
			t.Errorf("%s: started", name)
		} else if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
	w, err := NewWatcher(certA, keyA, WatcherOptions{Logger: quietLogger(nil)})
	if err != nil || w.Current().Leaf.SerialNumber.Int64() != 1 {
		t.Fatalf("valid pair: %v", err)
	}
}

package tlsserve

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/tlsserve/tlstest"
)

// server is a handler served over TLS on a loopback port with a Watcher on a Secret volume.
type server struct {
	addr    string
	ca      *tlstest.CA
	vol     *tlstest.SecretVolume
	certs   *Watcher
	metrics *Metrics
	logs    *lockedBuffer
	served  atomic.Int64 // requests that reached the handler
}

// lockedBuffer collects log lines the Watcher writes while the test reads them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func quietLogger(buf *lockedBuffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewJSONHandler(buf, nil))
}

// startServer serves over TLS with serial 1 and follows the volume (polling every 50ms as well).
func startServer(t *testing.T) *server { return startServerPolling(t, 50*time.Millisecond) }

// startServerPolling is startServer with the Watcher's poll interval.
func startServerPolling(t *testing.T, poll time.Duration) *server {
	t.Helper()
	s := &server{ca: tlstest.NewCA(t), logs: &lockedBuffer{}, metrics: NewMetrics(nil)}
	leaf := s.ca.Issue(t, 1)
	s.vol = tlstest.NewSecretVolume(t, leaf.CertPEM, leaf.KeyPEM)
	var err error
	s.certs, err = NewWatcher(s.vol.CertFile(), s.vol.KeyFile(), WatcherOptions{
		PollInterval: poll, Logger: quietLogger(s.logs), Metrics: s.metrics})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.served.Add(1)
			_, _ = io.WriteString(w, "served "+r.Proto)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError),
	}
	Configure(srv, s.certs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// handshake dials with cfg (RootCAs and ServerName filled in) and returns the connection state.
func (s *server) handshake(cfg *tls.Config) (tls.ConnectionState, error) {
	cfg.RootCAs, cfg.ServerName = s.ca.Pool(), "localhost"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", s.addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestHandshakesBelowTLS12AreRefused(t *testing.T) {
	s := startServer(t)
	for name, v := range map[string]uint16{"TLS 1.0": tls.VersionTLS10, "TLS 1.1": tls.VersionTLS11} {
		_, err := s.handshake(&tls.Config{MinVersion: v, MaxVersion: v})
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s: handshake error %v, want the server's protocol-version refusal", name, err)
		}
	}
}

func TestTLS12ServesOnlyForwardSecretAEADSuites(t *testing.T) {
	s := startServer(t)
	refused := map[string]uint16{
		"ECDHE with AES-CBC":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE with AES-CBC-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		"static RSA with AES-GCM":   tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		"static RSA with AES-CBC":   tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		"ECDHE with 3DES":           tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
		"ECDHE with RC4":            tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	}
	for name, suite := range refused {
		_, err := s.handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		// "remote error": the server refused; a client that never sent the hello proves nothing.
		if err == nil || !strings.Contains(err.Error(), "remote error") {
			t.Errorf("%s: handshake error %v, want the server's refusal", name, err)
		}
	}
	// The certificate is ECDSA, so the ECDSA suites of the list are the ones it can negotiate.
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := s.handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
			t.Errorf("%s: %v, version %x, suite %s", tls.CipherSuiteName(suite), err, st.Version, tls.CipherSuiteName(st.CipherSuite))
		}
	}
}

func TestTLS13IsNegotiatedWhenOfferedAndHTTP2ByALPN(t *testing.T) {
	s := startServer(t)
	st, err := s.handshake(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil || st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
		t.Fatalf("default client: %v, version %x, ALPN %q; want TLS 1.3 and h2", err, st.Version, st.NegotiatedProtocol)
	}
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	resp, err := c.Get("https://" + s.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || string(body) != "served HTTP/2.0" {
		t.Errorf("proto %s, body %q; want HTTP/2.0", resp.Proto, body)
	}
}

func TestPlainHTTPToTheTLSPortIsRefusedBeforeAnyHandler(t *testing.T) {
	s := startServer(t)
	conn, err := net.DialTimeout("tcp", s.addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, "GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP: %d %q; want 400 and net/http's explanation", resp.StatusCode, body)
	}
	// net/http's own client gets the same refusal.
	c := &http.Client{Timeout: 3 * time.Second}
	if r, err := c.Get("http://" + s.addr + "/"); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Errorf("http.Get over plain HTTP: %v %v; want 400", r, err)
	} else {
		_ = r.Body.Close()
	}
	if n := s.served.Load(); n != 0 {
		t.Errorf("the handler ran %d times for plain-HTTP requests", n)
	}
}

package store

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/testenv"
)

// tlsDB is a TLS-only PostgreSQL (testenv.PostgresTLS) and what the tests of this file need
// around it: URLs as an operator would write them (TLS files in database.tls, not in the URL),
// the password for the canary, and a log that the canary reads.
type tlsDB struct {
	t        *testing.T
	pg       *testenv.PostgresTLS
	password string
	log      *syncBuffer
	errs     []string // every error the store returned, for the canary
}

func startTLSDB(t *testing.T) *tlsDB {
	t.Helper()
	pg := testenv.StartPostgresTLS(t)
	u, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	d := &tlsDB{t: t, pg: pg, password: pw, log: &syncBuffer{}}
	t.Cleanup(func() {
		// The canary: no password in any error or log line of the store.
		for _, e := range append(d.errs, d.log.String()) {
			if strings.Contains(e, d.password) {
				t.Errorf("the password appears in %q", e)
			}
		}
	})
	return d
}

// url is the superuser's URL (password login) at host with sslmode=mode and no TLS file in it;
// user "rsched_cert" gives the certificate login's URL, without a password.
func (d *tlsDB) url(user, host, mode string) string {
	u, err := url.Parse(d.pg.URL)
	if err != nil {
		d.t.Fatal(err)
	}
	if user == "rsched_cert" {
		u.User = url.User(user)
	}
	u.Host = strings.Replace(u.Host, "localhost", host, 1)
	u.RawQuery = url.Values{"sslmode": {mode}}.Encode()
	return u.String()
}

// open opens the store as the server does (app.New): database.tls, a connection lifetime, a log.
func (d *tlsDB) open(rawURL string, files serverconfig.DatabaseTLS, lifetime time.Duration) (*Store, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, _, err := Open(ctx, rawURL, Options{MaxConns: 4, MaxConnLifetime: lifetime, TLS: &files,
		Log: slog.New(slog.NewJSONHandler(d.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		d.errs = append(d.errs, err.Error())
		return nil, err
	}
	d.t.Cleanup(s.Close)
	return s, nil
}

// session is who a new pooled connection signs in as and the serial of the client
// certificate it presented ("" for none). The connection is closed afterwards, so the next call
// dials again.
func (d *tlsDB) session(s *Store) (user, serial string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := s.Pool.Acquire(ctx)
	if err != nil {
		d.errs = append(d.errs, err.Error())
		return "", "", err
	}
	defer func() { _ = c.Conn().Close(ctx); c.Release() }()
	var ssl bool
	err = c.QueryRow(ctx, "SELECT current_user, ssl, coalesce(client_serial::text, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&user, &ssl, &serial)
	if err == nil && !ssl {
		d.t.Errorf("%s signed in without TLS", user)
	}
	return user, serial, err
}

// copyFile writes src's content to dst as the kubelet swaps a Secret's files: all at once.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, b)
}

func writeFile(t *testing.T, dst string, b []byte) {
	t.Helper()
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func serialOf(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", certFile)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func TestTheStoreReachesPostgresOnlyOverVerifiedTLS(t *testing.T) {
	d := startTLSDB(t)
	full := serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: d.pg.CAFile}

	t.Run("verify-full with the database's CA", func(t *testing.T) {
		s, err := d.open(d.url("rsched", "localhost", "verify-full"), full, 0)
		if err != nil {
			t.Fatal(err)
		}
		if user, _, err := d.session(s); err != nil || user != "rsched" {
			t.Fatalf("pooled connection: %q, %v", user, err)
		}
		// The notification listener's dedicated connection is dialled the same way.
		conn, err := s.Connect(context.Background())
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		_ = conn.Close(context.Background())
	})
	refused := func(t *testing.T, rawURL string, files serverconfig.DatabaseTLS, want ...string) {
		t.Helper()
		start := time.Now()
		_, err := d.open(rawURL, files, 0)
		if err == nil {
			t.Fatal("opened")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("refusing took %s", time.Since(start))
		}
		t.Logf("refused: %v", err)
	}
	t.Run("a certificate for another host name", func(t *testing.T) {
		// The server's certificate names localhost only.
		refused(t, d.url("rsched", "127.0.0.1", "verify-full"), full, "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs")
	})
	t.Run("a certificate signed by another CA", func(t *testing.T) {
		refused(t, d.url("rsched", "localhost", "verify-full"), serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: d.pg.OtherCAFile},
			"x509: certificate signed by unknown authority")
	})
	t.Run("verify-ca checks the chain but not the name", func(t *testing.T) {
		ca := serverconfig.DatabaseTLS{Mode: "verify-ca", CAFile: d.pg.CAFile}
		s, err := d.open(d.url("rsched", "127.0.0.1", "verify-ca"), ca, 0)
		if err != nil {
			t.Fatalf("verify-ca at 127.0.0.1: %v", err)
		}
		if user, _, err := d.session(s); err != nil || user != "rsched" {
			t.Fatalf("pooled connection: %q, %v", user, err)
		}
		ca.CAFile = d.pg.OtherCAFile
		refused(t, d.url("rsched", "127.0.0.1", "verify-ca"), ca, "x509: certificate signed by unknown authority")
	})
	t.Run("a client certificate and no password", func(t *testing.T) {
		withCert := full
		withCert.CertFile, withCert.KeyFile = d.pg.ClientCertFile, d.pg.ClientKeyFile
		s, err := d.open(d.url("rsched_cert", "localhost", "verify-full"), withCert, 0)
		if err != nil {
			t.Fatal(err)
		}
		user, serial, err := d.session(s)
		if err != nil || user != "rsched_cert" || serial != serialOf(t, d.pg.ClientCertFile) {
			t.Fatalf("certificate login: %q, serial %q, %v", user, serial, err)
		}
		// Without the certificate the same URL gets nowhere.
		refused(t, d.url("rsched_cert", "localhost", "verify-full"), full, "rsched_cert")
	})
	t.Run("unreadable or unusable files stop the start", func(t *testing.T) {
		u := d.url("rsched", "localhost", "verify-full")
		refused(t, u, serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: filepath.Join(t.TempDir(), "missing.crt")},
			"store: database.tls.ca_file: open ", "no such file or directory")
		refused(t, u, serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: d.pg.ClientKeyFile}, "database.tls.ca_file", "holds no PEM certificate")
		refused(t, u, serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: d.pg.CAFile, CertFile: d.pg.ClientCertFile, KeyFile: d.pg.ClientCertFile},
			"database.tls.cert_file", "are not a certificate and its key")
	})
	t.Run("a weak sslmode is refused before any dial", func(t *testing.T) {
		// A listener that counts who reaches it stands where the database would be.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var dialled atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				dialled.Add(1)
				_ = c.Close()
			}
		}()
		for _, mode := range []string{"disable", "allow", "prefer", "require", "verify-ca"} {
			u, _ := url.Parse(d.url("rsched", "localhost", mode))
			u.Host = ln.Addr().String()
			refused(t, u.String(), full, "sslmode="+mode+", weaker than database.tls.mode verify-full")
		}
		u, _ := url.Parse(d.url("rsched", "localhost", "verify-full"))
		u.Host, u.RawQuery = ln.Addr().String(), ""
		refused(t, u.String(), full, "has no sslmode")
		u.RawQuery = "sslmode=verify-full&sslrootcert=" + url.QueryEscape(d.pg.CAFile)
		refused(t, u.String(), full, "names sslrootcert: set database.tls.ca_file instead")
		if n := dialled.Load(); n != 0 {
			t.Errorf("%d connections reached the database's address", n)
		}
	})
}

// TestPlaintextNeverLeavesTheServer stands a server that declines TLS (it answers the
// SSLRequest with "N", as PostgreSQL with ssl=off does) where the database would be: the store
// must give up without sending anything else, so neither the user name nor a password
// exchange ever crosses the network in clear text.
func TestPlaintextNeverLeavesTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var received [][]byte
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req := make([]byte, 8)
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				_, _ = c.Write([]byte("N"))
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				rest, _ := io.ReadAll(c)
				mu.Lock()
				received = append(received, append(req, rest...))
				mu.Unlock()
			}()
		}
	}()
	const password = "Xk9vQ2mL7pR4tZ8wq" // the canary
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, caFile, selfSignedPEM(t))
	for _, mode := range []string{"verify-full", "verify-ca"} {
		u := "postgres://rsched:" + password + "@" + ln.Addr().String() + "/rsched?sslmode=" + mode
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _, err := Open(ctx, u, Options{TLS: &serverconfig.DatabaseTLS{Mode: mode, CAFile: caFile}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		cancel()
		if err == nil {
			t.Fatalf("%s: opened a server that declines TLS", mode)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error carries the password", mode)
		}
		t.Logf("%s: refused: %v", mode, err)
	}
	// Each reader stops when the store hangs up (or at its deadline).
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) < 2 {
		t.Fatalf("the store reached the fake server %d times, want 2: the test proves nothing", len(received))
	}
	sslRequest := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	for _, r := range received {
		if !bytes.Equal(r, sslRequest) {
			t.Errorf("after the refused SSLRequest the store sent %q", r[min(len(r), 8):])
		}
	}
}

func TestARotatedClientCertificateIsUsedWithoutRestartingThePool(t *testing.T) {
	d := startTLSDB(t)
	dir := t.TempDir()
	files := serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	copyFile(t, d.pg.CAFile, files.CAFile)
	copyFile(t, d.pg.ClientCertFile, files.CertFile)
	copyFile(t, d.pg.ClientKeyFile, files.KeyFile)
	const lifetime = 2 * time.Second
	s, err := d.open(d.url("rsched_cert", "localhost", "verify-full"), files, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	first := serialOf(t, d.pg.ClientCertFile)
	if _, serial, err := d.session(s); err != nil || serial != first {
		t.Fatalf("before the rotation: serial %q, %v; want %s", serial, err, first)
	}
	ctx := context.Background()
	held, err := s.Pool.Acquire(ctx) // a connection open across the rotation
	if err != nil {
		t.Fatal(err)
	}

	certFile, keyFile, err := d.pg.IssueClientCert("rsched_cert")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, certFile, files.CertFile)
	copyFile(t, keyFile, files.KeyFile)
	second := serialOf(t, certFile)
	if _, serial, err := d.session(s); err != nil || serial != second {
		t.Fatalf("a new connection after the rotation: serial %q, %v; want the new %s", serial, err, second)
	}
	var oldSerial string
	if err := held.QueryRow(ctx, "SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&oldSerial); err != nil || oldSerial != first {
		t.Errorf("the connection open across the rotation: %q, %v; want it alive on %s", oldSerial, err, first)
	}
	if !strings.Contains(d.log.String(), "database TLS: files changed") {
		t.Errorf("the reload was not logged: %s", d.log)
	}

	// A certificate swapped in without its key is unusable: new connections keep the last good pair.
	copyFile(t, d.pg.ClientCertFile, files.CertFile)
	if _, serial, err := d.session(s); err != nil || serial != second {
		t.Fatalf("after a mismatched pair: serial %q, %v; want the last good %s", serial, err, second)
	}
	if !strings.Contains(d.log.String(), "the new files are unusable; new connections keep the last good ones") {
		t.Errorf("the unusable pair was not logged: %s", d.log)
	}
	copyFile(t, certFile, files.CertFile)

	// The connection open across the rotation is closed once its lifetime is over.
	time.Sleep(lifetime + lifetime/10 + 100*time.Millisecond)
	held.Release()
	for range 3 {
		c, err := s.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var serial string
		err = c.QueryRow(ctx, "SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&serial)
		c.Release()
		if err != nil || serial != second {
			t.Fatalf("after the lifetime: a pooled connection on serial %q, %v; want %s", serial, err, second)
		}
	}
}

func TestARotatedDatabaseCAIsUsedWithoutRestartingThePool(t *testing.T) {
	d := startTLSDB(t)
	dir := t.TempDir()
	files := serverconfig.DatabaseTLS{Mode: "verify-full", CAFile: filepath.Join(dir, "ca.crt")}
	copyFile(t, d.pg.CAFile, files.CAFile) // the old CA only
	s, err := d.open(d.url("rsched", "localhost", "verify-full"), files, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	oldCA, err := os.ReadFile(d.pg.CAFile)
	if err != nil {
		t.Fatal(err)
	}

	// The database's CA is replaced: its certificate now comes from a CA the server does not trust.
	newCAFile, err := d.pg.RotateServerCA()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.session(s); err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
		t.Fatalf("a new connection trusting only the old CA: %v; want it refused", err)
	}
	if err := held.Ping(ctx); err != nil {
		t.Errorf("the connection open across the database's rotation: %v", err)
	}
	// The Secret is updated with the bundle of old and new CA: new connections succeed, no restart.
	newCA, err := os.ReadFile(newCAFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, files.CAFile, append(oldCA, newCA...))
	if user, _, err := d.session(s); err != nil || user != "rsched" {
		t.Fatalf("a new connection with the new bundle: %q, %v", user, err)
	}
	conn, err := s.Connect(ctx)
	if err != nil {
		t.Fatalf("a dedicated connection with the new bundle: %v", err)
	}
	_ = conn.Close(ctx)
	// And the new CA alone, once the old one is dropped from the bundle.
	writeFile(t, files.CAFile, newCA)
	if user, _, err := d.session(s); err != nil || user != "rsched" {
		t.Fatalf("a new connection with the new CA alone: %q, %v", user, err)
	}
}

// selfSignedPEM is a CA certificate that parses (whom it names does not matter here).
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// syncBuffer is a log destination several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rsched/rsched/internal/serverconfig"
)

// dialTLS applies database.tls to every connection the store dials. It reads the CA bundle and
// the client certificate again for each new connection and parses them only when their content
// changed, so a rotated file (a Secret the kubelet swapped) is used by the next dial, with no
// watcher to fall behind and no restart. New files that cannot be used (a half-written pair, a
// bundle with no certificate) are logged and the last good ones kept; at start there are none,
// and Open fails.
type dialTLS struct {
	// mode is the URL's sslmode, at least database.tls.mode (serverconfig.DatabaseTLS.CheckURL).
	mode  string
	files serverconfig.DatabaseTLS
	log   *slog.Logger

	mu      sync.Mutex
	loaded  bool
	digest  [sha256.Size]byte // of the files' contents at the last attempt
	roots   *x509.CertPool    // nil: the system's trust store
	cert    *tls.Certificate  // nil: no client certificate
	subject string            // of the client certificate, for the log
}

// newDialTLS checks the URL's sslmode against the settings and reads the files once, so that a
// missing or unusable file stops the server at start with the setting's name in the error.
func newDialTLS(rawURL string, files serverconfig.DatabaseTLS, log *slog.Logger) (*dialTLS, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	mode, err := files.CheckURL(u)
	if err != nil {
		return nil, fmt.Errorf("store: the database URL %w", err)
	}
	d := &dialTLS{mode: mode, files: files, log: log}
	if _, _, err := d.current(); err != nil {
		return nil, err
	}
	return d, nil
}

// current returns the CA pool and client certificate of the files as they are now, or the last
// good ones when the files changed into something unusable.
func (d *dialTLS) current() (*x509.CertPool, *tls.Certificate, error) {
	contents, err := d.read()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if !d.loaded {
			return nil, nil, err
		}
		d.log.Warn("database TLS: the files cannot be read; new connections keep the last good ones", "error", err)
		return d.roots, d.cert, nil
	}
	digest := sha256.Sum256(bytes.Join(contents, []byte{0}))
	if d.loaded && digest == d.digest {
		return d.roots, d.cert, nil
	}
	roots, cert, subject, err := d.parse(contents)
	if err != nil {
		if !d.loaded {
			return nil, nil, err
		}
		if digest != d.digest { // once per bad version, not once per dial
			d.log.Warn("database TLS: the new files are unusable; new connections keep the last good ones", "error", err)
			d.digest = digest
		}
		return d.roots, d.cert, nil
	}
	if d.loaded {
		d.log.Info("database TLS: files changed; new connections use them, open ones close within database.max_conn_lifetime",
			"caFile", d.files.CAFile, "certFile", d.files.CertFile, "clientCertificate", subject)
	}
	d.loaded, d.digest, d.roots, d.cert, d.subject = true, digest, roots, cert, subject
	return roots, cert, nil
}

// read returns the contents of ca_file, cert_file and key_file (nil for one not set).
func (d *dialTLS) read() ([][]byte, error) {
	out := make([][]byte, 3)
	for i, f := range []struct{ name, path string }{
		{"database.tls.ca_file", d.files.CAFile}, {"database.tls.cert_file", d.files.CertFile}, {"database.tls.key_file", d.files.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", f.name, err)
		}
		out[i] = b
	}
	return out, nil
}

// parse turns the files' contents into a CA pool and a client certificate. Errors name the
// setting and the file, never their content.
func (d *dialTLS) parse(contents [][]byte) (*x509.CertPool, *tls.Certificate, string, error) {
	var roots *x509.CertPool
	if d.files.CAFile != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(contents[0]) {
			return nil, nil, "", fmt.Errorf("store: database.tls.ca_file %s holds no PEM certificate", d.files.CAFile)
		}
	}
	if !d.files.ClientCertificate() {
		return roots, nil, "", nil
	}
	pair, err := tls.X509KeyPair(contents[1], contents[2])
	if err != nil {
		return nil, nil, "", fmt.Errorf("store: database.tls.cert_file %s and key_file %s are not a certificate and its key: %w",
			d.files.CertFile, d.files.KeyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, nil, "", fmt.Errorf("store: database.tls.cert_file %s: %w", d.files.CertFile, err)
		}
	}
	subject := fmt.Sprintf("%s (serial %s, notAfter %s)", leaf.Subject.CommonName, leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339))
	return roots, &pair, subject, nil
}

// describe names the TLS settings a failed connection used, for its error ("" without them).
func (d *dialTLS) describe() string {
	if d == nil {
		return ""
	}
	ca := "the system's trust store"
	if d.files.CAFile != "" {
		ca = "database.tls.ca_file " + d.files.CAFile
	}
	cert := ""
	if d.files.ClientCertificate() {
		cert = ", client certificate database.tls.cert_file " + d.files.CertFile
	}
	return fmt.Sprintf(" (sslmode %s, trusting %s%s)", d.mode, ca, cert)
}

// errNoTLS refuses a connection that would not use TLS in a verifying mode (a Unix socket host,
// for which pgx never negotiates TLS).
var errNoTLS = errors.New("store: database.tls: a host of the database URL is reached without TLS (a Unix socket?); refused")

// apply sets the TLS of the primary host and every fallback of cc from the files as they are now:
// for verify-full the chain up to ca_file and the host name, for verify-ca the chain only; the
// client certificate in every mode. Weaker modes (the opt-out) keep pgx's handling of the URL's
// sslmode.
func (d *dialTLS) apply(cc *pgconn.Config) error {
	roots, cert, err := d.current()
	if err != nil {
		return err
	}
	if cc.TLSConfig, err = d.configFor(cc.Host, cc.TLSConfig, roots, cert); err != nil {
		return err
	}
	for _, fb := range cc.Fallbacks {
		if fb.TLSConfig, err = d.configFor(fb.Host, fb.TLSConfig, roots, cert); err != nil {
			return err
		}
	}
	return nil
}

func (d *dialTLS) configFor(host string, parsed *tls.Config, roots *x509.CertPool, cert *tls.Certificate) (*tls.Config, error) {
	verifies := serverconfig.Verifies(d.mode)
	if parsed == nil {
		if verifies {
			return nil, errNoTLS
		}
		return nil, nil // the opt-out's plaintext attempt (allow, prefer, disable)
	}
	c := parsed.Clone()
	c.MinVersion = tls.VersionTLS12
	c.Certificates = nil
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil // none: the server asks for one only if pg_hba says cert
		}
		return cert, nil
	}
	switch d.mode {
	case "verify-full":
		c.InsecureSkipVerify, c.VerifyPeerCertificate = false, nil
		c.RootCAs, c.ServerName = roots, host
	case "verify-ca":
		// crypto/tls would check the host name too; libpq's verify-ca checks the chain only.
		c.InsecureSkipVerify, c.RootCAs = true, roots
		c.VerifyPeerCertificate = verifyChain(roots)
	}
	return c, nil
}

// verifyChain checks the server's chain up to roots (the system's when nil) for server
// authentication, ignoring its names: libpq's verify-ca.
func verifyChain(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("the database server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		var leaf *x509.Certificate
		for i, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("the database server's certificate: %w", err)
			}
			if i == 0 {
				leaf = c
			} else {
				opts.Intermediates.AddCert(c)
			}
		}
		_, err := leaf.Verify(opts)
		return err
	}
}

package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresTLS is a throw-away PostgreSQL cluster that accepts only TLS: ssl=on with a server
// certificate for the name "localhost" only (no IP address), issued by a CA of its own, TLS 1.2 at
// least, and a pg_hba.conf whose only entries are hostssl: the superuser "rsched" signs in with a
// password, the role "rsched_cert" with a client certificate (auth method cert, which implies
// clientcert=verify-full) and no password; every other connection is rejected, so a plaintext
// attempt never authenticates. For the database-TLS tests.
type PostgresTLS struct {
	*Postgres
	// CAFile is the PEM file of the CA that issued the server and client certificates.
	CAFile string
	// ClientCertFile and ClientKeyFile are a client certificate for the role rsched_cert (its
	// common name) and its key.
	ClientCertFile, ClientKeyFile string
	// OtherCAFile is a CA that issued nothing this server shows: a client trusting only it must
	// refuse the server.
	OtherCAFile string
	// URL (of the embedded Postgres) is the superuser's URL with sslmode=verify-full, host
	// localhost and sslrootcert=CAFile; CertURL signs in as rsched_cert with the client
	// certificate and no password.
	CertURL string

	// The CA's key and where the server's files live, for IssueClientCert and RotateServerCA.
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	data  string
	cred  *syscall.Credential
	files int
}

// StartPostgresTLS starts a TLS-only PostgreSQL cluster and removes it when the test ends.
func StartPostgresTLS(t testing.TB) *PostgresTLS {
	t.Helper()
	p, err := NewPostgresTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && p.proc != nil {
			t.Logf("postgres server output:\n%s", p.proc.out.String())
		}
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// NewPostgresTLS starts a TLS-only PostgreSQL cluster on 127.0.0.1; the caller must Stop it.
func NewPostgresTLS() (*PostgresTLS, error) {
	c, err := newCluster("rsched-pgtls-")
	if err != nil {
		return nil, err
	}
	p := &PostgresTLS{Postgres: c.p, data: c.data, cred: c.cred}
	fail := func(err error) (*PostgresTLS, error) {
		_ = p.Stop()
		return nil, err
	}
	if err := p.writePKI(p.dir, c.data, c.cred); err != nil {
		return fail(err)
	}
	hba := filepath.Join(c.data, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(tlsOnlyHBA), 0o600); err != nil {
		return fail(err)
	}
	if err := chown(c.cred, hba); err != nil {
		return fail(err)
	}
	p.serverArgs = []string{"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key",
		"-c", "ssl_ca_file=root.crt", "-c", "ssl_min_protocol_version=TLSv1.2"}
	p.urlHost, p.urlQuery = "localhost", "sslmode=verify-full&sslrootcert="+url.QueryEscape(p.CAFile)
	if err := p.start(c.postgres, c.data, "127.0.0.1", c.password, c.cred); err != nil {
		return fail(err)
	}
	for _, sql := range []string{"CREATE DATABASE rsched", "CREATE ROLE rsched_cert LOGIN SUPERUSER"} {
		if err := p.exec(sql); err != nil {
			return fail(err)
		}
	}
	p.URL = p.databaseURL("127.0.0.1", c.password, "rsched")
	p.CertURL = (&url.URL{Scheme: "postgres", User: url.User("rsched_cert"), Host: fmt.Sprintf("localhost:%d", p.Port), Path: "/rsched",
		RawQuery: url.Values{"sslmode": {"verify-full"}, "sslrootcert": {p.CAFile}, "sslcert": {p.ClientCertFile}, "sslkey": {p.ClientKeyFile}}.Encode()}).String()
	return p, nil
}

// tlsOnlyHBA admits TLS connections only: a client certificate for rsched_cert, a password for
// everyone else; anything else, plaintext included, matches the last line and is rejected.
const tlsOnlyHBA = `hostssl all rsched_cert 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 scram-sha-256
host all all 0.0.0.0/0 reject
`

// writePKI issues the CA, the server certificate (into data, readable by the server only) and a
// client certificate, and another CA (into dir).
func (p *PostgresTLS) writePKI(dir, data string, cred *syscall.Credential) error {
	ca, caKey, err := newCA("rsched test database CA")
	if err != nil {
		return err
	}
	other, _, err := newCA("another CA")
	if err != nil {
		return err
	}
	server, serverKey, err := newLeaf(ca, caKey, "localhost", []string{"localhost"}, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return err
	}
	client, clientKey, err := newLeaf(ca, caKey, "rsched_cert", nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return err
	}
	p.ca, p.caKey = ca, caKey
	p.CAFile, p.OtherCAFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "other-ca.crt")
	p.ClientCertFile, p.ClientKeyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	files := []struct {
		path  string
		data  []byte
		owned bool // read by the server (as cred)
	}{
		{p.CAFile, ca.Raw, false}, {p.OtherCAFile, other.Raw, false},
		{p.ClientCertFile, client.Raw, false}, {p.ClientKeyFile, clientKey, false},
		{filepath.Join(data, "root.crt"), ca.Raw, true}, {filepath.Join(data, "server.crt"), server.Raw, true},
		{filepath.Join(data, "server.key"), serverKey, true},
	}
	for _, f := range files {
		block := "CERTIFICATE"
		if filepath.Ext(f.path) == ".key" {
			block = "EC PRIVATE KEY"
		}
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: block, Bytes: f.data}), 0o600); err != nil {
			return err
		}
		if f.owned {
			if err := chown(cred, f.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// IssueClientCert issues another client certificate for cn (rsched_cert signs in with it),
// signed by the current CA, into new files: a client certificate rotation.
func (p *PostgresTLS) IssueClientCert(cn string) (certFile, keyFile string, err error) {
	cert, key, err := newLeaf(p.ca, p.caKey, cn, nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return "", "", err
	}
	p.files++
	certFile, keyFile = filepath.Join(p.dir, fmt.Sprintf("client-%d.crt", p.files)), filepath.Join(p.dir, fmt.Sprintf("client-%d.key", p.files))
	if err := writePEM(certFile, "CERTIFICATE", cert.Raw); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", key)
}

// RotateServerCA replaces the CA: a new CA issues a new server certificate for localhost, which
// the server loads on a configuration reload (no restart), and from then on issues the client
// certificates of IssueClientCert; the server keeps trusting client certificates of the old CA
// too. It returns the new CA's PEM file. CAFile becomes the bundle of old and new CA (so URL and
// CertURL keep working); a client that trusts only the old CA refuses the server from now on.
func (p *PostgresTLS) RotateServerCA() (string, error) {
	old, err := os.ReadFile(p.CAFile)
	if err != nil {
		return "", err
	}
	ca, caKey, err := newCA("rsched test database CA, rotated")
	if err != nil {
		return "", err
	}
	server, serverKey, err := newLeaf(ca, caKey, "localhost", []string{"localhost"}, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return "", err
	}
	p.files++
	newCAFile := filepath.Join(p.dir, fmt.Sprintf("ca-%d.crt", p.files))
	if err := writePEM(newCAFile, "CERTIFICATE", ca.Raw); err != nil {
		return "", err
	}
	bundle := append(old, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	if err := os.WriteFile(p.CAFile, bundle, 0o600); err != nil {
		return "", err
	}
	for _, f := range []struct {
		name, block string
		der         []byte
		raw         []byte
	}{{"root.crt", "", nil, bundle}, {"server.crt", "CERTIFICATE", server.Raw, nil}, {"server.key", "EC PRIVATE KEY", serverKey, nil}} {
		path := filepath.Join(p.data, f.name)
		if f.raw != nil {
			err = os.WriteFile(path, f.raw, 0o600)
		} else {
			err = writePEM(path, f.block, f.der)
		}
		if err == nil {
			err = chown(p.cred, path)
		}
		if err != nil {
			return "", err
		}
	}
	p.ca, p.caKey = ca, caKey
	if err := p.exec("SELECT pg_reload_conf()"); err != nil {
		return "", err
	}
	// The postmaster reloads asynchronously: wait until a client trusting only the new CA gets in.
	u, err := url.Parse(p.URL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("sslrootcert", newCAFile)
	u.RawQuery = q.Encode()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, u.String())
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return newCAFile, nil
		}
		cancel()
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the server does not show the new CA's certificate after a reload: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writePEM(path, block string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: block, Bytes: der}), 0o600)
}

func chown(cred *syscall.Credential, path string) error {
	if cred == nil {
		return nil
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}

func newCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// newLeaf issues a certificate for cn (and dnsNames) signed by ca; it returns the certificate
// and its key, DER (SEC 1).
func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, dnsNames []string, usage x509.ExtKeyUsage) (*x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	return cert, keyDER, err
}

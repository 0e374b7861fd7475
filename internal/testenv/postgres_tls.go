package testenv

import (
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
	p := &PostgresTLS{Postgres: c.p}
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

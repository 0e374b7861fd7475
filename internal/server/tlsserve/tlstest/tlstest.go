// Package tlstest issues throwaway certificates for tests (an ECDSA P-256 CA and leaves it signs)
// and lays them out the way the kubelet mounts a kubernetes.io/tls Secret.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA creates a CA valid for a year.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rsched test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf is a serving certificate and its key, PEM-encoded.
type Leaf struct {
	Serial  int64
	CertPEM []byte
	KeyPEM  []byte
}

// Issue signs a 90-day serving certificate for localhost and 127.0.0.1 with the given serial and
// a fresh key.
func (ca *CA) Issue(t testing.TB, serial int64) Leaf {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Leaf{
		Serial:  serial,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// SecretVolume lays out a directory the way the kubelet's AtomicWriter does for a
// kubernetes.io/tls Secret:
//
//	..2026_12_07_03_00_01.1/tls.crt, tls.key   the data, one directory per update
//	..data -> ..2026_12_07_03_00_01.1           swapped atomically (rename) on update
//	tls.crt -> ..data/tls.crt                   stable paths the server opens
type SecretVolume struct {
	t   testing.TB
	Dir string
	n   int
}

// NewSecretVolume publishes certPEM and keyPEM in a new volume.
func NewSecretVolume(t testing.TB, certPEM, keyPEM []byte) *SecretVolume {
	t.Helper()
	v := &SecretVolume{t: t, Dir: t.TempDir()}
	v.Update(certPEM, keyPEM)
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// CertFile is the certificate's stable path.
func (v *SecretVolume) CertFile() string { return filepath.Join(v.Dir, "tls.crt") }

// KeyFile is the key's stable path.
func (v *SecretVolume) KeyFile() string { return filepath.Join(v.Dir, "tls.key") }

// Update publishes a new pair as the kubelet does: new directory, new symlink renamed over
// ..data, old directory removed.
func (v *SecretVolume) Update(certPEM, keyPEM []byte) {
	v.t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_12_07_03_00_%02d.%d", v.n%60, v.n)
	if err := os.Mkdir(filepath.Join(v.Dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	for name, content := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(v.Dir, ts, name), content, 0o600); err != nil {
			v.t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(v.Dir, "..data"))
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.Dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.Dir, old))
	}
}

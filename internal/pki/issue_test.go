package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, now time.Time) KeyPair {
	t.Helper()
	ca, err := NewCA("rsched-demo CA", now, DefaultCALifetime)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustLeaf(t *testing.T, ca KeyPair, names []string, now time.Time) KeyPair {
	t.Helper()
	l, err := NewLeaf(ca, names, now, DefaultLeafLifetime)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// verify is what a client does: the leaf for name at now, trusting only roots.
func verify(leaf *x509.Certificate, now time.Time, name string, roots ...*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

var names = ServiceDNSNames("demo", "team-a", "api.example.org")

func TestServiceDNSNamesAreTheServiceNamesThenTheExtras(t *testing.T) {
	want := []string{"demo", "demo.team-a", "demo.team-a.svc", "demo.team-a.svc.cluster.local", "api.example.org"}
	if !slices.Equal(names, want) {
		t.Errorf("%v", names)
	}
	if got := ServiceDNSNames("demo", "team-a", "demo.team-a", "", "x.org", "x.org"); len(got) != 5 {
		t.Errorf("repeats kept: %v", got)
	}
}

func TestCAIsAP256SelfSignedCAThatSignsLeavesOnly(t *testing.T) {
	ca := mustCA(t, t0)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: isCA=%v maxPathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage %v", c.KeyUsage)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || ca.Key.Curve.Params().Name != "P-256" || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("algorithm %v %v", c.PublicKeyAlgorithm, c.SignatureAlgorithm)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !c.NotBefore.Equal(t0.Add(-Backdate)) || !c.NotAfter.Equal(t0.Add(DefaultCALifetime)) {
		t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("no subject key identifier")
	}
	// Path length 0: a certificate it signs cannot sign another one that verifies.
	sub := ca
	sub.Cert = mustLeaf(t, ca, names, t0).Cert
	if _, err := NewLeaf(sub, names, t0, time.Hour); err == nil {
		t.Error("a leaf without its key issued a leaf")
	}
}

func TestLeafIsAServerCertificateForTheNamesAndNoMore(t *testing.T) {
	ca := mustCA(t, t0)
	leaf := mustLeaf(t, ca, names, t0)
	c := leaf.Cert
	if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("usage: isCA=%v ku=%v eku=%v", c.IsCA, c.KeyUsage, c.ExtKeyUsage)
	}
	if !slices.Equal(c.DNSNames, names) || c.Subject.CommonName != "demo" {
		t.Errorf("names %v cn %q", c.DNSNames, c.Subject.CommonName)
	}
	if !c.NotBefore.Equal(t0.Add(-Backdate)) || !c.NotAfter.Equal(t0.Add(DefaultLeafLifetime)) {
		t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
	}
	for _, n := range names {
		if err := verify(c, t0, n, ca.Cert); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if err := verify(c, t0, "other.team-a.svc", ca.Cert); err == nil {
		t.Error("verified for a name it does not carry")
	}
	// A peer whose clock is a minute behind still accepts it.
	if err := verify(c, t0.Add(-time.Minute), "demo", ca.Cert); err != nil {
		t.Errorf("clock skew: %v", err)
	}
	// It serves: the PEM pair loads in crypto/tls.
	keyPEM, err := EncodePrivateKey(leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(EncodeCertificates(c), keyPEM); err != nil {
		t.Errorf("tls.X509KeyPair: %v", err)
	}
}

func TestSerialsAre128RandomBits(t *testing.T) {
	ca := mustCA(t, t0)
	seen := map[string]bool{}
	for range 20 {
		s := mustLeaf(t, ca, names, t0).Cert.SerialNumber
		if s.Sign() <= 0 || s.BitLen() > 128 || seen[s.String()] {
			t.Fatalf("serial %v (bits %d, seen %v)", s, s.BitLen(), seen[s.String()])
		}
		seen[s.String()] = true
	}
}

func TestLeafNeverOutlivesItsCA(t *testing.T) {
	ca := mustCA(t, t0)
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	if l := mustLeaf(t, ca, names, late); !l.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf ends %v, CA %v", l.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := NewLeaf(ca, names, ca.Cert.NotAfter, DefaultLeafLifetime); err == nil {
		t.Error("issued under an expired CA")
	}
}

func TestIssuanceRefusesWhatCannotWork(t *testing.T) {
	ca := mustCA(t, t0)
	other := mustCA(t, t0)
	for name, f := range map[string]func() error{
		"leaf without names":          func() error { _, err := NewLeaf(ca, nil, t0, time.Hour); return err },
		"leaf with no lifetime":       func() error { _, err := NewLeaf(ca, names, t0, 0); return err },
		"leaf under a CA without key": func() error { _, err := NewLeaf(KeyPair{Cert: ca.Cert}, names, t0, time.Hour); return err },
		"leaf under a mismatched key": func() error {
			_, err := NewLeaf(KeyPair{Cert: ca.Cert, Key: other.Key}, names, t0, time.Hour)
			return err
		},
		"re-sign without the key":  func() error { _, err := ResignCA(KeyPair{Cert: ca.Cert}, t0, time.Hour); return err },
		"re-sign with another key": func() error { _, err := ResignCA(KeyPair{Cert: ca.Cert, Key: other.Key}, t0, time.Hour); return err },
		"CA with no lifetime":      func() error { _, err := NewCA("x", t0, 0); return err },
		"re-sign nothing":          func() error { _, err := ResignCA(KeyPair{}, t0, time.Hour); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestResignedCAKeepsEveryLeafVerifying: the CA renewal re-signs the same key, so a client that
// still holds the old CA certificate verifies a leaf issued after the renewal, and a client
// with the new one verifies a leaf issued before it.
func TestResignedCAKeepsEveryLeafVerifying(t *testing.T) {
	old := mustCA(t, t0)
	renewedAt := t0.Add(244 * 24 * time.Hour) // 2/3 of a year
	before := mustLeaf(t, old, names, renewedAt.Add(-24*time.Hour))
	renewed, err := ResignCA(old, renewedAt, DefaultCALifetime)
	if err != nil {
		t.Fatal(err)
	}
	if !KeyMatches(renewed.Cert, old.Key) || !bytes.Equal(renewed.Cert.SubjectKeyId, old.Cert.SubjectKeyId) {
		t.Fatal("the renewal changed the key")
	}
	if renewed.Cert.SerialNumber.Cmp(old.Cert.SerialNumber) == 0 || !renewed.Cert.NotAfter.Equal(renewedAt.Add(DefaultCALifetime)) {
		t.Fatalf("not a new certificate: serial %v, NotAfter %v", renewed.Cert.SerialNumber, renewed.Cert.NotAfter)
	}
	if renewed.Cert.Subject.String() != old.Cert.Subject.String() {
		t.Fatalf("subject %v, was %v", renewed.Cert.Subject, old.Cert.Subject)
	}
	after := mustLeaf(t, renewed, names, renewedAt)
	if err := verify(after.Cert, renewedAt, "demo", old.Cert); err != nil {
		t.Errorf("a client with the old CA certificate refuses the new leaf: %v", err)
	}
	if err := verify(before.Cert, renewedAt, "demo", renewed.Cert); err != nil {
		t.Errorf("a client with the renewed CA certificate refuses the old leaf: %v", err)
	}
	// After the old CA certificate's end only the renewed one verifies: clients re-read the
	// bundle long before (the renewal is a third of the CA's life early).
	afterOldEnd := old.Cert.NotAfter.Add(time.Hour)
	late := mustLeaf(t, renewed, names, afterOldEnd)
	if err := verify(late.Cert, afterOldEnd, "demo", renewed.Cert); err != nil {
		t.Errorf("renewed CA: %v", err)
	}
	if err := verify(late.Cert, afterOldEnd, "demo", old.Cert); err == nil {
		t.Error("an expired CA certificate verified")
	}
}

func TestPEMRoundTrips(t *testing.T) {
	a, b := mustCA(t, t0), mustCA(t, t0)
	certs, err := DecodeCertificates(EncodeCertificates(a.Cert, b.Cert))
	if err != nil || len(certs) != 2 || !certs[0].Equal(a.Cert) || !certs[1].Equal(b.Cert) {
		t.Fatalf("bundle: %d certs, %v", len(certs), err)
	}
	keyPEM, err := EncodePrivateKey(a.Key)
	if err != nil || !strings.HasPrefix(string(keyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("key PEM: %v", err)
	}
	k, err := DecodePrivateKey(keyPEM)
	if err != nil || !k.Equal(a.Key) || !KeyMatches(a.Cert, k) || KeyMatches(b.Cert, k) {
		t.Fatalf("key: %v", err)
	}
	sec1, _ := x509.MarshalECPrivateKey(a.Key)
	if k, err := DecodePrivateKey(pemBlock("EC PRIVATE KEY", sec1)); err != nil || !k.Equal(a.Key) {
		t.Errorf("SEC 1 key: %v", err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestPEMDecodingRefusesWhatIsNotThere(t *testing.T) {
	ca := mustCA(t, t0)
	keyPEM, _ := EncodePrivateKey(ca.Key)
	for name, data := range map[string][]byte{
		"empty":            nil,
		"garbage":          []byte("not pem"),
		"a key in a list":  append(EncodeCertificates(ca.Cert), keyPEM...),
		"broken DER":       pemBlock("CERTIFICATE", []byte{1, 2, 3}),
		"truncated bundle": EncodeCertificates(ca.Cert)[:100],
	} {
		if _, err := DecodeCertificates(data); err == nil {
			t.Errorf("certificates from %s", name)
		}
	}
	for name, data := range map[string][]byte{
		"empty":         nil,
		"a certificate": EncodeCertificates(ca.Cert),
		"broken PKCS 8": pemBlock("PRIVATE KEY", []byte{1, 2, 3}),
		"broken SEC 1":  pemBlock("EC PRIVATE KEY", []byte{1, 2, 3}),
	} {
		k, err := DecodePrivateKey(data)
		if err == nil {
			t.Errorf("key from %s", name)
		}
		if k == nil && err != nil && strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: the error quotes the data: %v", name, err)
		}
	}
}

// DecodePair keeps the key only when it is the certificate's own.
func TestDecodePairKeepsOnlyTheCertificatesOwnKey(t *testing.T) {
	a, b := mustCA(t, t0), mustCA(t, t0)
	aKey, _ := EncodePrivateKey(a.Key)
	bKey, _ := EncodePrivateKey(b.Key)
	if kp := DecodePair(EncodeCertificates(a.Cert, b.Cert), aKey); !kp.Cert.Equal(a.Cert) || kp.Key == nil || !kp.Key.Equal(a.Key) {
		t.Errorf("a's certificate (first of a bundle) with its key: %+v", kp)
	}
	if kp := DecodePair(EncodeCertificates(a.Cert), bKey); !kp.Cert.Equal(a.Cert) || kp.Key != nil {
		t.Errorf("a's certificate with b's key kept the key")
	}
	if kp := DecodePair(EncodeCertificates(a.Cert), []byte("not pem")); !kp.Cert.Equal(a.Cert) || kp.Key != nil {
		t.Errorf("a's certificate with a broken key: %+v", kp)
	}
	if kp := DecodePair([]byte("not pem"), aKey); kp.Cert != nil || kp.Key != nil {
		t.Errorf("no certificate: %+v", kp)
	}
}

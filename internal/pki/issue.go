package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Backdate is how far before the issuance time a certificate's NotBefore is set, so that a
// peer whose clock runs a little behind the operator's does not see a certificate from the future.
const Backdate = 5 * time.Minute

// KeyPair is a certificate and its private key (nil when the key is not held).
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// serialLimit is 2^128: serials are 128 random bits (RFC 5280 allows up to 20 octets; at least
// 64 bits of entropy is the CA/Browser Forum's floor).
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("serial: %w", err)
		}
		if n.Sign() > 0 { // a serial must be positive
			return n, nil
		}
	}
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return k, nil
}

// NewCA creates a CA with a fresh P-256 key: self-signed, CA:true with path length 0 (it signs
// leaves only), usable for certificate and CRL signing, valid from now-Backdate to now+lifetime.
func NewCA(commonName string, now time.Time, lifetime time.Duration) (KeyPair, error) {
	key, err := newKey()
	if err != nil {
		return KeyPair{}, err
	}
	return selfSign(pkix.Name{CommonName: commonName}, key, now, lifetime)
}

// ResignCA renews a CA by re-signing its own key: a new certificate (new serial, new validity)
// with the same subject and the same public key, hence the same subject key identifier. A leaf
// issued under the old certificate verifies against the new one and the reverse, so nothing
// changes for a client: this is how the CA is renewed whenever its key is held.
func ResignCA(ca KeyPair, now time.Time, lifetime time.Duration) (KeyPair, error) {
	if err := checkPair(ca); err != nil {
		return KeyPair{}, fmt.Errorf("re-sign CA: %w", err)
	}
	return selfSign(ca.Cert.Subject, ca.Key, now, lifetime)
}

func selfSign(subject pkix.Name, key *ecdsa.PrivateKey, now time.Time, lifetime time.Duration) (KeyPair, error) {
	if lifetime <= 0 {
		return KeyPair{}, errors.New("CA lifetime must be positive")
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(lifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return create(tmpl, tmpl, &key.PublicKey, key, key)
}

// NewLeaf issues a serving certificate under ca for dnsNames with a fresh P-256 key: server
// authentication only, valid from now-Backdate to now+lifetime, and never past the CA
// certificate's own NotAfter (a leaf cannot outlive what verifies it).
func NewLeaf(ca KeyPair, dnsNames []string, now time.Time, lifetime time.Duration) (KeyPair, error) {
	if err := checkPair(ca); err != nil {
		return KeyPair{}, fmt.Errorf("issue leaf: %w", err)
	}
	if len(dnsNames) == 0 {
		return KeyPair{}, errors.New("issue leaf: no DNS names")
	}
	if lifetime <= 0 {
		return KeyPair{}, errors.New("issue leaf: lifetime must be positive")
	}
	notAfter := now.Add(lifetime)
	if ca.Cert.NotAfter.Before(notAfter) {
		notAfter = ca.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return KeyPair{}, errors.New("issue leaf: the CA certificate has expired")
	}
	key, err := newKey()
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		DNSNames:              slices.Clone(dnsNames),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if len(dnsNames[0]) <= 64 { // the X.520 bound of a common name; the SANs are what count
		tmpl.Subject = pkix.Name{CommonName: dnsNames[0]}
	}
	return create(tmpl, ca.Cert, &key.PublicKey, ca.Key, key)
}

func create(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer, key *ecdsa.PrivateKey) (KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return KeyPair{}, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, fmt.Errorf("parse created certificate: %w", err)
	}
	return KeyPair{Cert: cert, Key: key}, nil
}

func checkPair(p KeyPair) error {
	switch {
	case p.Cert == nil:
		return errors.New("no certificate")
	case p.Key == nil:
		return errors.New("no private key")
	case !KeyMatches(p.Cert, p.Key):
		return errors.New("the private key does not match the certificate")
	}
	return nil
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key *ecdsa.PrivateKey) bool {
	if cert == nil || key == nil {
		return false
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(&key.PublicKey)
}

// ServiceDNSNames are the names a client inside the cluster may use for the Service name in
// namespace ns, followed by extra (spec.tls.dnsNames), without repeats, in that order.
func ServiceDNSNames(name, ns string, extra ...string) []string {
	names := []string{name, name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"}
	for _, e := range extra {
		if e != "" && !slices.Contains(names, e) {
			names = append(names, e)
		}
	}
	return names
}

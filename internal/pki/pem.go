package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// EncodeCertificates is the PEM form of certs, in order (tls.crt, ca.crt, the trust bundle).
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// DecodeCertificates parses every CERTIFICATE block of data. Data with no certificate, or with
// a block of another type or that does not parse, is an error: a bundle is never half read.
func DecodeCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q in a certificate list", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// EncodePrivateKey is the PKCS #8 PEM form of key ("PRIVATE KEY", what tls.X509KeyPair reads).
func EncodePrivateKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// DecodePrivateKey reads an ECDSA key from its first PEM block, PKCS #8 or SEC 1 ("EC PRIVATE
// KEY"). Errors never quote the data.
func DecodePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, errors.New("malformed EC private key")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKCS #8 private key")
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is %T, want ECDSA", k)
		}
		return ec, nil
	}
	return nil, fmt.Errorf("unexpected PEM block %q for a private key", b.Type)
}

// DecodePair is the first certificate of certPEM with its key, the key only when keyPEM holds the
// certificate's own private key: a pair read from a Secret someone edited is never half trusted.
// The zero KeyPair when certPEM holds no certificate.
func DecodePair(certPEM, keyPEM []byte) KeyPair {
	certs, err := DecodeCertificates(certPEM)
	if err != nil {
		return KeyPair{}
	}
	kp := KeyPair{Cert: certs[0]}
	if key, err := DecodePrivateKey(keyPEM); err == nil && KeyMatches(kp.Cert, key) {
		kp.Key = key
	}
	return kp
}

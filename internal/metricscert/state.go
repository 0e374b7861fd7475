package metricscert

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/rsched/rsched/internal/pki"
)

// Keys of the Secret and the ConfigMap.
const (
	CACertKey  = "ca.crt"
	CAKeyKey   = "ca.key"
	TLSCertKey = "tls.crt"
	TLSKeyKey  = "tls.key"
	BundleKey  = "ca.crt"
)

// state is what the two objects hold, decoded. A CA certificate without its key counts as no CA
// (see the package comment); a leaf without its key is a leaf the chain re-issues.
type state struct {
	ca, leaf pki.KeyPair
	bundle   []*x509.Certificate
}

// object says which of the two objects an action changed.
type object int

const (
	theSecret object = iota
	theConfigMap
)

// decode reads the Secret's data and the ConfigMap's ca.crt. Nothing that fails to parse is an
// error: it is absent, and the chain issues or publishes again.
func decode(secret map[string][]byte, bundle string) state {
	st := state{ca: pki.DecodePair(secret[CACertKey], secret[CAKeyKey]), leaf: pki.DecodePair(secret[TLSCertKey], secret[TLSKeyKey])}
	if st.ca.Key == nil {
		st.ca = pki.KeyPair{}
	}
	st.bundle, _ = pki.DecodeCertificates([]byte(bundle))
	return st
}

// secretData is the Secret's data for st.
func (st state) secretData() (map[string][]byte, error) {
	data := map[string][]byte{}
	for _, p := range []struct {
		kp               pki.KeyPair
		certKey, keyName string
	}{{st.ca, CACertKey, CAKeyKey}, {st.leaf, TLSCertKey, TLSKeyKey}} {
		if p.kp.Cert == nil || p.kp.Key == nil {
			continue
		}
		key, err := pki.EncodePrivateKey(p.kp.Key)
		if err != nil {
			return nil, err
		}
		data[p.certKey], data[p.keyName] = pki.EncodeCertificates(p.kp.Cert), key
	}
	return data, nil
}

// input is what pki.Decide needs. There is never a replacement in progress and never a request.
func (st state) input(p Policy, now time.Time) pki.Input {
	return pki.Input{
		Now: now, Policy: p.pki(),
		CA: st.ca.Cert, CAKeyPresent: st.ca.Key != nil,
		Leaf: st.leaf.Cert, LeafKeyPresent: st.leaf.Cert != nil && st.leaf.Key != nil,
		DNSNames: p.DNSNames, Bundle: st.bundle,
	}
}

// Policy is what the certificates must be.
type Policy struct {
	// DNSNames are the metrics Service's names (pki.ServiceDNSNames).
	DNSNames []string
	// CALifetime and LeafLifetime: zero takes internal/pki's defaults for the CA (a year) and
	// DefaultLeafLifetime for the leaf.
	CALifetime, LeafLifetime time.Duration
	// CommonName is the CA's subject.
	CommonName string
}

// DefaultLeafLifetime is the metrics leaf's lifetime: short, since renewing it costs nothing.
const DefaultLeafLifetime = 7 * 24 * time.Hour

func (p Policy) pki() pki.Policy {
	leaf := p.LeafLifetime
	if leaf <= 0 {
		leaf = DefaultLeafLifetime
	}
	return pki.Policy{CALifetime: p.CALifetime, LeafLifetime: leaf}.WithDefaults()
}

// apply performs d on st in memory and says which object to write. The order internal/pki
// documents follows from the chain: a new CA is written, then published, then signs a leaf.
func apply(st *state, d pki.Decision, p Policy, now time.Time) (object, error) {
	pp := p.pki()
	var err error
	switch d.Action {
	case pki.IssueCA, pki.StartCAReplacement:
		// StartCAReplacement needs a CA without its key, which decode never yields; were it
		// asked for, a new CA is what this package does instead (the package comment says why).
		st.ca, err = pki.NewCA(p.CommonName, now, pp.CALifetime)
		return theSecret, err
	case pki.RenewCA:
		st.ca, err = pki.ResignCA(st.ca, now, pp.CALifetime)
		return theSecret, err
	case pki.PublishBundle:
		st.bundle = []*x509.Certificate{st.ca.Cert}
		return theConfigMap, nil
	case pki.IssueLeaf, pki.ReissueLeaf, pki.RenewLeaf:
		st.leaf, err = pki.NewLeaf(st.ca, p.DNSNames, now, pp.LeafLifetime)
		return theSecret, err
	}
	return theSecret, fmt.Errorf("certificate action %q has no meaning for the metrics certificate", d.Action)
}

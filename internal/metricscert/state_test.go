package metricscert

import (
	"bytes"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/pki"
)

var testPolicy = Policy{DNSNames: pki.ServiceDNSNames("rsched-manager-metrics", "rsched-system"), CommonName: "test metrics CA"}

// stored is the two objects as persisted: the Secret's data and the ConfigMap's ca.crt.
type stored struct {
	secret map[string][]byte
	bundle string
}

// converge is Sync without the API server: decode what is stored, decide, act, store, until the
// chain says wait.
func converge(t *testing.T, s *stored, p Policy, now time.Time) ([]pki.Action, pki.Decision) {
	t.Helper()
	var done []pki.Action
	for range maxRounds {
		st := decode(s.secret, s.bundle)
		d := pki.Decide(st.input(p, now))
		if d.Action == pki.Nothing {
			return done, d
		}
		which, err := apply(&st, d, p, now)
		if err != nil {
			t.Fatalf("%v: %s: %v", now, d.Action, err)
		}
		switch which {
		case theSecret:
			if s.secret, err = st.secretData(); err != nil {
				t.Fatal(err)
			}
		case theConfigMap:
			s.bundle = string(pki.EncodeCertificates(st.bundle...))
		}
		done = append(done, d.Action)
	}
	t.Fatalf("%v: no settlement after %d rounds: %v", now, maxRounds, done)
	return nil, pki.Decision{}
}

func verifyAgainst(t *testing.T, leafPEM []byte, bundle string, now time.Time) {
	t.Helper()
	leaf, err := pki.DecodeCertificates(leafPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(bundle)) {
		t.Fatal("the bundle holds no certificate")
	}
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "rsched-manager-metrics.rsched-system.svc", CurrentTime: now}); err != nil {
		t.Fatalf("%v: the leaf does not verify: %v", now, err)
	}
}

// TestMetricsCertificateOverThreeYearsWithAFakeClock runs the decisions over three years of a
// clock that jumps from one due point to the next: the first start issues the CA, publishes it
// and issues the leaf; every leaf is renewed at 2/3 of its life and never seen expired; the CA is
// re-signed with the same key before it expires, so a scraper that read the ConfigMap at any
// earlier step still verifies every new leaf; and a restart at any point (decoding what is
// stored) decides nothing.
func TestMetricsCertificateOverThreeYearsWithAFakeClock(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	s := &stored{}
	done, d := converge(t, s, testPolicy, now)
	if !slices.Equal(done, []pki.Action{pki.IssueCA, pki.PublishBundle, pki.IssueLeaf}) {
		t.Fatalf("first start: %v", done)
	}
	firstCA := decode(s.secret, s.bundle).ca
	end := now.Add(3 * 365 * 24 * time.Hour)
	var leafRenewals, caRenewals int
	for now.Before(end) {
		if d.After <= 0 {
			t.Fatalf("%v: waiting %v", now, d.After)
		}
		oldBundle, old := s.bundle, decode(s.secret, s.bundle)
		now = now.Add(d.After)
		done, d = converge(t, s, testPolicy, now)
		st := decode(s.secret, s.bundle)
		for _, a := range done {
			switch a {
			case pki.RenewLeaf:
				leafRenewals++
				life := old.leaf.Cert.NotAfter.Sub(old.leaf.Cert.NotBefore)
				if now.Before(old.leaf.Cert.NotBefore.Add(life*2/3)) || !now.Before(old.leaf.Cert.NotAfter) {
					t.Fatalf("%v: leaf renewed outside [2/3 of its life, expiry): %v..%v", now, old.leaf.Cert.NotBefore, old.leaf.Cert.NotAfter)
				}
			case pki.RenewCA:
				caRenewals++
				if !now.Before(old.ca.Cert.NotAfter) {
					t.Fatalf("%v: CA renewed after it expired (%v)", now, old.ca.Cert.NotAfter)
				}
			case pki.PublishBundle:
			default:
				t.Fatalf("%v: unexpected action %s in %v", now, a, done)
			}
		}
		if !st.ca.Key.Equal(firstCA.Key) || !bytes.Equal(st.ca.Cert.RawSubjectPublicKeyInfo, firstCA.Cert.RawSubjectPublicKeyInfo) {
			t.Fatalf("%v: the CA key changed", now)
		}
		verifyAgainst(t, s.secret[TLSCertKey], s.bundle, now)
		verifyAgainst(t, s.secret[TLSCertKey], oldBundle, now) // a scraper that has not re-read the ConfigMap
		if again, _ := converge(t, s, testPolicy, now); len(again) != 0 {
			t.Fatalf("%v: a restart acted: %v", now, again)
		}
	}
	t.Logf("three years: %d leaf renewals, %d CA renewals", leafRenewals, caRenewals)
	// 7-day leaves renewed at 2/3 of 7 days and 5 minutes: about 234 in three years; the CA
	// (a year) re-signed at about 8 and 16 months, then again at about 2 years.
	if leafRenewals < 200 || caRenewals < 3 {
		t.Errorf("three years: %d leaf renewals, %d CA renewals", leafRenewals, caRenewals)
	}
}

// TestDecodeTreatsADamagedSecretAsAbsent: a CA without its key, or with a key that is not its
// pair, is no CA (a new one is issued, since nothing here can re-sign it); an unparsable leaf is
// no leaf; an unparsable bundle is published again.
func TestDecodeTreatsADamagedSecretAsAbsent(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	good := &stored{}
	converge(t, good, testPolicy, now)
	other := &stored{}
	converge(t, other, testPolicy, now)
	with := func(key string, v []byte) map[string][]byte {
		m := map[string][]byte{}
		for k, d := range good.secret {
			m[k] = d
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		return m
	}
	for _, c := range []struct {
		name   string
		secret map[string][]byte
		bundle string
		want   []pki.Action
	}{
		{"intact", good.secret, good.bundle, nil},
		{"CA key gone", with(CAKeyKey, nil), good.bundle, []pki.Action{pki.IssueCA, pki.PublishBundle, pki.ReissueLeaf}},
		{"CA key of another CA", with(CAKeyKey, other.secret[CAKeyKey]), good.bundle, []pki.Action{pki.IssueCA, pki.PublishBundle, pki.ReissueLeaf}},
		{"leaf key gone", with(TLSKeyKey, nil), good.bundle, []pki.Action{pki.ReissueLeaf}},
		{"leaf garbage", with(TLSCertKey, []byte("not PEM")), good.bundle, []pki.Action{pki.IssueLeaf}},
		{"bundle garbage", good.secret, "not PEM", []pki.Action{pki.PublishBundle}},
		{"bundle of another CA", good.secret, other.bundle, []pki.Action{pki.PublishBundle}},
		{"nothing", nil, "", []pki.Action{pki.IssueCA, pki.PublishBundle, pki.IssueLeaf}},
	} {
		s := &stored{secret: c.secret, bundle: c.bundle}
		if got, _ := converge(t, s, testPolicy, now); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		verifyAgainst(t, s.secret[TLSCertKey], s.bundle, now)
		if bytes.Contains([]byte(s.bundle), []byte("PRIVATE KEY")) {
			t.Errorf("%s: the published bundle holds a private key", c.name)
		}
	}
}

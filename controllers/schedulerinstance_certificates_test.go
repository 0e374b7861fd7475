package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/rsched/rsched/internal/pki"
)

// checkServingPair is what a Secret of tls.secretRef (or cert-manager's) must pass before the pods
// mount it and its ca.crt is published: each refusal names what is wrong, never the content.
func TestCheckServingPair(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("user CA", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pki.NewCA("other CA", now, 24*time.Hour)
	const host = "sched.team.svc"
	pair := func(names ...string) map[string][]byte {
		leaf, err := pki.NewLeaf(ca, names, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := pki.EncodePrivateKey(leaf.Key)
		return map[string][]byte{"tls.crt": pki.EncodeCertificates(leaf.Cert), "tls.key": key}
	}
	with := func(d map[string][]byte, k string, v []byte) map[string][]byte { d[k] = v; return d }
	otherKey, _ := pki.EncodePrivateKey(other.Key)
	for name, tt := range map[string]struct {
		data map[string][]byte
		at   time.Time
		want string
	}{
		"valid, no ca.crt":           {pair(host), now, ""},
		"valid, its CA":              {with(pair(host), "ca.crt", pki.EncodeCertificates(ca.Cert)), now, ""},
		"a ca.crt that did not sign": {with(pair(host), "ca.crt", pki.EncodeCertificates(other.Cert)), now, "has a ca.crt that does not verify its certificate for sched.team.svc"},
		"not for the Service":        {pair("elsewhere.example.org"), now, "holds a certificate that does not name sched.team.svc"},
		"expired":                    {pair(host), now.Add(2 * time.Hour), "holds an expired certificate"},
		"key of another certificate": {with(pair(host), "tls.key", otherKey), now, "does not hold a certificate and its private key in PEM (tls.crt, tls.key)"},
		"no key":                     {map[string][]byte{"tls.crt": pair(host)["tls.crt"]}, now, "needs the keys tls.crt and tls.key"},
	} {
		_, got := checkServingPair(&corev1.Secret{Data: tt.data}, host, tt.at)
		if got != tt.want {
			t.Errorf("%s: %q, want %q", name, got, tt.want)
		}
	}
}

package secretsync

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

// clientPair is a client certificate signed by ca, and its key, in PEM.
func clientPair(t *testing.T, ca pki.KeyPair, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = pki.EncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
}

// TestDatabaseTLSFromVaultIsCheckedBeforeItIsWritten: what caVault and clientCertVault read is
// used only if the server could use it (a CA bundle with a CA certificate; a PEM certificate with
// its own unencrypted key); otherwise the sentence names the field, the Vault secret and the key,
// and carries no part of any value.
func TestDatabaseTLSFromVaultIsCheckedBeforeItIsWritten(t *testing.T) {
	ca, err := pki.NewCA("database CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pki.EncodeCertificates(ca.Cert)
	cert, key := clientPair(t, ca, "rsched")
	otherCert, otherKey := clientPair(t, ca, "someone-else")
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("VAULT-CANARY-not-a-key")})
	both := &rschedv1.SchedulerInstance{}
	both.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{
		CAVault:         &rschedv1.VaultKVRef{Path: "rsched/db-tls", Key: "ca.pem"},
		ClientCertVault: &rschedv1.VaultKVCertificateRef{Mount: "kv", Path: "rsched/db-client", CertificateKey: "certificate", PrivateKeyKey: "private_key"},
	}
	data := func(ca, crt, key []byte) map[string][]byte {
		return map[string][]byte{"ca.crt": ca, "tls.crt": crt, "tls.key": key}
	}
	const caField = "spec.database.tls.caVault: in the Vault secret secret/rsched/db-tls, key ca.pem "
	const certField = "spec.database.tls.clientCertVault: in the Vault secret kv/rsched/db-client, "
	cases := []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"usable", data(caPEM, cert, key), ""},
		{"a bundle of a leaf and the CA", data(append(append([]byte{}, cert...), caPEM...), cert, key), ""},
		{"a certificate chain after the client certificate", data(caPEM, append(append([]byte{}, cert...), caPEM...), key), ""},
		{"CA not PEM", data([]byte("VAULT-CANARY-garbage"), cert, key), caField + "is not a list of PEM certificates"},
		{"CA empty", data(nil, cert, key), caField + "is not a list of PEM certificates"},
		{"CA bundle holding a key", data(append(append([]byte{}, caPEM...), key...), cert, key), caField + "is not a list of PEM certificates"},
		{"CA bundle of leaves only", data(otherCert, cert, key), caField + "holds no CA certificate"},
		{"certificate not PEM", data(caPEM, []byte("VAULT-CANARY-garbage"), key), certField + "key certificate is not a list of PEM certificates"},
		{"key not PEM", data(caPEM, cert, []byte("VAULT-CANARY-garbage")), certField + "key private_key is not an unencrypted PEM private key"},
		{"key encrypted", data(caPEM, cert, encrypted), certField + "key private_key is not an unencrypted PEM private key"},
		{"key of another certificate", data(caPEM, cert, otherKey), certField + "key private_key is not the private key of the certificate in key certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := databaseTLSProblem(both, tc.data)
			if got != tc.want {
				t.Fatalf("problem %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "CANARY") || strings.Contains(got, "BEGIN") || strings.Contains(got, "MII") {
				t.Fatalf("the sentence carries part of a value: %q", got)
			}
		})
	}
	// Only the sources that are set are checked: a CA alone needs no client certificate.
	caOnly := &rschedv1.SchedulerInstance{}
	caOnly.Spec.Database.TLS.CAVault = &rschedv1.VaultKVRef{Path: "p", Key: "ca.crt"}
	if got := databaseTLSProblem(caOnly, map[string][]byte{"ca.crt": caPEM}); got != "" {
		t.Fatalf("CA alone: %q", got)
	}
}

// TestARefusedDatabaseTLSValueWritesNothing drives Sync against the real API server and Vault: a
// first value that cannot be used writes no Secret at all (not even the database URL's) and leaves
// LastGood false, so the reconciler rolls no pod template that mounts the missing Secret; once
// fixed it is written, uncounted; a later refused value is a counted failure with the Vault
// backoff that keeps it; removing the Vault sources deletes it.
func TestARefusedDatabaseTLSValueWritesNothing(t *testing.T) {
	ctx := context.Background()
	v := testenv.StartVault(t)
	si := vaultInstance(t, v, "sync-dbtls")
	si.Spec.Database.TLS.CAVault = &rschedv1.VaultKVRef{Path: "rsched/db-tls", Key: "ca.crt"}
	put := func(ca string) {
		t.Helper()
		if _, err := v.Client.KVv2("secret").Put(ctx, "rsched/db-tls", map[string]any{"ca.crt": ca}); err != nil {
			t.Fatal(err)
		}
	}
	var ev events
	s := &Syncer{Cache: kube.Client, APIReader: kube.Client, Vault: vault.NewFactory(nil, prometheus.NewRegistry()),
		Writer: secretWriter{kube.Client}, Event: ev.record}
	owned := func(name string) (*corev1.Secret, bool) {
		sec := &corev1.Secret{}
		err := kube.Client.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: name}, sec)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return sec, err == nil
	}
	now := time.Now().Truncate(time.Second)

	put("VAULT-CANARY-not-a-certificate")
	res, err := s.Sync(ctx, si, now)
	kind, o := outcome.Of(err)
	if kind != outcome.Failed || o.Reason != rschedv1.ReasonInvalidDatabaseTLS || res.Failures != 1 || res.LastGood || o.After != 5*time.Second {
		t.Fatalf("a refused first value: %+v, %v %+v", res, kind, o)
	}
	for _, name := range []string{"si-database", "si-database-tls"} {
		if _, ok := owned(name); ok {
			t.Fatalf("%s was written although the database TLS value was refused", name)
		}
	}
	if len(ev) != 1 || strings.Contains(ev[0], "CANARY") || !strings.HasPrefix(ev[0], "Warning InvalidDatabaseTLS: spec.database.tls.caVault: ") {
		t.Fatalf("events %q", ev)
	}
	applyStatus(si, res, err, now)

	ca, err := pki.NewCA("database CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := pki.EncodeCertificates(ca.Cert)
	put(string(good))
	si.Generation++ // a spec change: read at once, inside the backoff
	res, err = s.Sync(ctx, si, now.Add(time.Second))
	if err != nil || !res.Synced || !res.LastGood {
		t.Fatalf("the fixed value: %+v, %v", res, err)
	}
	applyStatus(si, res, err, now.Add(time.Second))
	sec, ok := owned("si-database-tls")
	if !ok || len(sec.Data) != 1 || !bytes.Equal(sec.Data["ca.crt"], good) || sec.Annotations[builders.RevisionAnnotation] != "" || !metav1.IsControlledBy(sec, si) {
		t.Fatalf("database TLS Secret %v: %v %v %v", ok, sec.Data, sec.Annotations, sec.OwnerReferences)
	}

	put("VAULT-CANARY-not-a-certificate")
	si.Generation++
	res, err = s.Sync(ctx, si, now.Add(2*time.Second))
	if kind, o := outcome.Of(err); kind != outcome.Failed || o.Reason != rschedv1.ReasonInvalidDatabaseTLS || res.Failures != 1 || !res.LastGood || !res.Stale {
		t.Fatalf("a refused later value: %+v, %v %+v", res, kind, o)
	}
	if sec, _ := owned("si-database-tls"); !bytes.Equal(sec.Data["ca.crt"], good) {
		t.Fatal("the last good database TLS Secret did not stay")
	}
	applyStatus(si, res, err, now.Add(2*time.Second))
	// Inside the backoff nothing is read, and the last good Secrets still count as in place.
	res, err = s.Sync(ctx, si, now.Add(4*time.Second))
	if kind, _ := outcome.Of(err); kind != outcome.Wait || res.Action != InBackoff || !res.LastGood {
		t.Fatalf("inside the backoff: %+v, %v", res, kind)
	}

	// No Vault source any more: the Secret goes with the next read.
	si.Spec.Database.TLS.CAVault = nil
	si.Generation++
	if res, err := s.Sync(ctx, si, now.Add(5*time.Second)); err != nil || !res.Synced {
		t.Fatalf("without the Vault source: %+v, %v", res, err)
	}
	if _, ok := owned("si-database-tls"); ok {
		t.Fatal("the database TLS Secret lingers after its sources were removed")
	}
}

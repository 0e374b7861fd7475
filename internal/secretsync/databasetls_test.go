package secretsync

import (
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

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/pki"
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
			got := DatabaseTLSProblem(both, tc.data)
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
	if got := DatabaseTLSProblem(caOnly, map[string][]byte{"ca.crt": caPEM}); got != "" {
		t.Fatalf("CA alone: %q", got)
	}
}

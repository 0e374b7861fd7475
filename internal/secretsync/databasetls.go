package secretsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/secretsource"
	"github.com/rsched/rsched/internal/vault"
)

// wantsDatabaseTLS: spec.database.tls reads its CA or client certificate from Vault, so the
// instance has a database TLS Secret.
func wantsDatabaseTLS(si *rschedv1.SchedulerInstance) bool {
	t := si.Spec.Database.TLS
	return t.CAVault != nil || t.ClientCertVault != nil
}

// readDatabaseTLS reads spec.database.tls's Vault sources into the data of the instance's database
// TLS Secret (ca.crt; tls.crt and tls.key), checked as the server would check the files: nil when
// neither source is set. A read that fails is a Vault failure; a value that cannot be used is
// InvalidDatabaseTLS, counted and backed off like one, so that nothing unusable is ever written.
func readDatabaseTLS(ctx context.Context, si *rschedv1.SchedulerInstance, vc *vault.Client) (map[string][]byte, error) {
	if !wantsDatabaseTLS(si) {
		return nil, nil
	}
	if vc == nil {
		return nil, outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonVaultNotConfigured, "spec.database.tls.caVault and clientCertVault need spec.vault", 0)
	}
	t := si.Spec.Database.TLS
	data := map[string][]byte{}
	if ref := t.CAVault; ref != nil {
		v, _, err := vc.ReadKVKey(ctx, ref.Mount, ref.Path, ref.Key)
		if err != nil {
			return nil, secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, fmt.Errorf("database CA at %s/%s: %w", orDefault(ref.Mount, "secret"), ref.Path, err))
		}
		data[builders.DatabaseCAFile] = []byte(v)
	}
	if ref := t.ClientCertVault; ref != nil {
		kv, err := vc.ReadKV(ctx, ref.Mount, ref.Path)
		if err == nil {
			err = copyKeys(data, kv.Data, map[string]string{
				corev1.TLSCertKey:       orDefault(ref.CertificateKey, corev1.TLSCertKey),
				corev1.TLSPrivateKeyKey: orDefault(ref.PrivateKeyKey, corev1.TLSPrivateKeyKey),
			})
		}
		if err != nil {
			return nil, secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, fmt.Errorf("database client certificate at %s/%s: %w", orDefault(ref.Mount, "secret"), ref.Path, err))
		}
	}
	if msg := databaseTLSProblem(si, data); msg != "" {
		// No cause: what the parsers say is never passed on, so no part of a value can reach a log.
		return nil, outcome.FailedWith(rschedv1.ConditionSecretsSynced, rschedv1.ReasonInvalidDatabaseTLS, msg, nil)
	}
	return data, nil
}

// copyKeys copies from's keys (the values of keys) into to under keys' keys; a missing or empty
// one is vault.ErrKeyMissing.
func copyKeys(to map[string][]byte, from map[string]string, keys map[string]string) error {
	for dst, src := range keys {
		if from[src] == "" {
			return vault.ErrKeyMissing
		}
		to[dst] = []byte(from[src])
	}
	return nil
}

// databaseTLSProblem is why the database TLS Secret's data read from si's Vault sources cannot be
// used, or "" when it can: a CA bundle must be PEM certificates of which at least one is a CA, a
// client certificate PEM with its unencrypted PEM private key, the pair matching. The sentence
// names the field and the Vault location, never any part of a value.
func databaseTLSProblem(si *rschedv1.SchedulerInstance, data map[string][]byte) string {
	t := si.Spec.Database.TLS
	if ref := t.CAVault; ref != nil {
		if p := caBundleProblem(data[builders.DatabaseCAFile]); p != "" {
			return fmt.Sprintf("spec.database.tls.caVault: in the Vault secret %s/%s, key %s %s", orDefault(ref.Mount, "secret"), ref.Path, ref.Key, p)
		}
	}
	if ref := t.ClientCertVault; ref != nil {
		certKey, keyKey := orDefault(ref.CertificateKey, corev1.TLSCertKey), orDefault(ref.PrivateKeyKey, corev1.TLSPrivateKeyKey)
		if p := clientPairProblem(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey], certKey, keyKey); p != "" {
			return fmt.Sprintf("spec.database.tls.clientCertVault: in the Vault secret %s/%s, %s", orDefault(ref.Mount, "secret"), ref.Path, p)
		}
	}
	return ""
}

func caBundleProblem(bundle []byte) string {
	certs, err := pki.DecodeCertificates(bundle)
	if err != nil {
		return "is not a list of PEM certificates"
	}
	for _, c := range certs {
		if c.BasicConstraintsValid && c.IsCA {
			return ""
		}
	}
	return "holds no CA certificate"
}

func clientPairProblem(cert, key []byte, certKey, keyKey string) string {
	switch {
	case !decodes(cert):
		return fmt.Sprintf("key %s is not a list of PEM certificates", certKey)
	case !parsesAsPrivateKey(key):
		return fmt.Sprintf("key %s is not an unencrypted PEM private key", keyKey)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Sprintf("key %s is not the private key of the certificate in key %s", keyKey, certKey)
	}
	return ""
}

func decodes(certs []byte) bool {
	_, err := pki.DecodeCertificates(certs)
	return err == nil
}

// parsesAsPrivateKey: key is one PEM block of a private key in a form tls.X509KeyPair reads
// (PKCS #8, PKCS #1 RSA or SEC 1 EC), unencrypted.
func parsesAsPrivateKey(key []byte) bool {
	b, _ := pem.Decode(key)
	if b == nil {
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(b.Bytes)
	return err == nil
}

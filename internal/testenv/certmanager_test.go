package testenv_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/internal/testenv"
)

// cmObject is an unstructured cert-manager.io/v1 object.
func cmObject(kind, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(testenv.CertManagerGVK(kind))
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// waitCMReady waits until the controller reports the object Ready and returns it as last read.
func waitCMReady(t *testing.T, c client.Client, obj *unstructured.Unstructured, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	return waitCM(t, c, obj, timeout, "Ready", func(u *unstructured.Unstructured) bool { return testenv.CertManagerConditionTrue(u, "Ready") })
}

// waitIssued waits until a Certificate is Ready at status.revision revision and no longer
// Issuing: the readiness controller may mark it Ready from the new Secret a moment before the
// issuing controller records the revision.
func waitIssued(t *testing.T, c client.Client, crt *unstructured.Unstructured, revision int64, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	return waitCM(t, c, crt, timeout, fmt.Sprintf("Ready at revision %d", revision), func(u *unstructured.Unstructured) bool {
		rev, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
		return rev == revision && testenv.CertManagerConditionTrue(u, "Ready") && !testenv.CertManagerConditionTrue(u, "Issuing")
	})
}

func waitCM(t *testing.T, c client.Client, obj *unstructured.Unstructured, timeout time.Duration, what string, done func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(obj.GroupVersionKind())
	testenv.Eventually(t, timeout, obj.GetKind()+" "+obj.GetName()+" "+what, func() (bool, string) {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			return false, err.Error()
		}
		st, _, _ := unstructured.NestedMap(got.Object, "status")
		return done(got), fmt.Sprint(st)
	})
	return got
}

// tlsSecret reads a kubernetes.io/tls Secret and parses its leaf certificate.
func tlsSecret(t *testing.T, c client.Client, namespace, name string) (*corev1.Secret, *x509.Certificate) {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("Secret %s/%s: %v", namespace, name, err)
	}
	if s.Type != corev1.SecretTypeTLS {
		t.Fatalf("Secret %s/%s has type %q, want %q", namespace, name, s.Type, corev1.SecretTypeTLS)
	}
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("Secret %s/%s: tls.crt holds no PEM certificate", namespace, name)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("Secret %s/%s: tls.crt: %v", namespace, name, err)
	}
	if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
		t.Fatalf("Secret %s/%s: tls.key does not match tls.crt: %v", namespace, name, err)
	}
	return s, leaf
}

// verifyServing checks that leaf is an ECDSA P-256 server certificate for every one of dnsNames
// (and for no other name) chaining to the CA certificates in caPEM.
func verifyServing(t *testing.T, leaf *x509.Certificate, caPEM []byte, dnsNames []string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA's ca.crt holds no certificate")
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("serving key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	got := slices.Clone(leaf.DNSNames)
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(dnsNames)); !slices.Equal(got, want) {
		t.Errorf("DNS names = %v, want %v", got, want)
	}
	for _, name := range dnsNames {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s against the CA: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "rsched-other.example", Roots: roots}); err == nil {
		t.Error("the certificate verified for a name it was not issued for")
	}
}

// TestCertManagerIssuesAndRenewsAServingCertificateFromACA runs cert-manager's real controller on
// envtest: a self-signed Issuer signs a CA Certificate, a CA Issuer on that CA signs an ECDSA P-256
// serving Certificate, and a re-issuance triggered as `cmctl renew` triggers it (the Issuing
// condition added to the Certificate's status) gives a new serial that verifies as well.
func TestCertManagerIssuesAndRenewsAServingCertificateFromACA(t *testing.T) {
	k := testenv.StartKube(t)
	start := time.Now()
	testenv.StartCertManager(t, k)
	t.Logf("cert-manager controller working %.1fs after its start", time.Since(start).Seconds())
	c, ctx := k.Client, context.Background()
	const ns = "rsched-certs"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	create := func(obj *unstructured.Unstructured) *unstructured.Unstructured {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		return obj
	}
	issuerRef := func(name string) map[string]any {
		return map[string]any{"name": name, "kind": "Issuer", "group": "cert-manager.io"}
	}
	ecdsaP256 := map[string]any{"algorithm": "ECDSA", "size": int64(256)}

	issued := time.Now()
	waitCMReady(t, c, create(cmObject("Issuer", ns, "selfsigned", map[string]any{"selfSigned": map[string]any{}})), 30*time.Second)
	waitCMReady(t, c, create(cmObject("Certificate", ns, "rsched-ca", map[string]any{
		"isCA": true, "commonName": "rsched test CA", "secretName": "rsched-ca",
		"privateKey": ecdsaP256, "issuerRef": issuerRef("selfsigned"),
	})), 60*time.Second)
	waitCMReady(t, c, create(cmObject("Issuer", ns, "rsched-ca", map[string]any{"ca": map[string]any{"secretName": "rsched-ca"}})), 30*time.Second)
	dnsNames := []string{"rsched-api.rsched.svc", "rsched-api.rsched.svc.cluster.local"}
	serving := waitIssued(t, c, create(cmObject("Certificate", ns, "rsched-api", map[string]any{
		"secretName": "rsched-api-tls", "dnsNames": []any{dnsNames[0], dnsNames[1]},
		"privateKey": ecdsaP256, "usages": []any{"server auth", "digital signature"}, "issuerRef": issuerRef("rsched-ca"),
	})), 1, 60*time.Second)
	t.Logf("CA and serving certificate issued in %.1fs", time.Since(issued).Seconds())

	caSecret, caCert := tlsSecret(t, c, ns, "rsched-ca")
	if !caCert.IsCA {
		t.Fatal("the CA Certificate's certificate is not a CA")
	}
	secret, leaf := tlsSecret(t, c, ns, "rsched-api-tls")
	if got, want := string(secret.Data["ca.crt"]), string(caSecret.Data["ca.crt"]); got != want || want == "" {
		t.Errorf("the serving Secret's ca.crt is not the CA's (%d vs %d bytes)", len(got), len(want))
	}
	verifyServing(t, leaf, caSecret.Data["ca.crt"], dnsNames)

	// Renew as `cmctl renew` does: the Issuing condition, set True on the status subresource,
	// makes the controller issue again at once.
	renewed := time.Now()
	testenv.Eventually(t, 10*time.Second, "adding the Issuing condition", func() (bool, string) {
		err := testenv.CertManagerRenew(ctx, c, ns, "rsched-api")
		return err == nil, errString(err)
	})
	waitIssued(t, c, serving, 2, 60*time.Second)
	_, renewedLeaf := tlsSecret(t, c, ns, "rsched-api-tls")
	if renewedLeaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatalf("the renewed Secret holds the same serial %s", leaf.SerialNumber)
	}
	verifyServing(t, renewedLeaf, caSecret.Data["ca.crt"], dnsNames)
	t.Logf("renewed in %.1fs: serial %s -> %s", time.Since(renewed).Seconds(), leaf.SerialNumber, renewedLeaf.SerialNumber)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	if apierrors.IsConflict(err) {
		return "conflict: " + err.Error()
	}
	return err.Error()
}

func TestCertManagerMissingFailsWithInstructions(t *testing.T) {
	t.Setenv("RSCHED_CERT_MANAGER_DIR", t.TempDir())
	var missing *testenv.MissingComponentError
	if _, err := testenv.NewCertManager(nil, t.TempDir()); !errors.As(err, &missing) || !strings.Contains(err.Error(), "hack/get-cert-manager.sh") {
		t.Errorf("NewCertManager without the controller: %v", err)
	}
}

package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// TestCertManagerModeWithTheRealController: with tls.issuerRef, the operator creates and owns a
// cert-manager Certificate for the Service's names, the real cert-manager controller issues it
// from a CA Issuer, the pods mount the Secret it writes, the issuer's CA is published in
// <instance>-ca, and status follows cert-manager: CertificateReady, the serial, and a new serial
// after a renewal (triggered as cmctl renew does).
func TestCertManagerModeWithTheRealController(t *testing.T) {
	testenv.StartCertManager(t, kube)
	ctx := context.Background()
	ns := namespace(t, nil)
	startOperator(t)
	cm := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(testenv.CertManagerGVK(kind))
		u.SetNamespace(ns)
		u.SetName(name)
		if err := kube.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", kind, name, err)
		}
		return u
	}
	cm("Issuer", "selfsigned", map[string]any{"selfSigned": map[string]any{}})
	cm("Certificate", "team-ca", map[string]any{"isCA": true, "commonName": "team CA", "secretName": "team-ca",
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
		"issuerRef":  map[string]any{"name": "selfsigned", "kind": "Issuer", "group": "cert-manager.io"}})
	cm("Issuer", "team-ca", map[string]any{"ca": map[string]any{"secretName": "team-ca"}})

	userSecret(t, ns, "cmi-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "cmi", func(si *rschedv1.SchedulerInstance) {
		si.Spec.TLS.IssuerRef = &rschedv1.IssuerReference{Name: "team-ca"}
		si.Spec.TLS.DNSNames = []rschedv1.DNSName{"schedule.example.org"}
		si.Spec.TLS.Duration = "720h"
	})
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionCertificateReady, metav1.ConditionTrue, rschedv1.ReasonCertificateValid)
	s := got.Status.TLS
	if s == nil || s.Mode != rschedv1.TLSCertManager || s.SecretName != "cmi-tls" || s.SerialNumber == "" || s.NotAfter == nil || s.RenewalTime == nil {
		t.Fatalf("status.tls %+v", s)
	}

	// The Certificate is the instance's, for the Service's names and ECDSA P-256 with a new key
	// at each renewal.
	crt := &unstructured.Unstructured{}
	crt.SetGroupVersionKind(testenv.CertManagerGVK("Certificate"))
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cmi-tls"}, crt); err != nil {
		t.Fatal(err)
	}
	names, _, _ := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames")
	rotation, _, _ := unstructured.NestedString(crt.Object, "spec", "privateKey", "rotationPolicy")
	if !metav1.IsControlledBy(crt, got) || len(names) != 5 || names[2] != "cmi."+ns+".svc" || names[4] != "schedule.example.org" || rotation != "Always" {
		t.Fatalf("Certificate: owners %v, names %v, rotation %q", crt.GetOwnerReferences(), names, rotation)
	}

	// Clients verify the pods with the published bundle: the issuer's CA.
	var bundle corev1.ConfigMap
	var caSec, leafSec corev1.Secret
	for name, obj := range map[string]client.Object{"cmi-ca": &bundle, "team-ca": &caSec, "cmi-tls": &leafSec} {
		if err := get(t, ns, name, obj); err != nil {
			t.Fatal(err)
		}
	}
	if bundle.Data["ca.crt"] != string(caSec.Data["ca.crt"]) {
		t.Fatal("the published bundle is not the issuer's CA")
	}
	leaf, err := pki.DecodeCertificates(leafSec.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(bundle.Data["ca.crt"]))
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: builders.ServiceHost(got)}); err != nil {
		t.Fatalf("cert-manager's certificate does not verify against the bundle: %v", err)
	}
	var dep appsv1.Deployment
	testenv.Eventually(t, 20*time.Second, "the Deployment", func() (bool, string) { return get(t, ns, "cmi", &dep) == nil, "missing" })
	mounted := false
	for _, v := range dep.Spec.Template.Spec.Volumes {
		mounted = mounted || (v.Name == "tls" && v.Secret.SecretName == "cmi-tls")
	}
	if !mounted {
		t.Fatal("the pods do not mount cert-manager's Secret")
	}

	// A renewal by cert-manager reaches status through the Secret's labels.
	before := s.SerialNumber
	testenv.Eventually(t, 10*time.Second, "asking cert-manager to renew", func() (bool, string) {
		err := testenv.CertManagerRenew(ctx, kube.Client, ns, "cmi-tls")
		return err == nil, errString(err)
	})
	testenv.Eventually(t, 60*time.Second, "status following the renewal", func() (bool, string) {
		cur := &rschedv1.SchedulerInstance{}
		if err := get(t, ns, "cmi", cur); err != nil || cur.Status.TLS == nil {
			return false, errString(err)
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, rschedv1.ConditionCertificateReady)
		return cur.Status.TLS.SerialNumber != before && c != nil && c.Status == metav1.ConditionTrue, cur.Status.TLS.SerialNumber
	})

	// Back to the operator's own CA: the Certificate goes (cert-manager stops writing), and the
	// trust moves as in a CA key replacement: the issuer's CA, which signed what the pods serve,
	// stays in the bundle beside the operator's new CA until every client has read it, and the
	// Secret cert-manager left is taken over (never a NameConflict) when the leaf moves.
	cur := &rschedv1.SchedulerInstance{}
	testenv.Eventually(t, 10*time.Second, "spec.tls back to the default", func() (bool, string) {
		if err := get(t, ns, "cmi", cur); err != nil {
			return false, err.Error()
		}
		cur.Spec.TLS = rschedv1.TLSSpec{}
		err := kube.Client.Update(ctx, cur)
		return err == nil, errString(err) // the operator writes status meanwhile: retry a conflict
	})
	testenv.Eventually(t, 30*time.Second, "operator-managed again", func() (bool, string) {
		if err := get(t, ns, "cmi", cur); err != nil || cur.Status.TLS == nil {
			return false, errString(err)
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, rschedv1.ConditionCertificateReady)
		return cur.Status.TLS.Mode == rschedv1.TLSOperatorManaged && cur.Status.TLS.CAReplacementPhase == string(pki.Propagating) &&
			c != nil && c.Status == metav1.ConditionTrue && c.Reason == rschedv1.ReasonCAReplacement && c.ObservedGeneration == cur.Generation, fmt.Sprint(cur.Status.TLS.Mode, c)
	})
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cmi-tls"}, crt); !apierrors.IsNotFound(err) {
		t.Fatalf("the Certificate outlived spec.tls.issuerRef: %v", err)
	}
	if err := get(t, ns, "cmi-ca", &bundle); err != nil {
		t.Fatal(err)
	}
	certs, err := pki.DecodeCertificates([]byte(bundle.Data["ca.crt"]))
	if err != nil || len(certs) != 2 || string(pki.EncodeCertificates(certs[0])) != string(caSec.Data["ca.crt"]) {
		t.Fatalf("the bundle during the move holds %d CAs (%v), want the issuer's and the operator's next", len(certs), err)
	}
	if err := get(t, ns, "cmi-tls", &leafSec); err != nil {
		t.Fatal(err)
	}
	served, _ := pki.DecodeCertificates(leafSec.Data["tls.crt"])
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(bundle.Data["ca.crt"]))
	if _, err := served[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: builders.ServiceHost(cur)}); err != nil {
		t.Fatalf("what the pods serve does not verify against the bundle during the move: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
)

// certificateGVK is cert-manager's Certificate. The operator does not import cert-manager's
// API: the few fields it writes and reads go through unstructured objects.
var certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// certManagerPoll is how often an instance waiting for cert-manager looks again: the operator
// does not watch Certificates (cert-manager may not be installed, and a watch of a kind that does
// not exist would stop the manager).
const certManagerPoll = 10 * time.Second

// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;create;update;delete

// ensureCertManagerCertificate keeps a cert-manager Certificate for the instance (spec.tls.issuerRef)
// and reports the Secret cert-manager writes: the pods mount it once it holds a valid pair for
// the Service's name, its ca.crt is published in <instance>-ca, and status says when
// cert-manager renews it. Until then the reconcile stops before the Deployment.
func (r *SchedulerInstanceReconciler) ensureCertManagerCertificate(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	crt, err := r.convergeCertificate(ctx, si)
	if err != nil {
		return err
	}
	ready, why := certManagerReady(crt)
	sec := &corev1.Secret{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: builders.TLSSecretName(si)}, sec)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s: %w", builders.TLSSecretName(si), err)
	}
	leaf, problem := checkServingPair(sec, builders.ServiceHost(si), r.Clock.Now())
	if apierrors.IsNotFound(err) || problem != "" {
		msg := "Waiting for cert-manager to issue Certificate " + crt.GetName() + ": " + why
		st.certCond = &metav1.Condition{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonCertificateIssuing, Message: msg}
		return outcome.WaitFor(certManagerPoll, msg).Halting()
	}
	if err := r.publishOwnBundle(ctx, si, sec.Data["ca.crt"]); err != nil {
		return err
	}
	s := leafStatus(leaf)
	s.Mode, s.SecretName = rschedv1.TLSCertManager, builders.TLSSecretName(si)
	if t, ok := certificateTime(crt, "renewalTime"); ok {
		s.RenewalTime = timePtr(t)
	}
	st.tls = s
	c := &metav1.Condition{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonCertificateValid,
		Message: "cert-manager issued the serving certificate, and renews it"}
	if !ready {
		// The Secret still serves (a renewal under way, or the issuer failing: cert-manager's
		// condition says which).
		c.Reason, c.Message = rschedv1.ReasonCertificateIssuing, "The serving certificate is valid; cert-manager's Certificate is not Ready: "+why
	}
	st.certCond = c
	next := ownCertificateRecheck
	if !ready {
		next = certManagerPoll
	}
	st.requeueWithin(min(next, leaf.NotAfter.Sub(r.Clock.Now())))
	return nil
}

// desiredCertificateSpec is the Certificate's spec: the fields the operator owns.
func desiredCertificateSpec(si *rschedv1.SchedulerInstance) map[string]any {
	t := si.Spec.TLS
	extra := make([]string, 0, len(t.DNSNames))
	for _, n := range t.DNSNames {
		extra = append(extra, string(n))
	}
	names := []any{}
	for _, n := range pki.ServiceDNSNames(builders.ServiceName(si), si.Namespace, extra...) {
		names = append(names, n)
	}
	ref := t.IssuerRef
	labels := map[string]any{}
	for k, v := range builders.Labels(si) {
		labels[k] = v
	}
	spec := map[string]any{
		"secretName": builders.TLSSecretName(si),
		"dnsNames":   names,
		"issuerRef":  map[string]any{"name": ref.Name, "kind": orDefault(ref.Kind, "Issuer"), "group": orDefault(ref.Group, "cert-manager.io")},
		// A new key at every renewal, as the operator's own CA does.
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256), "rotationPolicy": "Always"},
		"usages":     []any{"server auth", "digital signature"},
		// The labels put the Secret in the operator's cache, so a renewal is seen at once.
		"secretTemplate": map[string]any{"labels": labels},
	}
	if t.Duration != "" {
		spec["duration"] = t.Duration
	}
	if t.RenewBefore != "" {
		spec["renewBefore"] = t.RenewBefore
	}
	return spec
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// convergeCertificate creates the Certificate or brings the fields the operator owns back to the
// desired ones (fields cert-manager or a webhook added are left alone). A Certificate of that name
// that is not the instance's is a conflict.
func (r *SchedulerInstanceReconciler) convergeCertificate(ctx context.Context, si *rschedv1.SchedulerInstance) (*unstructured.Unstructured, error) {
	want := desiredCertificateSpec(si)
	crt := &unstructured.Unstructured{}
	crt.SetGroupVersionKind(certificateGVK)
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: builders.TLSSecretName(si)}, crt)
	switch {
	case meta.IsNoMatchError(err):
		return nil, outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonCertManagerMissing,
			"spec.tls.issuerRef needs cert-manager, whose Certificate kind (cert-manager.io/v1) this cluster does not serve", certManagerPoll*6).Halting()
	case apierrors.IsNotFound(err):
		crt = &unstructured.Unstructured{Object: map[string]any{"spec": want}}
		crt.SetGroupVersionKind(certificateGVK)
		crt.SetName(builders.TLSSecretName(si))
		crt.SetNamespace(si.Namespace)
		crt.SetLabels(builders.Labels(si))
		if err := controllerutil.SetControllerReference(si, crt, r.Scheme); err != nil {
			return nil, err
		}
		if err := r.Client.Create(ctx, crt); err != nil {
			return nil, fmt.Errorf("creating Certificate %s: %w", crt.GetName(), err)
		}
		r.event(si, corev1.EventTypeNormal, "Created", "Create", "Created cert-manager Certificate %s", crt.GetName())
		return crt, nil
	case err != nil:
		return nil, fmt.Errorf("reading Certificate %s: %w", builders.TLSSecretName(si), err)
	case !metav1.IsControlledBy(crt, si):
		o := outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonNameConflict,
			"Certificate "+crt.GetName()+" exists and is not this instance's; rename or remove it", 0)
		return nil, o.Halting()
	}
	spec, _, _ := unstructured.NestedMap(crt.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	changed := false
	for k, v := range want {
		if !sameJSON(spec[k], v) {
			spec[k], changed = v, true
		}
	}
	for _, k := range []string{"duration", "renewBefore"} {
		if _, wanted := want[k]; !wanted && spec[k] != nil {
			delete(spec, k)
			changed = true
		}
	}
	if !changed {
		return crt, nil
	}
	if err := unstructured.SetNestedMap(crt.Object, spec, "spec"); err != nil {
		return nil, err
	}
	if err := r.Client.Update(ctx, crt); err != nil {
		return nil, fmt.Errorf("updating Certificate %s: %w", crt.GetName(), err)
	}
	r.event(si, corev1.EventTypeNormal, "Updated", "Update", "Updated cert-manager Certificate %s to the desired state", crt.GetName())
	return crt, nil
}

// sameJSON compares two unstructured values as JSON would (int64 and float64 alike).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return equality.Semantic.DeepEqual(va, vb)
}

// certManagerReady is the Certificate's Ready condition, and its message (or a default).
func certManagerReady(crt *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(crt.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		msg, _ := m["message"].(string)
		if msg == "" {
			msg = "no message"
		}
		return m["status"] == string(metav1.ConditionTrue), msg
	}
	return false, "cert-manager has not reported on it yet"
}

// certificateTime reads a time from the Certificate's status.
func certificateTime(crt *unstructured.Unstructured, field string) (time.Time, bool) {
	s, _, _ := unstructured.NestedString(crt.Object, "status", field)
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// deleteCertManagerCertificate removes the instance's Certificate once tls.issuerRef is gone, so
// that cert-manager stops writing the serving Secret the operator (or the user's Secret) now
// provides. A cluster without cert-manager has none.
func (r *SchedulerInstanceReconciler) deleteCertManagerCertificate(ctx context.Context, si *rschedv1.SchedulerInstance) error {
	crt := &unstructured.Unstructured{}
	crt.SetGroupVersionKind(certificateGVK)
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: builders.TLSSecretName(si)}, crt)
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Certificate %s: %w", builders.TLSSecretName(si), err)
	}
	if !metav1.IsControlledBy(crt, si) {
		return nil
	}
	if err := r.Client.Delete(ctx, crt); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Certificate %s: %w", crt.GetName(), err)
	}
	r.event(si, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted cert-manager Certificate %s, no longer wanted by spec.tls", crt.GetName())
	return nil
}

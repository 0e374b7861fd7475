package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/servingcert"
)

// ownCertificateRecheck is how often a certificate of tls.secretRef (not watched: the manager
// caches only its own Secrets) is read again, so that status, metrics and CertificateReady follow
// a renewal or an approaching expiry.
const ownCertificateRecheck = 5 * time.Minute

// ensureCertificate puts the pods' serving certificate in place before anything mounts it:
// issued and renewed by the operator, or checked when it is the user's (tls.secretRef).
func (r *SchedulerInstanceReconciler) ensureCertificate(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	if si.Spec.TLS.SecretRef != nil {
		if err := r.deleteCertManagerCertificate(ctx, si); err != nil {
			return err
		}
		return r.checkOwnCertificate(ctx, si, st)
	}
	if si.Spec.TLS.IssuerRef != nil {
		return r.ensureCertManagerCertificate(ctx, si, st)
	}
	if err := r.deleteCertManagerCertificate(ctx, si); err != nil {
		return err
	}
	req, err := certificateRequest(si)
	if err != nil {
		return outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonInvalidConfig, "spec.tls: "+err.Error(), 0).Halting()
	}
	store := &servingcert.Store{Reader: r.APIReader, Cache: r.Client, Writer: r.Client, Scheme: r.Scheme}
	res, err := store.Converge(ctx, req, r.Clock.Now())
	for _, d := range res.Performed {
		r.certificateEvent(si, d)
	}
	if err != nil {
		return err
	}
	st.tls = operatorTLSStatus(si, req, res)
	st.certCond = certificateCondition(res)
	st.requeueWithin(res.Next.After)
	return nil
}

// certificateRequest is what the operator keeps for the instance: its objects, lifetimes, names
// and open requests.
func certificateRequest(si *rschedv1.SchedulerInstance) (servingcert.Request, error) {
	t := si.Spec.TLS
	var p pki.Policy
	for _, f := range []struct {
		name string
		in   string
		out  *time.Duration
	}{
		{"duration", t.Duration, &p.LeafLifetime}, {"renewBefore", t.RenewBefore, &p.LeafRenewBefore},
		{"caDuration", t.CADuration, &p.CALifetime}, {"caRenewBefore", t.CARenewBefore, &p.CARenewBefore},
		{"trustPropagation", t.TrustPropagation, &p.TrustPropagation}, {"overlap", t.Overlap, &p.Overlap},
	} {
		if f.in == "" {
			continue
		}
		d, err := time.ParseDuration(f.in)
		if err != nil || d <= 0 {
			return servingcert.Request{}, fmt.Errorf("%s %q is not a positive duration", f.name, f.in)
		}
		*f.out = d
	}
	extra := make([]string, 0, len(t.DNSNames))
	for _, n := range t.DNSNames {
		extra = append(extra, string(n))
	}
	return servingcert.Request{
		Owner: si,
		Objects: servingcert.Objects{Namespace: si.Namespace, CASecret: builders.TLSCASecretName(si),
			LeafSecret: builders.TLSSecretName(si), BundleName: builders.CABundleName(si)},
		Labels:         builders.Labels(si),
		Policy:         p.WithDefaults(),
		DNSNames:       pki.ServiceDNSNames(builders.ServiceName(si), si.Namespace, extra...),
		RenewRequest:   si.Annotations[rschedv1.RenewCertificateAnnotation],
		ReplaceRequest: si.Annotations[rschedv1.ReplaceCAAnnotation],
		RenewCARequest: si.Annotations[rschedv1.RenewCAAnnotation],
		CommonName:     "rsched CA " + si.Namespace + "/" + si.Name,
	}, nil
}

// operatorTLSStatus is status.tls of an operator-managed certificate: public facts only.
func operatorTLSStatus(si *rschedv1.SchedulerInstance, req servingcert.Request, res servingcert.Result) *rschedv1.TLSStatus {
	s := leafStatus(res.Leaf)
	s.Mode, s.SecretName = rschedv1.TLSOperatorManaged, builders.TLSSecretName(si)
	if res.Leaf != nil {
		s.RenewalTime = timePtr(pki.RenewalTime(res.Leaf, req.Policy.LeafRenewBefore))
	}
	if res.CA != nil {
		s.CANotAfter = timePtr(res.CA.NotAfter)
		s.CARenewalTime = timePtr(pki.RenewalTime(res.CA, req.Policy.CARenewBefore))
	}
	s.CAReplacementPhase = string(res.Phase)
	s.LastRenewRequest, s.LastReplaceCARequest, s.LastRenewCARequest = res.LastRenewRequest, res.LastReplaceRequest, res.LastRenewCARequest
	return s
}

// leafStatus is what status shows of a serving certificate.
func leafStatus(leaf *x509.Certificate) *rschedv1.TLSStatus {
	s := &rschedv1.TLSStatus{}
	if leaf == nil {
		return s
	}
	s.DNSNames = leaf.DNSNames
	s.Issuer = leaf.Issuer.String()
	s.SerialNumber = hex.EncodeToString(leaf.SerialNumber.Bytes())
	s.NotBefore, s.NotAfter = timePtr(leaf.NotBefore), timePtr(leaf.NotAfter)
	return s
}

func timePtr(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

// certificateCondition: the chain settled, so the leaf serves; a CA key replacement in progress
// is said so.
func certificateCondition(res servingcert.Result) *metav1.Condition {
	c := &metav1.Condition{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonCertificateValid,
		Message: "The serving certificate is valid, signed by the instance's CA, and renewed before it expires"}
	if res.Phase != pki.NoReplacement {
		c.Reason = rschedv1.ReasonCAReplacement
		c.Message = "The serving certificate is valid; a CA key replacement is in progress (see status.tls.caReplacementPhase)"
	}
	return c
}

// certificateEvent tells what an action did, with public facts only (serials, reasons).
func (r *SchedulerInstanceReconciler) certificateEvent(si *rschedv1.SchedulerInstance, d pki.Decision) {
	reason, note := "", ""
	switch d.Action {
	case pki.IssueCA:
		reason, note = rschedv1.EventCertificateIssued, "Issued a new CA for the instance"
	case pki.IssueLeaf, pki.ReissueLeaf:
		reason, note = rschedv1.EventCertificateIssued, "Issued a new serving certificate"
	case pki.RenewLeaf:
		reason, note = rschedv1.EventCertificateRenewed, "Renewed the serving certificate"
	case pki.RenewCA:
		reason, note = rschedv1.EventCARenewed, "Renewed the CA certificate by re-signing its key"
	case pki.StartCAReplacement:
		reason, note = rschedv1.EventCAReplaced, "Started a CA key replacement: the next CA is published beside the current one"
	case pki.PromoteCA:
		reason, note = rschedv1.EventCAReplaced, "The serving certificate moved to the new CA; the previous CA stays trusted for the overlap"
	case pki.DropPreviousCA:
		reason, note = rschedv1.EventCAReplaced, "CA key replacement complete: the previous CA left the trust bundle"
	case pki.PublishBundle:
		reason, note = rschedv1.EventTrustBundleUpdated, "Published the trust bundle "+builders.CABundleName(si)
	default:
		return
	}
	r.event(si, corev1.EventTypeNormal, reason, string(d.Action), "%s (%s)", note, d.Reason)
}

// checkOwnCertificate checks the Secret of tls.secretRef, which the operator mounts and never
// modifies: it must hold a serving certificate with its key, valid now, for the Service's name
// (the operator's own HTTPS reads of the pods verify it). Its ca.crt, when present, is published
// in the ConfigMap <instance>-ca; without one, that ConfigMap is removed (clients then trust the
// certificate through their system roots). A Secret that does not pass stops the reconcile before
// the Deployment: new pods could not start with it, and the running ones keep serving.
func (r *SchedulerInstanceReconciler) checkOwnCertificate(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	name := si.Spec.TLS.SecretRef.Name
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		return r.certificateInvalid(st, fmt.Sprintf("tls.secretRef: Secret %s not found", name))
	}
	if err != nil {
		return fmt.Errorf("reading Secret %s: %w", name, err)
	}
	leaf, problem := checkServingPair(sec, builders.ServiceHost(si), r.Clock.Now())
	if problem != "" {
		return r.certificateInvalid(st, fmt.Sprintf("tls.secretRef: Secret %s %s", name, problem))
	}
	if err := r.publishOwnBundle(ctx, si, sec.Data["ca.crt"]); err != nil {
		return err
	}
	s := leafStatus(leaf)
	s.Mode, s.SecretName = rschedv1.TLSSecretRef, name
	st.tls = s
	st.certCond = &metav1.Condition{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonCertificateValid,
		Message: "The certificate of tls.secretRef is valid and names the Service; renewing it is up to its owner"}
	st.requeueWithin(min(ownCertificateRecheck, leaf.NotAfter.Sub(r.Clock.Now())))
	return nil
}

func (r *SchedulerInstanceReconciler) certificateInvalid(st *statusBuilder, msg string) error {
	st.certCond = &metav1.Condition{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonCertificateInvalid, Message: msg}
	// The Secret is not watched: look again in a minute.
	return outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonCertificateInvalid, msg, retryBlockedUserSecret).Halting()
}

// checkServingPair says what is wrong with a serving pair, or returns its certificate. The
// messages name keys, never their content.
func checkServingPair(sec *corev1.Secret, host string, now time.Time) (*x509.Certificate, string) {
	certPEM, keyPEM := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, "needs the keys tls.crt and tls.key"
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "does not hold a certificate and its private key in PEM (tls.crt, tls.key)"
	}
	leaf := pair.Leaf
	switch {
	case now.Before(leaf.NotBefore):
		return nil, "holds a certificate that is not valid yet"
	case !now.Before(leaf.NotAfter):
		return nil, "holds an expired certificate"
	case leaf.VerifyHostname(host) != nil:
		return nil, "holds a certificate that does not name " + host
	}
	if ca := sec.Data["ca.crt"]; len(ca) > 0 {
		cas, err := pki.DecodeCertificates(ca)
		if err != nil {
			return nil, "has a ca.crt that is not a PEM certificate list"
		}
		// The bundle published from it must verify what the pods serve, or clients trusting it
		// would refuse every connection.
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		for _, c := range cas {
			roots.AddCert(c)
		}
		for _, der := range pair.Certificate[1:] {
			if c, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(c)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, CurrentTime: now}); err != nil {
			return nil, "has a ca.crt that does not verify its certificate for " + host
		}
	}
	return leaf, ""
}

// publishOwnBundle writes caPEM to the ConfigMap <instance>-ca, or removes it when empty.
func (r *SchedulerInstanceReconciler) publishOwnBundle(ctx context.Context, si *rschedv1.SchedulerInstance, caPEM []byte) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: builders.CABundleName(si), Namespace: si.Namespace}}
	if len(caPEM) == 0 {
		return r.deleteOwned(ctx, si, cm)
	}
	return r.converge(ctx, si, cm, builders.Labels(si), func() error {
		cm.Data = map[string]string{builders.CABundleKey: string(caPEM)}
		cm.BinaryData = nil
		return nil
	})
}

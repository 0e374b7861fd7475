package plugin

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
)

// CertView is one instance's serving certificate in `certs`: status.tls and the trust bundle,
// public facts only. The plugin never reads a Secret (the CA Secret holds the CA's key, the
// serving Secret the server's), so `certs` needs no more than the view role.
type CertView struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Ready is the CertificateReady condition ("True", "False (Reason)", "Unknown"), Message its
	// message.
	Ready   string `json:"ready"`
	Message string `json:"message,omitempty"`
	// Reported says whether the operator has written status.tls yet; the embedded status.tls is
	// empty until it has (its fields appear at this level in JSON and YAML).
	Reported bool `json:"reported"`
	rschedv1.TLSStatus
	// TrustPropagation and Overlap are spec.tls's waits of a CA key replacement (defaults filled in).
	TrustPropagation string `json:"trustPropagation,omitempty"`
	Overlap          string `json:"overlap,omitempty"`
	// Bundle is the ConfigMap <instance>-ca (key ca.crt) and the CA certificates it holds;
	// BundleProblem says why none are listed (absent, unreadable).
	BundleConfigMap string       `json:"bundleConfigMap"`
	Bundle          []BundleCert `json:"bundle"`
	BundleProblem   string       `json:"bundleProblem,omitempty"`
}

// BundleCert is one CA certificate of the trust bundle.
type BundleCert struct {
	// Role is "current" (the CA that signs the serving certificate now), "next" (published ahead
	// of a CA key replacement), "previous" (kept while the old and the new overlap), or "" when
	// status does not tell (a bundle of tls.secretRef, or not reported yet).
	Role         string      `json:"role,omitempty"`
	Subject      string      `json:"subject"`
	SerialNumber string      `json:"serialNumber"`
	NotBefore    metav1.Time `json:"notBefore"`
	NotAfter     metav1.Time `json:"notAfter"`
}

func (o *Options) certsCommand() *cobra.Command {
	var all bool
	var format string
	cmd := &cobra.Command{
		Use:   "certs [INSTANCE]",
		Short: "The serving certificates of SchedulerInstances, their CA and trust bundle (never key material)",
		Long: `certs shows, for one SchedulerInstance or every one of the namespace, the serving certificate
its pods use (mode, Secret, DNS names, issuer, serial, validity, next renewal), the instance's CA
(expiry, next renewal, a key replacement in progress) and the CA certificates of the trust bundle
clients verify the server with (ConfigMap <instance>-ca, key ca.crt). It reads status.tls and that
ConfigMap only, never a Secret, so it needs no more than the view role.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeNames(instanceNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			if all {
				if name != "" {
					return fmt.Errorf("an instance cannot be named across all namespaces: drop -A or %s", name)
				}
				ns = ""
			}
			views, err := Certs(cmd.Context(), c, ns, name)
			if err != nil {
				return err
			}
			if done, err := output(o.Out, format, views); done {
				return err
			}
			return CertsTable(o.Out, o.now(), views)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")
	return cmd
}

// Certs reads the certificates of the instance name in ns, or of every instance of ns when name
// is empty ("" ns: all namespaces).
func Certs(ctx context.Context, c client.Client, ns, name string) ([]CertView, error) {
	var sis []rschedv1.SchedulerInstance
	if name != "" {
		var si rschedv1.SchedulerInstance
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &si); err != nil {
			return nil, err
		}
		sis = append(sis, si)
	} else {
		var list rschedv1.SchedulerInstanceList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing SchedulerInstances: %w", err)
		}
		sis = list.Items
	}
	views := []CertView{}
	for i := range sis {
		v, err := certView(ctx, c, &sis[i])
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

func certView(ctx context.Context, c client.Client, si *rschedv1.SchedulerInstance) (CertView, error) {
	v := CertView{Namespace: si.Namespace, Name: si.Name, Ready: "Unknown", BundleConfigMap: builders.CABundleName(si), Bundle: []BundleCert{}}
	if cond := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionCertificateReady); cond != nil {
		v.Ready, v.Message = string(cond.Status), cond.Message
		if cond.Status != metav1.ConditionTrue {
			v.Ready += " (" + cond.Reason + ")"
		}
	}
	if t := si.Status.TLS; t != nil {
		v.Reported, v.TLSStatus = true, *t
	}
	if si.Spec.TLS.SecretRef == nil {
		w := replacementWaits(si)
		v.TrustPropagation, v.Overlap = durationText(w.TrustPropagation), durationText(w.Overlap)
	}
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: v.BundleConfigMap}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		v.BundleProblem = "not published"
		if si.Spec.TLS.SecretRef != nil {
			v.BundleProblem = "not published: the Secret of spec.tls.secretRef has no ca.crt, so clients verify the server through their own roots"
		}
		return v, nil
	case err != nil:
		return v, fmt.Errorf("reading ConfigMap %s/%s: %w", si.Namespace, v.BundleConfigMap, err)
	}
	certs, err := pki.DecodeCertificates([]byte(cm.Data[builders.CABundleKey]))
	if err != nil {
		v.BundleProblem = "key " + builders.CABundleKey + " does not hold PEM certificates"
		return v, nil
	}
	roles := bundleRoles(certs, si)
	for i, crt := range certs {
		v.Bundle = append(v.Bundle, BundleCert{Role: roles[i], Subject: crt.Subject.String(), SerialNumber: serialHex(crt),
			NotBefore: metav1.NewTime(crt.NotBefore.UTC()), NotAfter: metav1.NewTime(crt.NotAfter.UTC())})
	}
	return v, nil
}

// serialHex is a serial number as status.tls.serialNumber writes it.
func serialHex(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// bundleRoles tells the CAs of an operator-managed bundle apart by what status says: the current
// CA is the one whose expiry status.tls.caNotAfter records (kept to the second; the first such
// one, as the operator publishes the current CA first); another one is the next CA while trust
// propagates, the previous one while the two overlap. Every CA of an instance has the same
// subject, so the subject cannot tell them apart. Roles stay empty when status does not tell (a
// bundle of spec.tls.secretRef, or nothing reported yet).
func bundleRoles(certs []*x509.Certificate, si *rschedv1.SchedulerInstance) []string {
	roles := make([]string, len(certs))
	t := si.Status.TLS
	if si.Spec.TLS.SecretRef != nil || t == nil || t.CANotAfter == nil {
		return roles
	}
	other := "not current"
	switch pki.Phase(t.CAReplacementPhase) {
	case pki.Propagating:
		other = "next"
	case pki.Overlapping:
		other = "previous"
	}
	current := false
	for i, c := range certs {
		if !current && c.NotAfter.UTC().Truncate(time.Second).Equal(t.CANotAfter.UTC()) {
			roles[i], current = "current", true
			continue
		}
		roles[i] = other
	}
	return roles
}

// replacementWaits are spec.tls's durations of a CA key replacement, defaults filled in. A value
// that does not parse (admission refuses it) counts as the default, which is what the operator
// reports as a configuration problem.
func replacementWaits(si *rschedv1.SchedulerInstance) pki.Policy {
	var p pki.Policy
	p.TrustPropagation, _ = time.ParseDuration(si.Spec.TLS.TrustPropagation)
	p.Overlap, _ = time.ParseDuration(si.Spec.TLS.Overlap)
	return p.WithDefaults()
}

// phaseExplanation says what a CA key replacement phase means and what it waits for.
func phaseExplanation(phase, trustPropagation, overlap string) string {
	switch pki.Phase(phase) {
	case pki.Propagating:
		return "the bundle holds the current and the next CA; the serving certificate moves to the next CA " + trustPropagation +
			" (spec.tls.trustPropagation) after the bundle was published, once every client has re-read it"
	case pki.Overlapping:
		return "the serving certificate moved to the new CA; the previous CA leaves the bundle " + overlap +
			" (spec.tls.overlap) after the move, once every pod serves the new certificate"
	}
	return ""
}

// CertsTable writes each instance's certificate as a block, kubectl describe style: there are too
// many facts for one line.
func CertsTable(w io.Writer, now time.Time, views []CertView) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "No SchedulerInstances found.")
		return err
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := v.table(w, now); err != nil {
			return err
		}
	}
	return nil
}

func (v *CertView) table(w io.Writer, now time.Time) error {
	fmt.Fprintf(w, "%s/%s\n", v.Namespace, v.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, val string) { fmt.Fprintf(tw, "  %s:\t%s\n", k, val) }
	ready := v.Ready
	if v.Message != "" {
		ready += ": " + v.Message
	}
	row("CertificateReady", ready)
	if !v.Reported {
		row("Certificate", "not reported yet: the operator has not reconciled the instance's certificate")
	} else {
		mode := string(v.Mode)
		switch v.Mode {
		case rschedv1.TLSOperatorManaged:
			mode += " (issued and renewed by the operator from the instance's CA)"
		case rschedv1.TLSSecretRef:
			mode += " (spec.tls.secretRef: yours to renew; the operator never modifies it)"
		}
		row("Mode", mode)
		row("Secret", v.SecretName)
		row("DNS names", strings.Join(v.DNSNames, ", "))
		row("Issuer", v.Issuer)
		row("Serial", v.SerialNumber)
		row("Not before", stamp(v.NotBefore))
		row("Not after", stamp(v.NotAfter)+lifeLeft(now, v.NotAfter))
		if v.Mode == rschedv1.TLSOperatorManaged {
			row("Renewal", stamp(v.RenewalTime)+relative(now, v.RenewalTime))
			row("CA not after", stamp(v.CANotAfter)+lifeLeft(now, v.CANotAfter))
			row("CA renewal", stamp(v.CARenewalTime)+relative(now, v.CARenewalTime))
			repl := "none in progress"
			if v.CAReplacementPhase != "" {
				repl = v.CAReplacementPhase + ": " + phaseExplanation(v.CAReplacementPhase, v.TrustPropagation, v.Overlap)
			}
			row("CA replacement", repl)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "  Trust bundle (ConfigMap %s, key %s):", v.BundleConfigMap, builders.CABundleKey)
	if v.BundleProblem != "" {
		_, err := fmt.Fprintln(w, " "+v.BundleProblem)
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "    ROLE\tSUBJECT\tSERIAL\tNOT AFTER")
	for _, b := range v.Bundle {
		role := b.Role
		if role == "" {
			role = "-"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", role, b.Subject, b.SerialNumber, stamp(&b.NotAfter)+lifeLeft(now, &b.NotAfter))
	}
	return tw.Flush()
}

func stamp(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// lifeLeft is " (in 29d)" or " (expired 2d ago)".
func lifeLeft(now time.Time, t *metav1.Time) string {
	if t == nil {
		return ""
	}
	if d := t.Sub(now); d > 0 {
		return " (expires in " + shortDuration(d) + ")"
	}
	return " (expired " + shortDuration(now.Sub(t.Time)) + " ago)"
}

// relative is " (in 19d)" or " (due 1m ago)" for a planned time.
func relative(now time.Time, t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return " (" + until(now, t) + ")"
}

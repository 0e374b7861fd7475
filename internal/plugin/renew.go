package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
)

// followTimeout is how long renew follows a request by default: a renewal is one reconcile; a
// CA key replacement adds its two waits to it.
const followTimeout = 5 * time.Minute

func (o *Options) renewCommand() *cobra.Command {
	var timeout time.Duration
	var replace, resign bool
	cmd := &cobra.Command{
		Use:   "renew INSTANCE",
		Short: "Renew a SchedulerInstance's serving certificate (or its CA) now and follow until it is done",
		Long: `renew asks the operator for a new serving certificate (a new key under the current CA) by
setting the scheduling.rsched.io/renew-certificate annotation of the instance to a new value, and
follows status.tls until the operator acted on that value and the serial changed. Pods pick the new
certificate up when the kubelet refreshes their Secret volume, without a restart.

--resign-ca renews the CA certificate instead (scheduling.rsched.io/renew-ca): the same CA key
re-signed, so clients trusting the published CA have nothing to change.

--ca replaces the CA key (scheduling.rsched.io/replace-ca), for a suspected compromise of the CA
key: a new CA is published in the trust bundle beside the current one (PropagatingTrust), the
serving certificate moves to it after spec.tls.trustPropagation (Overlapping), and the old CA
leaves the bundle after spec.tls.overlap (10m each by default). No pod restarts. Unless --timeout
is given, renew --ca follows for both waits plus 5m; interrupting it stops only the following.

An instance whose certificate cert-manager issues (spec.tls.issuerRef) is refused too: use cmctl
renew. An instance serving its own certificate (spec.tls.secretRef) is refused: the operator never
modifies that Secret. renew exits 0 when the request is done, and 1 when it does not finish
within --timeout (the operator goes on; kubectl rsched certs shows where it stands).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeNames(instanceNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			kind := RenewLeaf
			switch {
			case replace:
				kind = ReplaceCA
			case resign:
				kind = ResignCA
			}
			if kind == ReplaceCA && !cmd.Flags().Changed("timeout") {
				timeout = 0 // Renew computes it from spec.tls
			}
			poll := o.Poll
			if poll <= 0 {
				poll = 500 * time.Millisecond
			}
			return Renew(cmd.Context(), c, client.ObjectKey{Namespace: ns, Name: args[0]}, kind, timeout, o.Out, o.now, poll)
		},
	}
	cmd.Flags().BoolVar(&replace, "ca", false, "replace the CA key (new CA published first, no pod restarts; takes trustPropagation + overlap)")
	cmd.Flags().BoolVar(&resign, "resign-ca", false, "renew the CA certificate by re-signing its key (nothing changes for clients)")
	cmd.MarkFlagsMutuallyExclusive("ca", "resign-ca")
	cmd.Flags().DurationVar(&timeout, "timeout", followTimeout, "how long to follow the request (--ca: trustPropagation + overlap + 5m unless set)")
	return cmd
}

// RenewKind is what renew asks the operator for.
type RenewKind int

// Kinds of renew requests, each through its own annotation.
const (
	RenewLeaf RenewKind = iota // a new serving certificate and key under the current CA
	ResignCA                   // the CA certificate re-signed with the same key
	ReplaceCA                  // a CA key replacement
)

func (k RenewKind) annotation() string {
	return [...]string{rschedv1.RenewCertificateAnnotation, rschedv1.RenewCAAnnotation, rschedv1.ReplaceCAAnnotation}[k]
}

// lastRequest is the request of this kind the operator last acted on.
func (k RenewKind) lastRequest(t rschedv1.TLSStatus) string {
	return [...]string{t.LastRenewRequest, t.LastRenewCARequest, t.LastReplaceCARequest}[k]
}

func (k RenewKind) String() string {
	return [...]string{"certificate renewal", "CA renewal", "CA key replacement"}[k]
}

// renewState is what status.tls says about one renew request.
type renewState int

const (
	renewWaiting     renewState = iota // the operator has not acted on the request yet
	renewPropagating                   // replace: the next CA is published beside the current one
	renewOverlapping                   // replace: the serving certificate moved; the old CA is still trusted
	renewDone                          // done
)

func (s renewState) String() string {
	return [...]string{"waiting for the operator", string(pki.Propagating), string(pki.Overlapping), "done"}[s]
}

// renewStateOf reads status.tls for the request value req of kind, made when status.tls was
// before. A renewal is done when the operator recorded the request and (leaf) the serial
// changed; a replacement goes through its phases and is done when, its request recorded, no
// phase is left.
func renewStateOf(kind RenewKind, t *rschedv1.TLSStatus, req string, before rschedv1.TLSStatus) renewState {
	if t == nil || kind.lastRequest(*t) != req {
		return renewWaiting
	}
	switch kind {
	case RenewLeaf:
		if t.SerialNumber == "" || t.SerialNumber == before.SerialNumber {
			return renewWaiting
		}
	case ReplaceCA:
		switch pki.Phase(t.CAReplacementPhase) {
		case pki.Propagating:
			return renewPropagating
		case pki.Overlapping:
			return renewOverlapping
		}
	}
	return renewDone
}

// requestID is an annotation value never used before: the time to the nanosecond, so two
// requests in a row differ.
func requestID(now time.Time) string { return "kubectl-rsched-" + fmt.Sprint(now.UnixNano()) }

// Renew sets kind's annotation on the instance at key to a new request id and reports the
// operator's progress to out until the request is done (nil) or the timeout passes (an error).
// A zero timeout is followTimeout, plus both waits of a CA key replacement for ReplaceCA.
func Renew(ctx context.Context, c client.Client, key client.ObjectKey, kind RenewKind, timeout time.Duration, out io.Writer, now func() time.Time, poll time.Duration) error {
	var si rschedv1.SchedulerInstance
	if err := c.Get(ctx, key, &si); err != nil {
		return err
	}
	if ref := si.Spec.TLS.SecretRef; ref != nil {
		return fmt.Errorf("%s/%s serves its own certificate from Secret %s (spec.tls.secretRef), which the operator never modifies and which has no operator CA: "+
			"renew that Secret yourself (pods pick the new certificate up without a restart)", key.Namespace, key.Name, ref.Name)
	}
	if ref := si.Spec.TLS.IssuerRef; ref != nil {
		return fmt.Errorf("%s/%s's certificate is issued and renewed by cert-manager (spec.tls.issuerRef %s %s), not by the operator: "+
			"use `cmctl renew %s -n %s` (its CA is the issuer's)", key.Namespace, key.Name, orIssuer(ref.Kind), ref.Name, builders.TLSSecretName(&si), key.Namespace)
	}
	r := &renewal{kind: kind, key: key, out: out, bundle: builders.CABundleName(&si), waits: replacementWaits(&si), timeout: timeout}
	if r.timeout <= 0 {
		r.timeout = followTimeout
		if kind == ReplaceCA {
			r.timeout += r.waits.TrustPropagation + r.waits.Overlap
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if si.Status.TLS != nil {
		r.before = *si.Status.TLS.DeepCopy()
	}
	r.req = requestID(now())
	patch := client.MergeFrom(si.DeepCopy())
	if si.Annotations == nil {
		si.Annotations = map[string]string{}
	}
	si.Annotations[kind.annotation()] = r.req
	if err := c.Patch(ctx, &si, patch); err != nil {
		return fmt.Errorf("setting %s: %w", kind.annotation(), err)
	}
	start := now()
	r.requested()
	last := renewWaiting
	for {
		state := renewStateOf(kind, si.Status.TLS, r.req, r.before)
		// Report every step reached since the last look, so a fast operator does not hide one.
		at := now().Sub(start).Round(100 * time.Millisecond)
		for s := last + 1; s <= state; s++ {
			r.reached(s, at, si.Status.TLS)
		}
		if state == renewDone {
			return nil
		}
		last = max(last, state)
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s/%s: the %s did not finish within %s (last state: %s)%s; the operator goes on: kubectl rsched certs shows where it stands",
					key.Namespace, key.Name, kind, durationText(r.timeout), last, conditionsAttention(si.Status.Conditions))
			}
			return ctx.Err()
		case <-time.After(poll):
		}
		if err := c.Get(ctx, key, &si); err != nil {
			return err
		}
	}
}

// renewal is one renew request being followed.
type renewal struct {
	kind    RenewKind
	key     client.ObjectKey
	out     io.Writer
	req     string
	before  rschedv1.TLSStatus
	bundle  string
	waits   pki.Policy
	timeout time.Duration
}

// requested says what was asked for, and what it waits on when something runs already.
func (r *renewal) requested() {
	ns, name, b := r.key.Namespace, r.key.Name, r.before
	inProgress := pki.Phase(b.CAReplacementPhase)
	switch r.kind {
	case RenewLeaf:
		fmt.Fprintf(r.out, "requested a new serving certificate for %s/%s (serial %s now, expires %s)\n", ns, name, orDash(b.SerialNumber), stamp(b.NotAfter))
	case ResignCA:
		fmt.Fprintf(r.out, "requested a renewal of the CA of %s/%s by re-signing its key (CA expires %s now)\n", ns, name, stamp(b.CANotAfter))
		if inProgress == pki.Propagating {
			fmt.Fprintln(r.out, "a CA key replacement is propagating: the operator re-signs the CA once the serving certificate has moved to the new one")
		}
	case ReplaceCA:
		fmt.Fprintf(r.out, "requested a CA key replacement for %s/%s (serial %s now, under %s)\n", ns, name, orDash(b.SerialNumber), orDash(b.Issuer))
		if inProgress != pki.NoReplacement {
			fmt.Fprintf(r.out, "a CA key replacement is already in progress (%s): this one starts when it ends\n", inProgress)
		}
		fmt.Fprintf(r.out, "it takes two waits, trustPropagation %s then overlap %s (spec.tls), and restarts no pod; following for up to %s\n"+
			"(interrupting this command stops the following, not the replacement: kubectl rsched certs shows its phase)\n",
			durationText(r.waits.TrustPropagation), durationText(r.waits.Overlap), durationText(r.timeout))
	}
}

// reached reports step s, seen at the time at since the request, with status.tls t.
func (r *renewal) reached(s renewState, at time.Duration, t *rschedv1.TLSStatus) {
	switch {
	case s < renewDone && r.kind != ReplaceCA: // only a replacement has phases
	case s == renewPropagating:
		fmt.Fprintf(r.out, "  %6s  %s: a new CA is published in ConfigMap %s beside the current one; the serving certificate moves to it in %s (spec.tls.trustPropagation), once every client has re-read the bundle\n",
			at, pki.Propagating, r.bundle, durationText(r.waits.TrustPropagation))
	case s == renewOverlapping:
		fmt.Fprintf(r.out, "  %6s  %s: the serving certificate moved to the new CA (serial %s); the previous CA stays in the bundle for %s (spec.tls.overlap), until every pod serves the new certificate\n",
			at, pki.Overlapping, t.SerialNumber, durationText(r.waits.Overlap))
	case r.kind == RenewLeaf:
		fmt.Fprintf(r.out, "  %6s  renewed: serial %s, valid until %s; pods pick it up when the kubelet refreshes their Secret volume, without a restart\n", at, t.SerialNumber, stamp(t.NotAfter))
	case r.kind == ResignCA:
		fmt.Fprintf(r.out, "  %6s  CA renewed: it expires %s; same key, so clients and the serving certificate have nothing to change\n", at, stamp(t.CANotAfter))
	default:
		fmt.Fprintf(r.out, "  %6s  done: the previous CA left ConfigMap %s; serial %s under the new CA, which expires %s\n", at, r.bundle, t.SerialNumber, stamp(t.CANotAfter))
	}
}

// conditionsAttention is "; CertificateReady=False Reason: message" for the conditions that
// explain why the operator did not act, or "": CertificateReady False, and Ready False for a
// reason that stops the reconcile before or at the certificate step (not the pods' readiness).
func conditionsAttention(conds []metav1.Condition) string {
	var b strings.Builder
	for _, c := range conds {
		stops := c.Type == rschedv1.ConditionCertificateReady ||
			(c.Type == rschedv1.ConditionReady && (c.Reason == rschedv1.ReasonInvalidConfig || c.Reason == rschedv1.ReasonNameConflict || c.Reason == rschedv1.ReasonReconcileError))
		if stops && c.Status == metav1.ConditionFalse {
			fmt.Fprintf(&b, "; %s=False %s: %s", c.Type, c.Reason, c.Message)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// durationText is a duration as spec.tls writes it: 10m, not 10m0s.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func orIssuer(kind string) string {
	if kind == "" {
		return "Issuer"
	}
	return kind
}

package pki

import (
	"bytes"
	"crypto/x509"
	"slices"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	DefaultCALifetime       = 365 * 24 * time.Hour
	DefaultLeafLifetime     = 30 * 24 * time.Hour
	DefaultTrustPropagation = 10 * time.Minute
	DefaultOverlap          = 10 * time.Minute
)

// Policy is spec.tls's lifetimes. A zero field takes its default; a zero or too long RenewBefore
// renews at 2/3 of the certificate's life.
type Policy struct {
	CALifetime, LeafLifetime       time.Duration
	CARenewBefore, LeafRenewBefore time.Duration
	// TrustPropagation is how long a bundle holding the old and the new CA is published before
	// the leaf moves to the new CA: the time every client needs to re-read the bundle.
	TrustPropagation time.Duration
	// Overlap is how long the old CA stays in the bundle after the leaf moved: pods still serve
	// the old leaf until the kubelet refreshes their Secret volume.
	Overlap time.Duration
}

// WithDefaults fills the zero fields.
func (p Policy) WithDefaults() Policy {
	orDefault := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	orDefault(&p.CALifetime, DefaultCALifetime)
	orDefault(&p.LeafLifetime, DefaultLeafLifetime)
	orDefault(&p.TrustPropagation, DefaultTrustPropagation)
	orDefault(&p.Overlap, DefaultOverlap)
	return p
}

// Phase is the step of a CA key replacement in progress, persisted in status.
type Phase string

// Phases of a CA key replacement.
const (
	// NoReplacement: none in progress.
	NoReplacement Phase = ""
	// Propagating: the bundle holds the current CA and the next one; the leaf is still under
	// the current CA.
	Propagating Phase = "PropagatingTrust"
	// Overlapping: the next CA is now the current one and signed the leaf; the bundle still
	// holds the previous CA.
	Overlapping Phase = "Overlapping"
)

// Replacement is a CA key replacement in progress, as persisted.
type Replacement struct {
	Phase Phase
	// Next is the new CA while Propagating; NextKeyPresent says its key is held.
	Next           *x509.Certificate
	NextKeyPresent bool
	// Previous is the replaced CA while Overlapping.
	Previous *x509.Certificate
	// BundlePublished is when the bundle holding the current and the next CA was published
	// (the end of the last PublishBundle while Propagating); LeafMoved is when the leaf was
	// re-issued under the new CA (PromoteCA).
	BundlePublished, LeafMoved time.Time
}

// Input is what the decision needs, read by the reconciler from the Secrets, the published
// bundle and status. Every field is persisted, so a restarted operator decides exactly as before.
type Input struct {
	Now    time.Time
	Policy Policy
	// CA is the current CA certificate (nil: none); CAKeyPresent says its private key is held
	// and matches it. A key that could not be read (an error) is not "absent": the reconciler
	// retries instead of deciding, or a transient read failure would replace the CA.
	CA           *x509.Certificate
	CAKeyPresent bool
	// Leaf is the serving certificate (nil: none); LeafKeyPresent says its key is held and
	// matches it.
	Leaf           *x509.Certificate
	LeafKeyPresent bool
	// DNSNames are the names the leaf must carry (ServiceDNSNames).
	DNSNames []string
	// Bundle is the trust bundle currently published (ConfigMap <instance>-ca, key ca.crt).
	Bundle []*x509.Certificate
	// ReplaceRequest is the value of the replace-CA-key annotation; LastReplaceRequest the value
	// last acted on.
	ReplaceRequest, LastReplaceRequest string
	// RenewRequest is the value of the renew-certificate annotation; LastRenewRequest the value
	// last acted on (a leaf renewal asked for by a person, kubectl rsched renew).
	RenewRequest, LastRenewRequest string
	// RenewCARequest is the value of the renew-ca annotation; LastRenewCARequest the value last
	// acted on (a CA renewal by re-signing, asked for by a person).
	RenewCARequest, LastRenewCARequest string
	Replacement                        Replacement
}

// Action is what to do next.
type Action string

// Actions. What each one writes is in doc.go.
const (
	Nothing            Action = ""
	IssueCA            Action = "IssueCA"
	RenewCA            Action = "RenewCA"
	StartCAReplacement Action = "StartCAReplacement"
	PromoteCA          Action = "PromoteCA"
	DropPreviousCA     Action = "DropPreviousCA"
	PublishBundle      Action = "PublishBundle"
	IssueLeaf          Action = "IssueLeaf"
	ReissueLeaf        Action = "ReissueLeaf"
	RenewLeaf          Action = "RenewLeaf"
)

// Reason says why; the reconciler turns it into conditions and events.
type Reason string

// Reasons, in the order the checks run.
const (
	CAMissing            Reason = "CAMissing"
	ReplacementLost      Reason = "ReplacementLost"
	BundleOutOfDate      Reason = "BundleOutOfDate"
	TrustPropagated      Reason = "TrustPropagated"
	ServingBroken        Reason = "ServingBroken"
	OverlapEnded         Reason = "OverlapEnded"
	CAKeyMissing         Reason = "CAKeyMissing"
	ManualReplaceRequest Reason = "ManualReplaceRequest"
	ManualRenewCARequest Reason = "ManualRenewCARequest"
	CAExpired            Reason = "CAExpired"
	CADue                Reason = "CADue"
	LeafMissing          Reason = "LeafMissing"
	LeafNotSignedByCA    Reason = "LeafNotSignedByCA"
	LeafExpired          Reason = "LeafExpired"
	LeafKeyMissing       Reason = "LeafKeyMissing"
	LeafNamesChanged     Reason = "LeafNamesChanged"
	ManualRenewRequest   Reason = "ManualRenewRequest"
	LeafCappedByCA       Reason = "LeafCappedByCA"
	LeafDue              Reason = "LeafDue"
	WaitingForTrust      Reason = "WaitingForTrust"
	WaitingForOverlap    Reason = "WaitingForOverlap"
	NotDue               Reason = "NotDue"
)

// Decision is the one next action, or Nothing and when to look again (After, 0: only on a
// change).
type Decision struct {
	Action Action
	Reason Reason
	After  time.Duration
}

type check func(Input) (Decision, bool)

// chain is the order of the checks; the order is policy (doc.go says why).
var chain = []check{
	caMissing, replacementLost, bundleOutOfDate, trustPropagated, servingBroken, overlapEnded,
	caKeyMissing, manualReplace, manualRenewCA, caExpired, caDue,
	leafMissing, leafNotSignedByCA, leafExpired, leafKeyMissing, leafNamesChanged, manualRenew, leafCapped, leafDue,
}

// Decide runs the chain: the first check that decides, or a wait until the next due point.
func Decide(in Input) Decision {
	in.Policy = in.Policy.WithDefaults()
	for _, c := range chain {
		if d, ok := c(in); ok {
			return d
		}
	}
	return wait(in)
}

// RenewalTime is when cert is due: renewBefore before its NotAfter, or at 2/3 of its life when
// renewBefore is zero or not shorter than the life (cert-manager's rule). It is read from the
// certificate itself, never from when the operator last looked.
func RenewalTime(cert *x509.Certificate, renewBefore time.Duration) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	if renewBefore <= 0 || renewBefore >= life {
		renewBefore = life / 3
	}
	return cert.NotAfter.Add(-renewBefore)
}

// expired counts NotAfter itself as expired (Go's verifier refuses only after it), so a
// certificate is re-issued before any client can refuse it.
func expired(c *x509.Certificate, now time.Time) bool { return !now.Before(c.NotAfter) }

// phase is the replacement's phase; an unknown value (a hand-edited status) is none, so the
// chain never stops on it. Overlapping without a previous CA only waits out its overlap.
func phase(in Input) Phase {
	switch p := in.Replacement.Phase; p {
	case Propagating, Overlapping:
		return p
	}
	return NoReplacement
}

// DesiredBundle is the bundle to publish: the current CA, and the other CA of a replacement in
// progress (the next one while propagating, the previous one while overlapping).
func DesiredBundle(in Input) []*x509.Certificate {
	var out []*x509.Certificate
	if in.CA != nil {
		out = append(out, in.CA)
	}
	r := in.Replacement
	if phase(in) == Propagating && r.Next != nil {
		out = append(out, r.Next)
	}
	if phase(in) == Overlapping && r.Previous != nil {
		out = append(out, r.Previous)
	}
	return out
}

func sameCerts(a, b []*x509.Certificate) bool {
	has := func(set []*x509.Certificate, c *x509.Certificate) bool {
		return slices.ContainsFunc(set, func(s *x509.Certificate) bool { return bytes.Equal(s.Raw, c.Raw) })
	}
	for _, c := range a {
		if !has(b, c) {
			return false
		}
	}
	for _, c := range b {
		if !has(a, c) {
			return false
		}
	}
	return true
}

func caMissing(in Input) (Decision, bool) {
	return Decision{Action: IssueCA, Reason: CAMissing}, in.CA == nil
}

// replacementLost: a replacement said to be propagating whose next CA (or its key) is gone
// cannot be promoted; it starts again rather than stopping half way.
func replacementLost(in Input) (Decision, bool) {
	r := in.Replacement
	lost := phase(in) == Propagating && (r.Next == nil || !r.NextKeyPresent)
	return Decision{Action: StartCAReplacement, Reason: ReplacementLost}, lost
}

// bundleOutOfDate: the published bundle is not the desired one, or a propagation has no
// recorded publication (the reconciler stopped between publishing and recording): publishing
// again records it, so the propagation wait is never skipped.
func bundleOutOfDate(in Input) (Decision, bool) {
	unrecorded := phase(in) == Propagating && in.Replacement.BundlePublished.IsZero()
	return Decision{Action: PublishBundle, Reason: BundleOutOfDate}, unrecorded || !sameCerts(in.Bundle, DesiredBundle(in))
}

func propagationEnd(in Input) time.Time {
	return in.Replacement.BundlePublished.Add(in.Policy.TrustPropagation)
}

func trustPropagated(in Input) (Decision, bool) {
	done := phase(in) == Propagating && !in.Now.Before(propagationEnd(in))
	return Decision{Action: PromoteCA, Reason: TrustPropagated}, done
}

// servingBroken: while propagating, waiting protects nothing when the current chain no longer
// serves (the current CA expired, or the leaf is unusable and the current CA has no key to
// re-issue it): the new CA takes over at once.
func servingBroken(in Input) (Decision, bool) {
	if phase(in) != Propagating {
		return Decision{}, false
	}
	broken := expired(in.CA, in.Now) || (!in.CAKeyPresent && !leafServes(in))
	return Decision{Action: PromoteCA, Reason: ServingBroken}, broken
}

// leafServes: there is a leaf, with its key, signed by the current CA and not expired.
func leafServes(in Input) bool {
	return in.Leaf != nil && in.LeafKeyPresent && in.Leaf.CheckSignatureFrom(in.CA) == nil && !expired(in.Leaf, in.Now)
}

func overlapEnd(in Input) time.Time { return in.Replacement.LeafMoved.Add(in.Policy.Overlap) }

// overlapEnded: the previous CA leaves the bundle only once the overlap has passed since the leaf
// moved and the leaf is one the current CA signed: a promotion whose leaf write was lost (an
// operator down longer than the overlap) re-issues the leaf first (leafNotSignedByCA), which
// starts the overlap again.
func overlapEnded(in Input) (Decision, bool) {
	done := phase(in) == Overlapping && !in.Now.Before(overlapEnd(in)) && leafServes(in)
	return Decision{Action: DropPreviousCA, Reason: OverlapEnded}, done
}

// caKeyMissing: a CA without its key can neither be renewed nor issue a leaf; it is replaced
// now, with the full propagation, while its leaf still serves. During an overlap the
// replacement waits for the overlap's end (minutes).
func caKeyMissing(in Input) (Decision, bool) {
	return Decision{Action: StartCAReplacement, Reason: CAKeyMissing}, phase(in) == NoReplacement && !in.CAKeyPresent
}

func manualReplace(in Input) (Decision, bool) {
	asked := in.ReplaceRequest != "" && in.ReplaceRequest != in.LastReplaceRequest
	return Decision{Action: StartCAReplacement, Reason: ManualReplaceRequest}, asked && phase(in) == NoReplacement
}

// manualRenewCA: a person asked for the CA to be renewed now (same key: nothing changes for
// clients). Acting on it records the request, so it renews once.
func manualRenewCA(in Input) (Decision, bool) {
	asked := in.RenewCARequest != "" && in.RenewCARequest != in.LastRenewCARequest
	return Decision{Action: RenewCA, Reason: ManualRenewCARequest}, asked && caRenewable(in)
}

// caRenewable: the current CA may be renewed by re-signing (not while it is being replaced).
func caRenewable(in Input) bool { return phase(in) != Propagating && in.CAKeyPresent }

func caExpired(in Input) (Decision, bool) {
	return Decision{Action: RenewCA, Reason: CAExpired}, caRenewable(in) && expired(in.CA, in.Now)
}

func caDue(in Input) (Decision, bool) {
	due := !in.Now.Before(RenewalTime(in.CA, in.Policy.CARenewBefore))
	return Decision{Action: RenewCA, Reason: CADue}, caRenewable(in) && due
}

// canSign: the leaf checks need the current CA's key; without it the replacement's promotion
// (servingBroken, trustPropagated) is what re-issues the leaf.
func canSign(in Input) bool { return in.CAKeyPresent }

func leafMissing(in Input) (Decision, bool) {
	return Decision{Action: IssueLeaf, Reason: LeafMissing}, canSign(in) && in.Leaf == nil
}

// leafNotSignedByCA: CloudNativePG #10433, a leaf left under a CA that is no longer current.
func leafNotSignedByCA(in Input) (Decision, bool) {
	return Decision{Action: ReissueLeaf, Reason: LeafNotSignedByCA}, canSign(in) && in.Leaf.CheckSignatureFrom(in.CA) != nil
}

func leafExpired(in Input) (Decision, bool) {
	return Decision{Action: ReissueLeaf, Reason: LeafExpired}, canSign(in) && expired(in.Leaf, in.Now)
}

func leafKeyMissing(in Input) (Decision, bool) {
	return Decision{Action: ReissueLeaf, Reason: LeafKeyMissing}, canSign(in) && !in.LeafKeyPresent
}

func leafNamesChanged(in Input) (Decision, bool) {
	return Decision{Action: ReissueLeaf, Reason: LeafNamesChanged}, canSign(in) && !sameNames(in.Leaf.DNSNames, in.DNSNames)
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// manualRenew: a person asked for a new leaf (a suspected key compromise, a test of the
// rotation). Acting on it records the request, so it renews once.
func manualRenew(in Input) (Decision, bool) {
	asked := in.RenewRequest != "" && in.RenewRequest != in.LastRenewRequest
	return Decision{Action: RenewLeaf, Reason: ManualRenewRequest}, canSign(in) && asked
}

// leafCapped: the leaf is due but ends with its CA (NewLeaf never outlives the CA), so a new leaf
// would end there too and be due at once, over and over; the CA is renewed first (re-signed:
// nothing changes for clients), then the leaf gets its full lifetime.
func leafCapped(in Input) (Decision, bool) {
	due := !in.Now.Before(RenewalTime(in.Leaf, in.Policy.LeafRenewBefore))
	capped := !in.Leaf.NotAfter.Before(in.CA.NotAfter)
	return Decision{Action: RenewCA, Reason: LeafCappedByCA}, canSign(in) && caRenewable(in) && due && capped
}

func leafDue(in Input) (Decision, bool) {
	due := !in.Now.Before(RenewalTime(in.Leaf, in.Policy.LeafRenewBefore))
	return Decision{Action: RenewLeaf, Reason: LeafDue}, canSign(in) && due
}

// wait is the end of the chain: nothing to do until the earliest future due point (a renewal,
// the end of a propagation or an overlap, an expiry that would break serving).
func wait(in Input) Decision {
	var points []time.Time
	switch phase(in) {
	case Propagating:
		points = append(points, propagationEnd(in), in.CA.NotAfter)
	case Overlapping:
		points = append(points, overlapEnd(in))
	}
	if phase(in) != Propagating {
		points = append(points, RenewalTime(in.CA, in.Policy.CARenewBefore))
	}
	if in.Leaf != nil {
		points = append(points, RenewalTime(in.Leaf, in.Policy.LeafRenewBefore), in.Leaf.NotAfter)
	}
	d := Decision{Reason: NotDue}
	switch phase(in) {
	case Propagating:
		d.Reason = WaitingForTrust
	case Overlapping:
		d.Reason = WaitingForOverlap
	}
	for _, p := range points {
		if p.After(in.Now) && (d.After == 0 || p.Sub(in.Now) < d.After) {
			d.After = p.Sub(in.Now)
		}
	}
	return d
}

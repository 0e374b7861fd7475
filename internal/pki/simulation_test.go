package pki

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"
)

// world is what the reconciler would persist (Secrets, the bundle ConfigMap, status), moved
// only by applying Decide's actions with the real issuance code.
type world struct {
	policy    Policy
	ca, next  KeyPair
	leaf      KeyPair
	bundle    []*x509.Certificate
	published []publication // every bundle ever published, in order
	repl      Replacement
	req, last string
	// crashInPromotion: the next promotion stops after writing the new CA, before the leaf (a
	// reconciler killed between two writes); the chain must find the leaf on its own.
	crashInPromotion bool
	// previous is the leaf just replaced: pods keep serving it until the kubelet refreshes
	// their Secret volume (at most kubeletRefresh later).
	previous      *x509.Certificate
	previousUntil time.Time

	actions    map[Action]int
	reasons    map[Reason]int
	issued     map[string]int  // certificates issued: "CA", "re-signed CA", "leaf"
	caKeys     map[string]bool // distinct CA public keys (subject key identifiers)
	minLeafRem time.Duration   // least remaining validity of the serving leaf seen while running
	minCARem   time.Duration   // least remaining validity of a CA certificate a held bundle needed
	checks     int
}

type publication struct {
	at    time.Time
	certs []*x509.Certificate
}

// kubeletRefresh bounds how long a pod serves a replaced leaf (the kubelet's sync period plus
// its cache TTL, about a minute each by default).
const kubeletRefresh = 2 * time.Minute

func newWorld() *world {
	return &world{policy: Policy{}.WithDefaults(), actions: map[Action]int{}, issued: map[string]int{}, reasons: map[Reason]int{}, caKeys: map[string]bool{}, minLeafRem: 1 << 62, minCARem: 1 << 62}
}

func (w *world) input(now time.Time) Input {
	r := w.repl
	if r.Phase == Propagating {
		r.Next, r.NextKeyPresent = w.next.Cert, w.next.Key != nil
	}
	return Input{
		Now: now, Policy: w.policy,
		CA: w.ca.Cert, CAKeyPresent: w.ca.Key != nil,
		Leaf: w.leaf.Cert, LeafKeyPresent: w.leaf.Key != nil, DNSNames: names,
		Bundle: w.bundle, ReplaceRequest: w.req, LastReplaceRequest: w.last, Replacement: r,
	}
}

func (w *world) publish(now time.Time) {
	w.bundle = DesiredBundle(w.input(now))
	w.published = append(w.published, publication{at: now, certs: w.bundle})
}

// apply performs one action as the reconciler would, with the real issuance code.
func (w *world) apply(d Decision, now time.Time) error {
	if w.leaf.Cert != nil {
		defer func(old *x509.Certificate) {
			if w.leaf.Cert != old {
				w.previous, w.previousUntil = old, now.Add(kubeletRefresh)
			}
		}(w.leaf.Cert)
	}
	var err error
	switch d.Action {
	case IssueCA:
		w.ca, err = NewCA("demo CA", now, w.policy.CALifetime)
		w.repl = Replacement{}
		w.issued["CA"]++
	case RenewCA:
		w.ca, err = ResignCA(w.ca, now, w.policy.CALifetime)
		w.issued["re-signed CA"]++
	case StartCAReplacement:
		w.next, err = NewCA("demo CA", now, w.policy.CALifetime)
		w.issued["CA"]++
		w.repl = Replacement{Phase: Propagating}
		w.last = w.req
		w.publish(now)
		w.repl.BundlePublished = now
	case PromoteCA:
		previous := w.ca.Cert
		w.ca, w.next = w.next, KeyPair{}
		w.repl = Replacement{Phase: Overlapping, Previous: previous, LeafMoved: now}
		if w.crashInPromotion {
			w.crashInPromotion = false
			break
		}
		w.leaf, err = NewLeaf(w.ca, names, now, w.policy.LeafLifetime)
		w.issued["leaf"]++
	case DropPreviousCA:
		w.repl = Replacement{}
		w.publish(now)
	case PublishBundle:
		w.publish(now)
		if w.repl.Phase == Propagating {
			w.repl.BundlePublished = now
		}
	case IssueLeaf, ReissueLeaf, RenewLeaf:
		w.leaf, err = NewLeaf(w.ca, names, now, w.policy.LeafLifetime)
		w.issued["leaf"]++
	default:
		return fmt.Errorf("unknown action %q", d.Action)
	}
	w.actions[d.Action]++
	w.reasons[d.Reason]++
	if w.ca.Cert != nil {
		w.caKeys[string(w.ca.Cert.SubjectKeyId)] = true
	}
	return err
}

// reconcile asks and acts until the chain says wait; a chain that never settles is a failure.
func (w *world) reconcile(t *testing.T, now time.Time) Decision {
	t.Helper()
	for range 10 {
		d := Decide(w.input(now))
		if d.Action == Nothing {
			return d
		}
		if err := w.apply(d, now); err != nil {
			t.Fatalf("%v: %s (%s): %v", now, d.Action, d.Reason, err)
		}
	}
	t.Fatalf("%v: no steady state after 10 actions", now)
	return Decision{}
}

// held are the bundles a client may hold at now: every bundle that was the published one at
// some moment of the last TrustPropagation (a client re-reads within that time).
func (w *world) held(now time.Time) [][]*x509.Certificate {
	var out [][]*x509.Certificate
	for i, p := range w.published {
		if p.at.After(now) {
			continue
		}
		last := i == len(w.published)-1
		if last || w.published[i+1].at.After(now.Add(-w.policy.TrustPropagation)) {
			out = append(out, p.certs)
		}
	}
	return out
}

// invariants: the serving leaf is within its validity, and every client bundle verifies it.
func (w *world) invariants(t *testing.T, now time.Time, what string) {
	t.Helper()
	w.checks++
	l := w.leaf.Cert
	if l == nil || now.Before(l.NotBefore) || !now.Before(l.NotAfter) {
		t.Fatalf("%v (%s): no valid leaf", now, what)
	}
	w.minLeafRem = min(w.minLeafRem, l.NotAfter.Sub(now))
	// A pod not yet refreshed serves the previous leaf: clients must accept it too (unless it
	// had already expired, after the operator was down).
	if p := w.previous; p != nil && now.Before(w.previousUntil) && now.Before(p.NotAfter) {
		for _, b := range w.held(now) {
			if err := verify(p, now, names[0], b...); err != nil {
				t.Fatalf("%v (%s): a pod not yet refreshed serves a leaf a client refuses: %v", now, what, err)
			}
		}
	}
	for _, b := range w.held(now) {
		name := names[w.checks%len(names)]
		if err := verify(l, now, name, b...); err != nil {
			t.Fatalf("%v (%s): a client holding a bundle of %d CA refuses the leaf: %v", now, what, len(b), err)
		}
		for _, ca := range b {
			if l.CheckSignatureFrom(ca) == nil {
				w.minCARem = min(w.minCARem, ca.NotAfter.Sub(now))
			}
		}
	}
}

// TestSimulationThreeCALifetimesNothingEverExpires runs the operator for three CA lifetimes and
// more than thirty leaf lifetimes on a fake clock, moving to each due point (and at least once a
// day), with a manual CA key replacement (whose promotion is cut short between the CA and the
// leaf write, as a killed reconciler would leave it: CloudNativePG #10433's state), an operator down for three months across the CA's
// renewal and its leaf's expiry, and a CA key lost from its Secret. At every step, before and
// after the reconcile, the serving leaf is valid and verifies against every bundle a client may
// hold.
func TestSimulationThreeCALifetimesNothingEverExpires(t *testing.T) {
	w := newWorld()
	start := t0
	end := start.Add(3*DefaultCALifetime + 30*day)
	manualAt, downAt, upAt, keyLostAt := start.Add(100*day), start.Add(200*day), start.Add(290*day), start.Add(700*day)
	var manualDone, downDone, keyLostDone bool
	now := start
	w.reconcile(t, now)
	w.invariants(t, now, "first reconcile")
	for now.Before(end) {
		d := Decide(w.input(now))
		step := 24 * time.Hour
		if d.After > 0 && d.After < step {
			step = d.After
		}
		now = now.Add(step)
		switch {
		case !manualDone && !now.Before(manualAt):
			w.req, manualDone = "replace-1", true
			w.crashInPromotion = true
		case !downDone && !now.Before(downAt):
			// The operator is down: nothing runs until upAt; the first reconcile after it
			// must repair whatever expired meanwhile.
			now, downDone = upAt, true
			if first := Decide(w.input(now)); first.Action == Nothing {
				t.Fatalf("back after three months: %+v", first)
			}
			w.reconcile(t, now)
			w.invariants(t, now, "back after three months")
			continue
		case !keyLostDone && !now.Before(keyLostAt):
			w.ca.Key, keyLostDone = nil, true
		}
		w.invariants(t, now, "before the reconcile")
		w.reconcile(t, now)
		w.invariants(t, now, "after the reconcile")
	}
	if !manualDone || !downDone || !keyLostDone {
		t.Fatal("an event did not happen")
	}
	elapsed := now.Sub(start)
	t.Logf("%.2f CA lifetimes, %.1f leaf lifetimes, %d invariant checks; issued %v; %d CA keys; min leaf validity left %v, min CA validity left %v",
		float64(elapsed)/float64(DefaultCALifetime), float64(elapsed)/float64(DefaultLeafLifetime), w.checks,
		w.issued, len(w.caKeys), w.minLeafRem, w.minCARem)
	t.Logf("actions %v", w.actions)
	t.Logf("reasons %v", w.reasons)
	if elapsed < 3*DefaultCALifetime || elapsed < 10*DefaultLeafLifetime {
		t.Errorf("ran %v only", elapsed)
	}
	for r, n := range map[Reason]int{ManualReplaceRequest: 1, LeafNotSignedByCA: 1, CAKeyMissing: 1, TrustPropagated: 2, OverlapEnded: 2, CADue: 1, LeafExpired: 1, LeafDue: 10} {
		if w.reasons[r] < n {
			t.Errorf("%s happened %d times, want at least %d", r, w.reasons[r], n)
		}
	}
	// Each replacement runs each phase once (Strimzi #11717 repeated its last one forever).
	if w.actions[StartCAReplacement] != 2 || w.actions[PromoteCA] != 2 || w.actions[DropPreviousCA] != 2 || len(w.caKeys) != 3 {
		t.Errorf("two replacements, not %v with %d CA keys", w.actions, len(w.caKeys))
	}
	if w.reasons[ServingBroken] != 0 || w.reasons[CAExpired] != 0 || w.reasons[BundleOutOfDate] < 1 {
		t.Errorf("a running operator let something break: %v", w.reasons)
	}
	// A renewed leaf is renewed with a third of its life left; nothing came closer to expiry.
	if w.minLeafRem < DefaultLeafLifetime/3-time.Hour || w.minCARem < DefaultLeafLifetime/3-time.Hour {
		t.Errorf("came within %v (leaf) / %v (CA) of an expiry", w.minLeafRem, w.minCARem)
	}
}

// TestOperatorDownPastEveryExpiryIsNeverStuck: an operator back after fourteen months finds the
// leaf and the CA expired (and, in the second run, the CA key gone too); the next reconcile
// brings a valid leaf that verifies against the bundle it publishes, with no human involved.
func TestOperatorDownPastEveryExpiryIsNeverStuck(t *testing.T) {
	for _, loseKey := range []bool{false, true} {
		w := newWorld()
		w.reconcile(t, t0)
		back := t0.Add(14 * 30 * day)
		if loseKey {
			w.ca.Key = nil
		}
		now := back
		for i := 0; ; i++ {
			d := w.reconcile(t, now)
			if w.repl.Phase == NoReplacement {
				break
			}
			if i > 5 {
				t.Fatalf("lose key %v: stuck in %s", loseKey, w.repl.Phase)
			}
			now = now.Add(d.After)
		}
		if now.Sub(back) > w.policy.Overlap {
			t.Errorf("lose key %v: recovered after %v", loseKey, now.Sub(back))
		}
		if err := verify(w.leaf.Cert, back, "demo", w.bundle...); err != nil {
			t.Errorf("lose key %v: %v", loseKey, err)
		}
		want := map[bool]Reason{false: CAExpired, true: ServingBroken}[loseKey]
		if w.reasons[want] != 1 {
			t.Errorf("lose key %v: reasons %v", loseKey, w.reasons)
		}
	}
}

// TestShortCALifetimeNeverLoops: a CA as short as its leaves (caDuration = duration = 720h,
// renewBefore 300h, all admitted) caps each leaf at the CA's end; the chain re-signs the CA
// first instead of renewing a capped leaf that would be due at once, again and again. Over six
// CA lifetimes nothing expires and issuance stays proportionate.
func TestShortCALifetimeNeverLoops(t *testing.T) {
	w := newWorld()
	w.policy = Policy{CALifetime: 720 * time.Hour, LeafLifetime: 720 * time.Hour, LeafRenewBefore: 300 * time.Hour}.WithDefaults()
	now, end := t0, t0.Add(6*720*time.Hour)
	w.reconcile(t, now)
	for now.Before(end) {
		d := Decide(w.input(now))
		step := 12 * time.Hour
		if d.After > 0 && d.After < step {
			step = d.After
		}
		now = now.Add(step)
		w.invariants(t, now, "before the reconcile")
		w.reconcile(t, now)
		w.invariants(t, now, "after the reconcile")
	}
	t.Logf("issued %v; reasons %v; min leaf validity left %v", w.issued, w.reasons, w.minLeafRem)
	// About one leaf per 420h and one CA re-signing per 480h: a loop would issue thousands.
	if w.issued["leaf"] > 20 || w.issued["re-signed CA"] > 20 || w.reasons[LeafCappedByCA] == 0 {
		t.Errorf("issuance out of proportion over six CA lifetimes: %v, reasons %v", w.issued, w.reasons)
	}
}

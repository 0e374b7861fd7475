package controllers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyringstore"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
)

var (
	rotationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsched_key_rotations_total", Help: "Key rotations completed (result=success: a new version became active) or failed attempts to change the keys (result=failure).",
	}, []string{"namespace", "name", "result"})
	nextRotation = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_key_next_rotation_timestamp_seconds", Help: "When the KeyRotationPolicy's next scheduled rotation is due (Unix time); absent while suspended.",
	}, []string{"namespace", "name"})
	currentVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_key_current_version", Help: "The keyring version of the KeyRotationPolicy's instance.",
	}, []string{"namespace", "name"})
	rotationLateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rsched_key_rotation_lateness_seconds",
		Help:    "How long after status.nextRotationTime a scheduled rotation staged its keys.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 60, 300},
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(rotationsTotal, nextRotation, currentVersion, rotationLateness)
}

func forgetPolicyMetrics(namespace, name string) {
	nextRotation.DeleteLabelValues(namespace, name)
	currentVersion.DeleteLabelValues(namespace, name)
	for _, r := range []string{"success", "failure"} {
		rotationsTotal.DeleteLabelValues(namespace, name, r)
	}
}

// policyStatus collects what the steps found and did; computePolicyStatus turns it, with the
// reconcile's outcome, into the status.
type policyStatus struct {
	krp  *rschedv1.KeyRotationPolicy
	now  time.Time
	next *rschedv1.KeyRotationPolicyStatus // what the keyring says: versions, schedule, keys

	decision     keyrotation.Decision
	vault        vaultSeen
	rotatingWhy  string
	loaded       bool
	requeueAfter time.Duration
}

// vaultSeen is what this reconcile learnt of Vault, for VaultReachable.
type vaultSeen struct {
	state           vaultState
	reason, message string // vaultFailed: the classified failure (stable, secret-free)
}

type vaultState int

const (
	vaultNotAsked vaultState = iota // not reached this time: VaultReachable stays as it was
	vaultUnused                     // no storage.vault: no VaultReachable
	vaultRead                       // the keyring was read from Vault
	vaultFailed                     // the login or the read failed
)

func newPolicyStatus(krp *rschedv1.KeyRotationPolicy, now time.Time) *policyStatus {
	return &policyStatus{krp: krp, now: now, next: krp.Status.DeepCopy()}
}

// requeue keeps the earliest positive wait.
func (s *policyStatus) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if s.requeueAfter == 0 || d < s.requeueAfter {
		s.requeueAfter = d
	}
}

// policyBlocked is a block a person must lift, reported on Ready: a keyring the instance is about
// to create is looked for again soon, a missing target or an unusable keyring every minute; the
// rest wait for the change that lifts them (the policy's spec, the other policy's deletion, the
// target's spec.vault), which the reconciler watches.
func policyBlocked(reason, msg string) error {
	var after time.Duration
	switch reason {
	case rschedv1.ReasonKeyringNotFound:
		after = 10 * time.Second
	case rschedv1.ReasonTargetNotFound, rschedv1.ReasonKeyringInvalid:
		after = time.Minute
	}
	return outcome.BlockedOn(rschedv1.ConditionReady, reason, msg, after)
}

func (s *policyStatus) noVault() { s.vault = vaultSeen{state: vaultUnused} }

func (s *policyStatus) vaultOK() { s.vault = vaultSeen{state: vaultRead} }

func (s *policyStatus) vaultDown(reason, msg string) {
	s.vault = vaultSeen{state: vaultFailed, reason: reason, message: msg}
}

func (s *policyStatus) rotating(why string) { s.rotatingWhy = why }

// succeeded clears the failure count after a successful write.
func (s *policyStatus) succeeded() {
	s.next.FailedAttempts = 0
	s.next.LastFailureTime = nil
}

// schedule sets the next rotation after base (never in the past), or clears it while suspended.
func (s *policyStatus) schedule(krp *rschedv1.KeyRotationPolicy, base time.Time) {
	if krp.Spec.Suspend {
		s.next.NextRotationTime = nil
		return
	}
	n, err := keyrotation.Next(krp.Spec.Schedule, base.Truncate(time.Second))
	if err == nil && !n.After(s.now) {
		n, err = keyrotation.Next(krp.Spec.Schedule, s.now.Truncate(time.Second))
	}
	if err != nil {
		return // checkSpec reports an unusable schedule before we get here
	}
	t := metav1.NewTime(n.Truncate(time.Second))
	s.next.NextRotationTime = &t
}

// requeueForRetirement comes back when the first verify-only key's grace period ends.
func (s *policyStatus) requeueForRetirement(f *keyring.File) {
	for _, k := range f.Signing {
		if k.State == keyring.VerifyOnly && k.NotAfter != nil {
			s.requeue(k.NotAfter.Sub(s.now))
		}
	}
}

// catchUp brings status up to the keyring, the record of what happened: after a crash between
// writing the keyring and writing status, the rotation is recorded here instead of repeated.
func (r *KeyRotationPolicyReconciler) catchUp(krp *rschedv1.KeyRotationPolicy, kr *keyringstore.Keyring, st *policyStatus) {
	st.loaded = true
	f := kr.File
	behind := keyrotation.KeyVersion(f) != st.next.CurrentVersion || st.next.LastRotationTime == nil
	// What status held before the rotation it is now learning of: the schedule continues from
	// that rotation's due time, whether this reconcile staged it or read the policy from before
	// the status write that recorded it (a stale cache).
	prevNext := timeOf(st.next.NextRotationTime)
	manual := kr.Request != "" && kr.Request != st.next.LastRotateRequest
	if behind {
		st.next.CurrentVersion = keyrotation.KeyVersion(f)
		t := metav1.NewTime(newestCreation(f))
		st.next.LastRotationTime = &t
		if kr.Request != "" {
			st.next.LastRotateRequest = kr.Request
		}
	}
	if behind || st.next.NextRotationTime == nil && !krp.Spec.Suspend || krp.Status.ObservedGeneration != krp.Generation {
		overdue := st.next.NextRotationTime != nil && !st.now.Before(st.next.NextRotationTime.Time)
		base := st.next.LastRotationTime.Time
		if behind {
			base = keyrotation.ScheduleBase(prevNext, base, manual)
		}
		st.schedule(krp, base)
		if n, err := keyrotation.Next(krp.Spec.Schedule, st.next.LastRotationTime.Time); overdue && !behind && err == nil && !krp.Spec.Suspend && !n.After(st.now) {
			// A rotation overdue under the old spec and the new one stays due: an unrelated spec
			// edit (while a failing rotation backs off, say) must not push it a period later.
			t := metav1.NewTime(n.Truncate(time.Second))
			st.next.NextRotationTime = &t
		}
	}
	st.next.Keys = keyStatuses(f)
}

func newestCreation(f *keyring.File) time.Time {
	var t time.Time
	for _, k := range slices.Concat(f.Signing, f.Encryption) {
		if k.CreatedAt.After(t) {
			t = k.CreatedAt
		}
	}
	return t.UTC().Truncate(time.Second)
}

// maxVersionsShown is the API's limit on versions per key in status.
const maxVersionsShown = 32

// keyStatuses lists every key name of the keyring with its versions, newest first; never material.
func keyStatuses(f *keyring.File) []rschedv1.KeyStatus {
	byName := map[string]*rschedv1.KeyStatus{}
	var names []string
	for _, k := range slices.Concat(f.Signing, f.Encryption) {
		name, v := splitKID(k.KID)
		ks := byName[name]
		if ks == nil {
			ks = &rschedv1.KeyStatus{Name: name}
			byName[name] = ks
			names = append(names, name)
		}
		vs := rschedv1.KeyVersionStatus{Version: v, CreatedAt: metav1.NewTime(k.CreatedAt.UTC().Truncate(time.Second)), State: rschedv1.KeyState(k.State)}
		if k.NotAfter != nil {
			t := metav1.NewTime(k.NotAfter.UTC().Truncate(time.Second))
			vs.ExpiresAt = &t
		}
		if k.State == keyring.Active {
			ks.ActiveVersion = v
		}
		ks.Versions = append(ks.Versions, vs)
	}
	slices.Sort(names)
	out := make([]rschedv1.KeyStatus, 0, len(names))
	for _, n := range names {
		ks := byName[n]
		slices.SortFunc(ks.Versions, func(a, b rschedv1.KeyVersionStatus) int { return int(b.Version - a.Version) })
		if len(ks.Versions) > maxVersionsShown {
			ks.Versions = ks.Versions[:maxVersionsShown]
		}
		out = append(out, *ks)
	}
	return out
}

// splitKID splits "jwt-7" into ("jwt", 7); a kid without a version number is version 0.
func splitKID(kid string) (string, int64) {
	i := strings.LastIndexByte(kid, '-')
	if i <= 0 {
		return kid, 0
	}
	v, err := strconv.ParseInt(kid[i+1:], 10, 64)
	if err != nil {
		return kid, 0
	}
	return kid[:i], v
}

// updateStatus writes the status computePolicyStatus gives, only when it differs from the stored
// one (a steady state writes nothing), after the metrics and, for a counted failure, its event;
// a counted failure's outcome learns its backoff from the new failure count.
func (r *KeyRotationPolicyReconciler) updateStatus(ctx context.Context, krp *rschedv1.KeyRotationPolicy, st *policyStatus, err error) error {
	// The wall clock stamps condition transitions, as meta.SetStatusCondition always has.
	next := computePolicyStatus(krp, st, err, metav1.Now())
	if o := countedFailure(err); o != nil {
		o.After = keyrotation.BackoffFor(next.FailedAttempts)
		rotationsTotal.WithLabelValues(krp.Namespace, krp.Name, "failure").Inc()
		if next.FailedAttempts == 1 || next.FailedAttempts%10 == 0 {
			r.event(krp, "Warning", rschedv1.ReasonRotationFailed, "Rotate", "Rotation failed: %s", safeMessage(err))
		}
	}
	recordPolicyMetrics(krp, &next)
	if equality.Semantic.DeepEqual(&krp.Status, &next) {
		return nil
	}
	patch := client.MergeFrom(krp.DeepCopy())
	krp.Status = next
	if err := r.Client.Status().Patch(ctx, krp, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// recordPolicyMetrics exports the next rotation time (none while suspended) and the version.
func recordPolicyMetrics(krp *rschedv1.KeyRotationPolicy, next *rschedv1.KeyRotationPolicyStatus) {
	if next.NextRotationTime != nil {
		nextRotation.WithLabelValues(krp.Namespace, krp.Name).Set(float64(next.NextRotationTime.Unix()))
	} else {
		nextRotation.DeleteLabelValues(krp.Namespace, krp.Name)
	}
	if next.CurrentVersion > 0 {
		currentVersion.WithLabelValues(krp.Namespace, krp.Name).Set(float64(next.CurrentVersion))
	}
}

// computePolicyStatus is the status the policy should show: a pure function of the policy as read,
// of what this reconcile found and did (st), of how it ended (err: nil, or an outcome) and of the
// time a condition that changes is stamped with. A counted failure (a rotation or a Vault call
// that failed) adds one to the failure count at st.now; success was recorded in st already.
func computePolicyStatus(krp *rschedv1.KeyRotationPolicy, st *policyStatus, err error, transition metav1.Time) rschedv1.KeyRotationPolicyStatus {
	next := st.next.DeepCopy()
	next.ObservedGeneration = krp.Generation
	if countedFailure(err) != nil {
		next.FailedAttempts++
		t := metav1.NewTime(st.now.Truncate(time.Second))
		next.LastFailureTime = &t
	}
	set := func(c metav1.Condition) {
		c.ObservedGeneration = krp.Generation
		c.LastTransitionTime = transition
		meta.SetStatusCondition(&next.Conditions, c)
	}
	switch st.vault.state {
	case vaultUnused:
		meta.RemoveStatusCondition(&next.Conditions, rschedv1.ConditionVaultReachable)
	case vaultRead:
		set(metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultOK,
			Message: "The operator read the keyring from Vault"})
	case vaultFailed:
		set(metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: st.vault.reason,
			Message: st.vault.message + "; the keys in use stay as they are"})
	}
	if c, ok := rotatingCondition(st, err); ok {
		set(c)
	}
	if c, ok := policyReadyCondition(krp, st, err); ok {
		set(c)
	}
	kstatusConditions(&next.Conditions, meta.FindStatusCondition(next.Conditions, rschedv1.ConditionRotating), krp.Generation, transition)
	return *next
}

// rotatingCondition: once the keyring was read, a rotation under way (or pods still loading the
// activated keyring) is True/Staged; none is False/Idle, unless the reconcile ended in an error,
// when what status said stands.
func rotatingCondition(st *policyStatus, err error) (metav1.Condition, bool) {
	switch {
	case !st.loaded:
		return metav1.Condition{}, false
	case st.rotatingWhy != "":
		return metav1.Condition{Type: rschedv1.ConditionRotating, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonStaged, Message: st.rotatingWhy}, true
	case err == nil:
		return metav1.Condition{Type: rschedv1.ConditionRotating, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonIdle, Message: "No rotation is under way"}, true
	}
	return metav1.Condition{}, false
}

// policyReadyCondition is Ready from the reconcile's outcome, in order: a block says its reason, a
// counted failure RotationFailed, any other error ReconcileError; else Suspended or Scheduled
// once the keyring was read.
func policyReadyCondition(krp *rschedv1.KeyRotationPolicy, st *policyStatus, err error) (metav1.Condition, bool) {
	kind, o := outcome.Of(err)
	switch {
	case kind == outcome.Blocked:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: o.Reason, Message: o.Message}, true
	case kind == outcome.Wait:
		return metav1.Condition{}, false // not yet, and nothing is wrong: Ready stands
	case countedFailure(err) != nil:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonRotationFailed,
			Message: "The keys could not be changed; the keys in use stay valid and the operator retries with backoff (see events)"}, true
	case err != nil:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonReconcileError,
			Message: "The operator could not read or write what it needs; it retries (see the operator's logs)"}, true
	case krp.Spec.Suspend:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonSuspended,
			Message: "Scheduled rotation is suspended; a manual request through the rotate annotation still rotates"}, true
	case st.loaded:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonScheduled,
			Message: "The keys are in place and the next rotation is scheduled"}, true
	}
	return metav1.Condition{}, false
}

// safeMessage is an error's text for an event: errors here never carry key material (keyring
// errors name kids only, Vault errors are classified without Vault's text), and the length is
// bounded.
func safeMessage(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

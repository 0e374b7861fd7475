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
	"github.com/rsched/rsched/internal/keyrotation"
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

// policyStatus collects what the steps found; updateStatus writes it when it changed.
type policyStatus struct {
	krp  *rschedv1.KeyRotationPolicy
	now  time.Time
	next *rschedv1.KeyRotationPolicyStatus

	decision     keyrotation.Decision
	blockedCond  *metav1.Condition
	vaultCond    *metav1.Condition
	removeVault  bool
	rotatingWhy  string
	loaded       bool
	err          error
	requeueAfter time.Duration
}

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

func (s *policyStatus) blocked(reason, msg string) {
	s.blockedCond = &metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	switch reason {
	case rschedv1.ReasonKeyringNotFound:
		s.requeue(retryShort)
	case rschedv1.ReasonTargetNotFound, rschedv1.ReasonKeyringInvalid:
		s.requeue(time.Minute)
	}
}

func (s *policyStatus) noVault() { s.removeVault = true }

func (s *policyStatus) vaultOK() {
	s.vaultCond = &metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultOK,
		Message: "The operator read the keyring from Vault"}
}

func (s *policyStatus) vaultDown(reason, msg string) {
	s.vaultCond = &metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: reason,
		Message: msg + "; the keys in use stay as they are"}
}

func (s *policyStatus) rotating(why string) { s.rotatingWhy = why }

// succeeded clears the failure count after a successful write.
func (s *policyStatus) succeeded() {
	s.next.FailedAttempts = 0
	s.next.LastFailureTime = nil
}

// failed records an error: a failed rotation counts and backs off; anything else retries.
func (s *policyStatus) failed(err error) {
	s.err = err
	if o := countedFailure(err); o != nil {
		s.next.FailedAttempts++
		t := metav1.NewTime(s.now.Truncate(time.Second))
		s.next.LastFailureTime = &t
		o.After = keyrotation.BackoffFor(s.next.FailedAttempts)
	}
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
func (r *KeyRotationPolicyReconciler) catchUp(krp *rschedv1.KeyRotationPolicy, kr *storedKeyring, st *policyStatus) {
	st.loaded = true
	f := kr.file
	behind := keyrotation.KeyVersion(f) != st.next.CurrentVersion || st.next.LastRotationTime == nil
	// What status held before the rotation it is now learning of: the schedule continues from
	// that rotation's due time, whether this reconcile staged it or read the policy from before
	// the status write that recorded it (a stale cache).
	prevNext := timeOf(st.next.NextRotationTime)
	manual := kr.request != "" && kr.request != st.next.LastRotateRequest
	if behind {
		st.next.CurrentVersion = keyrotation.KeyVersion(f)
		t := metav1.NewTime(newestCreation(f))
		st.next.LastRotationTime = &t
		if kr.request != "" {
			st.next.LastRotateRequest = kr.request
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

// updateStatus sets the conditions from what was found and writes status if it changed.
func (r *KeyRotationPolicyReconciler) updateStatus(ctx context.Context, krp *rschedv1.KeyRotationPolicy, st *policyStatus) error {
	next := st.next
	next.ObservedGeneration = krp.Generation
	set := func(c metav1.Condition) {
		c.ObservedGeneration = krp.Generation
		meta.SetStatusCondition(&next.Conditions, c)
	}
	if st.removeVault {
		meta.RemoveStatusCondition(&next.Conditions, rschedv1.ConditionVaultReachable)
	} else if st.vaultCond != nil {
		set(*st.vaultCond)
	}
	if st.loaded {
		if st.rotatingWhy != "" {
			set(metav1.Condition{Type: rschedv1.ConditionRotating, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonStaged, Message: st.rotatingWhy})
		} else if st.err == nil {
			set(metav1.Condition{Type: rschedv1.ConditionRotating, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonIdle, Message: "No rotation is under way"})
		}
	}
	switch {
	case st.blockedCond != nil:
		set(*st.blockedCond)
	case countedFailure(st.err) != nil:
		rotationsTotal.WithLabelValues(krp.Namespace, krp.Name, "failure").Inc()
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonRotationFailed,
			Message: "The keys could not be changed; the keys in use stay valid and the operator retries with backoff (see events)"})
		if next.FailedAttempts == 1 || next.FailedAttempts%10 == 0 {
			r.event(krp, "Warning", rschedv1.ReasonRotationFailed, "Rotate", "Rotation failed: %s", safeMessage(st.err))
		}
	case st.err != nil:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonReconcileError,
			Message: "The operator could not read or write what it needs; it retries (see the operator's logs)"})
	case krp.Spec.Suspend:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonSuspended,
			Message: "Scheduled rotation is suspended; a manual request through the rotate annotation still rotates"})
	case st.loaded:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonScheduled,
			Message: "The keys are in place and the next rotation is scheduled"})
	}
	if next.NextRotationTime != nil {
		nextRotation.WithLabelValues(krp.Namespace, krp.Name).Set(float64(next.NextRotationTime.Unix()))
	} else {
		nextRotation.DeleteLabelValues(krp.Namespace, krp.Name)
	}
	if next.CurrentVersion > 0 {
		currentVersion.WithLabelValues(krp.Namespace, krp.Name).Set(float64(next.CurrentVersion))
	}
	if equality.Semantic.DeepEqual(&krp.Status, next) {
		return nil
	}
	patch := client.MergeFrom(krp.DeepCopy())
	krp.Status = *next
	if err := r.Client.Status().Patch(ctx, krp, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
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

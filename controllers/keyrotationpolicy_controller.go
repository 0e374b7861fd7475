package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyringstore"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/vault"
)

// DefaultKeyPropagation is how long a staged key version is given to reach every pod when the
// operator cannot see the pods' keyring versions itself. Kubelet refreshes mounted Secrets every
// syncFrequency (1m by default) plus its cache TTL; the server's watcher reloads within seconds.
const DefaultKeyPropagation = 2 * time.Minute

// KeyRotationPolicyReconciler rotates the keys of one SchedulerInstance on a schedule. A rotation
// is two-phase: the next version of every key is staged (published, verifying and decrypting,
// not yet signing or encrypting); once every pod has loaded it, it is activated and the versions
// it replaces are demoted, later retired. Every decision is made from persisted state (status,
// the keyring itself, Vault), so a restarted operator carries on exactly where it stopped.
type KeyRotationPolicyReconciler struct {
	Client client.Client
	// APIReader reads what the cache does not hold (Secrets the user names for Vault login).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Vault     *vault.Factory
	Clock     clock.PassiveClock
	// Observer reports which keyring version each pod has loaded and the server's re-encryption
	// progress; nil means nothing can be observed (staged keys then activate after Propagation,
	// and encryption keys are kept rather than retired).
	Observer KeyObserver
	// Propagation is the wait before activating a staged version when the pods cannot be
	// observed to have loaded it (DefaultKeyPropagation when zero).
	Propagation time.Duration
}

// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=keyrotationpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=keyrotationpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=schedulerinstances,verbs=get;list;watch

// Reconcile runs the rotation as a short list of steps: check the spec against the world, load
// the keyring (repairing a half-written rotation), bring status up to the keyring, advance the
// rotation by at most one phase, write status.
func (r *KeyRotationPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	krp := &rschedv1.KeyRotationPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, krp); err != nil {
		if apierrors.IsNotFound(err) {
			forgetPolicyMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !krp.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	st := newPolicyStatus(krp, r.Clock.Now())
	if d, hold := keyrotation.Hold(decisionInput(krp, &krp.Status, st.now)); hold {
		// A failed attempt waits out its backoff, whatever event woke us; a spec change does not.
		return ctrl.Result{RequeueAfter: d.After}, nil
	}
	err := r.rotate(ctx, krp, st)
	if werr := r.updateStatus(ctx, krp, st, err); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	return outcome.Result(log.FromContext(ctx), err, st.requeueAfter)
}

// rotate runs the steps; each ends in nil or an outcome (internal/outcome), which Reconcile
// reports.
func (r *KeyRotationPolicyReconciler) rotate(ctx context.Context, krp *rschedv1.KeyRotationPolicy, st *policyStatus) error {
	si, err := r.checkSpec(ctx, krp, st.now)
	if err != nil {
		return err
	}
	kr, err := r.loadKeyring(ctx, krp, si, st)
	if err != nil {
		return err
	}
	r.catchUp(krp, kr, st)
	w, err := r.gatherWorkload(ctx, krp, si, kr)
	if err != nil {
		return err
	}
	if err := r.advance(ctx, krp, si, kr, w, st); err != nil {
		return err
	}
	if st.decision.Reason != keyrotation.BackingOff {
		st.succeeded() // whatever failed before has now gone through
	}
	return nil
}

// decisionInput is what the decision chain reads: the spec, the rotate annotation and status
// (as stored, or as caught up with the keyring).
func decisionInput(krp *rschedv1.KeyRotationPolicy, status *rschedv1.KeyRotationPolicyStatus, now time.Time) keyrotation.Input {
	return keyrotation.Input{
		Now:               now,
		Suspended:         krp.Spec.Suspend,
		SpecChanged:       krp.Status.ObservedGeneration != krp.Generation,
		NextRotation:      timeOf(status.NextRotationTime),
		RotateRequest:     krp.Annotations[rschedv1.RotateAnnotation],
		LastRotateRequest: status.LastRotateRequest,
		FailedAttempts:    status.FailedAttempts,
		LastFailure:       timeOf(status.LastFailureTime),
	}
}

// checkSpec finds the target and refuses what the schema cannot: an unknown time zone, Vault
// storage for an instance without Vault, a second policy for the same instance. It returns the
// target, or a block (policyBlocked) saying what a person must change.
func (r *KeyRotationPolicyReconciler) checkSpec(ctx context.Context, krp *rschedv1.KeyRotationPolicy, now time.Time) (*rschedv1.SchedulerInstance, error) {
	if _, err := keyrotation.Next(krp.Spec.Schedule, now); err != nil {
		reason := rschedv1.ReasonInvalidSchedule
		if krp.Spec.Schedule.TimeZone != "" && krp.Spec.Schedule.Cron != "" {
			reason = rschedv1.ReasonUnknownTimeZone
		}
		return nil, policyBlocked(reason, fmt.Sprintf("spec.schedule cannot be used: %v", err))
	}
	si := &rschedv1.SchedulerInstance{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: krp.Namespace, Name: krp.Spec.TargetRef.Name}, si)
	if apierrors.IsNotFound(err) {
		return nil, policyBlocked(rschedv1.ReasonTargetNotFound, fmt.Sprintf("SchedulerInstance %q does not exist in this namespace", krp.Spec.TargetRef.Name))
	} else if err != nil {
		return nil, fmt.Errorf("reading the target: %w", err)
	}
	if other, err := r.olderPolicy(ctx, krp); err != nil {
		return nil, err
	} else if other != "" {
		return nil, policyBlocked(rschedv1.ReasonTargetConflict, fmt.Sprintf("KeyRotationPolicy %q already rotates the keys of SchedulerInstance %q; this one rotates nothing", other, si.Name))
	}
	if krp.Spec.Storage != nil && krp.Spec.Storage.Vault != nil && si.Spec.Vault == nil {
		return nil, policyBlocked(rschedv1.ReasonStorageNeedsVault, fmt.Sprintf("spec.storage.vault uses the Vault connection of SchedulerInstance %q, which has no spec.vault", si.Name))
	}
	return si, nil
}

// olderPolicy names another policy for the same target that takes precedence (the older one;
// the name breaks a tie), or "".
func (r *KeyRotationPolicyReconciler) olderPolicy(ctx context.Context, krp *rschedv1.KeyRotationPolicy) (string, error) {
	others, err := policiesFor(ctx, r.Client, krp.Namespace, krp.Spec.TargetRef.Name)
	if err != nil {
		return "", fmt.Errorf("listing policies: %w", err)
	}
	// The oldest of them is named, so the message (and status) does not depend on list order.
	precedes := func(a, b *rschedv1.KeyRotationPolicy) bool {
		c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
		return c < 0 || (c == 0 && a.Name < b.Name)
	}
	var oldest *rschedv1.KeyRotationPolicy
	for i := range others {
		o := &others[i]
		if o.UID == krp.UID || !o.DeletionTimestamp.IsZero() || !precedes(o, krp) {
			continue
		}
		if oldest == nil || precedes(o, oldest) {
			oldest = o
		}
	}
	if oldest == nil {
		return "", nil
	}
	return oldest.Name, nil
}

// policiesFor lists the policies of a namespace that target instance (a namespace holds few).
func policiesFor(ctx context.Context, c client.Reader, namespace, instance string) ([]rschedv1.KeyRotationPolicy, error) {
	list := &rschedv1.KeyRotationPolicyList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(p rschedv1.KeyRotationPolicy) bool { return p.Spec.TargetRef.Name != instance }), nil
}

// advance moves the rotation on by at most one phase: activate a staged version once every pod
// has it; else retire what retention allows; else rotate if the decision chain says so.
func (r *KeyRotationPolicyReconciler) advance(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring, w workload, st *policyStatus) error {
	if keyringstore.HasStaged(kr.File) {
		return r.activateWhenPropagated(ctx, krp, si, kr, w, st)
	}
	if err := r.retire(ctx, krp, si, kr, w.pods, st); err != nil {
		return err
	}
	reportLaggingPods(w.pods, kr.File, st)
	d := keyrotation.Decide(decisionInput(krp, st.next, st.now))
	st.decision = d
	if !d.Rotate {
		if d.After > 0 {
			st.requeue(d.After)
		}
		return nil
	}
	return r.stage(ctx, krp, si, kr, st, d)
}

// stage writes the next version of every key of the policy, staged.
func (r *KeyRotationPolicyReconciler) stage(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring, st *policyStatus, d keyrotation.Decision) error {
	next, err := keyrotation.Stage(kr.File, krp.Spec.Keys, st.now)
	if err != nil {
		return failedRotation(err)
	}
	request := st.next.LastRotateRequest
	if d.Reason == keyrotation.ManualRequest {
		request = krp.Annotations[rschedv1.RotateAnnotation]
	}
	if err := r.keyrings().Write(ctx, krp, si, kr, next, request); err != nil {
		return failedRotation(err)
	}
	if d.Reason == keyrotation.Due {
		rotationLateness.Observe(st.now.Sub(timeOf(st.next.NextRotationTime)).Seconds())
	}
	r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonStaged, "Stage", "Staged keyring version %d (%s); it becomes active once every pod has loaded it", keyrotation.KeyVersion(next), reasonText(d.Reason))
	st.succeeded()
	// Status learns of the rotation from the keyring, as any later reconcile would: the schedule
	// continues from the time the rotation was due (keyrotation.ScheduleBase), so a late reconcile
	// does not shift every later rotation; one overdue by more than a period starts afresh.
	r.catchUp(krp, kr, st)
	st.rotating(fmt.Sprintf("Keyring version %d is staged; waiting for every pod to load it", keyrotation.KeyVersion(next)))
	st.requeue(time.Second) // check propagation soon; the observer usually sees it within seconds
	return nil
}

// activateWhenPropagated makes the staged version active once every pod has loaded it: for
// RollingRestart when the Deployment has rolled out with the version on its pod template; for
// HotReload when the observer sees the version on every ready pod, or after Propagation.
func (r *KeyRotationPolicyReconciler) activateWhenPropagated(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring, w workload, st *policyStatus) error {
	if err := r.requestRestart(ctx, krp, si, kr, w); err != nil {
		return err
	}
	ready, wait, why := propagated(krp, kr.File, w, publishedAt(kr), st.now, r.propagation())
	if !ready {
		st.rotating(why)
		st.requeue(wait)
		return nil
	}
	next, err := keyrotation.Activate(kr.File, st.now, r.retention(krp, st))
	if err != nil {
		return failedRotation(err)
	}
	retired := newlyRetired(kr.File, next)
	if err := r.keyrings().Write(ctx, krp, si, kr, next, kr.Request); err != nil {
		return failedRotation(err)
	}
	rotationsTotal.WithLabelValues(krp.Namespace, krp.Name, "success").Inc()
	r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonRotated, "Rotate", "Keyring version %d is active: new tokens and data use it, the keys it replaced stay usable for the grace period", keyrotation.KeyVersion(next))
	for _, kid := range retired {
		r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonKeyRetired, "Retire", "Key %s retired", kid)
	}
	st.succeeded()
	r.catchUp(krp, kr, st)
	st.requeueForRetirement(kr.File)
	reportLaggingPods(w.pods, kr.File, st) // the activated keyring has yet to reach the pods
	return nil
}

// retire applies retention between rotations: a verify-only key past its grace period and, when
// the server reports them drained, encryption keys beyond spec.retain.
func (r *KeyRotationPolicyReconciler) retire(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring, pods podsSeen, st *policyStatus) error {
	ret := r.retention(krp, st)
	if pods.observer && needsObservation(kr.File, ret.Retain) {
		ret.Drained = drained(pods, kr.File)
	}
	next, changed, err := keyrotation.Retire(kr.File, st.now, ret)
	if err != nil {
		return failedRotation(err)
	}
	if changed {
		retired := newlyRetired(kr.File, next)
		if err := r.keyrings().Write(ctx, krp, si, kr, next, kr.Request); err != nil {
			return failedRotation(err)
		}
		for _, kid := range retired {
			r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonKeyRetired, "Retire", "Key %s retired", kid)
		}
		r.catchUp(krp, kr, st)
	}
	st.requeueForRetirement(kr.File)
	if pods.observer && needsObservation(kr.File, ret.Retain) {
		st.requeue(retentionRecheck) // the server's rewrap progress is polled, not watched
	}
	return nil
}

// retentionRecheck is how often the server's re-encryption progress is checked while an
// encryption key beyond spec.retain waits for its data to be re-encrypted.
const retentionRecheck = time.Minute

func (r *KeyRotationPolicyReconciler) retention(krp *rschedv1.KeyRotationPolicy, _ *policyStatus) keyrotation.Retention {
	grace := 24 * time.Hour
	if krp.Spec.GracePeriod != nil {
		grace = krp.Spec.GracePeriod.Duration
	}
	retain := int(krp.Spec.Retain)
	if retain <= 0 {
		retain = 3
	}
	// A pod may go on signing with the replaced key until it reloads the activated keyring (up
	// to the propagation time): its last such token must still verify for the grace period.
	return keyrotation.Retention{Grace: grace + r.propagation(), Retain: retain}
}

func (r *KeyRotationPolicyReconciler) propagation() time.Duration {
	if r.Propagation > 0 {
		return r.Propagation
	}
	return DefaultKeyPropagation
}

// failedRotation is err as a failed attempt to change the keys (counted in status, evented and
// backed off), except a wait (a lost check-and-set race), which is retried shortly without
// counting as a failure.
func failedRotation(err error) error {
	if outcome.Is(err, outcome.Wait) {
		return err
	}
	return &outcome.Outcome{Kind: outcome.Failed, Condition: rschedv1.ConditionReady, Reason: rschedv1.ReasonRotationFailed, Cause: err}
}

// countedFailure is err's outcome when it is a failed attempt the policy counts (a rotation or a
// Vault call that failed), or nil.
func countedFailure(err error) *outcome.Outcome {
	if kind, o := outcome.Of(err); kind == outcome.Failed && o.Reason == rschedv1.ReasonRotationFailed {
		return o
	}
	return nil
}

// SetupWithManager watches policies (spec and annotation changes), their targets and the keyring
// Secrets and Deployments of those targets.
func (r *KeyRotationPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byInstance := func(ctx context.Context, name, namespace string) []reconcile.Request {
		list, err := policiesFor(ctx, mgr.GetClient(), namespace, name)
		if err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list))
		for i := range list {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: list[i].Name}})
		}
		return out
	}
	owned := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[builders.LabelInstance]
		if name == "" || o.GetLabels()[builders.LabelManagedBy] != builders.ManagedBy {
			return nil
		}
		return byInstance(ctx, name, o.GetNamespace())
	})
	instance := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return byInstance(ctx, o.GetName(), o.GetNamespace())
	})
	policies := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		// A policy deleted or retargeted frees its instance for a waiting one.
		return byInstance(ctx, o.(*rschedv1.KeyRotationPolicy).Spec.TargetRef.Name, o.GetNamespace())
	})
	keyringOnly := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetName() == o.GetLabels()[builders.LabelInstance]+"-keyring"
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&rschedv1.KeyRotationPolicy{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&rschedv1.KeyRotationPolicy{}, policies, builder.WithPredicates(deletedOnly())).
		// Created, deleted or respecified (spec.vault added for storage.vault, say).
		Watches(&rschedv1.SchedulerInstance{}, instance, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, owned, builder.WithPredicates(keyringOnly)).
		Watches(&appsv1.Deployment{}, owned, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Named("keyrotationpolicy").
		Complete(r)
}

func deletedOnly() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// event records an event on the policy; notes never carry key material.
func (r *KeyRotationPolicyReconciler) event(krp *rschedv1.KeyRotationPolicy, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(krp, nil, typ, reason, action, note, args...)
	}
}

func reasonText(r keyrotation.Reason) string {
	switch r {
	case keyrotation.ManualRequest:
		return "requested through the " + rschedv1.RotateAnnotation + " annotation"
	case keyrotation.Due:
		return "the schedule was due"
	}
	return string(r)
}

// publishedAt is when the keyring Secret first carried the staged version (the pods' clock of
// propagation starts there, not at the Vault write), from the annotation the keyring store sets
// (the staging time rounded up to the second); a second after the staged keys' creation time if
// the annotation is missing. Never before the real staging time.
func publishedAt(kr *keyringstore.Keyring) time.Time {
	if kr.Secret != nil {
		v, at, ok := strings.Cut(kr.Secret.Annotations[rschedv1.StagedAnnotation], "@")
		if t, err := time.Parse(time.RFC3339, at); ok && err == nil && v == strconv.FormatInt(keyrotation.KeyVersion(kr.File), 10) {
			return t
		}
	}
	for _, k := range slices.Concat(kr.File.Signing, kr.File.Encryption) {
		if k.State == keyring.Staged {
			// Creation times are kept in whole seconds, truncated: the staging may have
			// happened up to a second later, and the wait must not end before it would.
			return k.CreatedAt.Add(time.Second)
		}
	}
	return time.Time{}
}

// newlyRetired lists the kids retired between prev and next.
func newlyRetired(prev, next *keyring.File) []string {
	was := map[string]keyring.State{}
	for _, k := range slices.Concat(prev.Signing, prev.Encryption) {
		was[k.KID] = k.State
	}
	var out []string
	for _, k := range slices.Concat(next.Signing, next.Encryption) {
		if k.State == keyring.Retired && was[k.KID] != keyring.Retired {
			out = append(out, k.KID)
		}
	}
	return out
}

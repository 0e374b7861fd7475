package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsync"
)

// statusBuilder collects what the steps found; updateStatus turns it into the status.
type statusBuilder struct {
	si  *rschedv1.SchedulerInstance
	now time.Time

	deployment      *appsv1.Deployment
	keyVersion      int64
	networkPolicies int
	requeueAfter    time.Duration

	// tls and certCond are what the certificate step found (nil: keep what status says).
	tls      *rschedv1.TLSStatus
	certCond *metav1.Condition

	secretCond *metav1.Condition // nil: keep what status says
	vaultCond  *metav1.Condition
	vaultFails *int32
	// lastVaultFailure is the time of the failed Vault read this reconcile made (nil: none, or
	// cleared by a success when vaultFails is 0).
	lastVaultFailure *metav1.Time
	lastSync         *metav1.Time
	stepErr          error
	staleSecret      bool
	secretsDone      bool
}

func newStatusBuilder(si *rschedv1.SchedulerInstance, now time.Time) *statusBuilder {
	return &statusBuilder{si: si, now: now}
}

// requeueWithin brings the reconcile back within d (0: no such need), keeping an earlier time.
func (b *statusBuilder) requeueWithin(d time.Duration) {
	if d > 0 && (b.requeueAfter == 0 || d < b.requeueAfter) {
		b.requeueAfter = d
	}
}

func (b *statusBuilder) secretsSynced(usesVault bool, now time.Time) {
	b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonSecretsSynced,
		Message: "The server's secrets were copied from their sources"}
	zero := int32(0)
	b.vaultFails = &zero
	t := metav1.NewTime(now.Truncate(time.Second))
	b.lastSync = &t
	if usesVault {
		b.vaultCond = &metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultOK,
			Message: "The operator logged in to Vault and read the configured secrets"}
	}
}

// recordSecrets records what the secret sync found and did.
func (b *statusBuilder) recordSecrets(res secretsync.Result, err error) {
	kind, o := outcome.Of(err)
	switch {
	case res.Synced:
		b.secretsSynced(res.UsesVault, b.now)
		b.secretsDone = true
	case res.Action == secretsync.UpToDate && kind == outcome.Done:
		b.secretsDone = true
	case res.Action == secretsync.InBackoff:
		b.staleSecret = res.Stale
	case kind == outcome.Blocked && o.Condition == rschedv1.ConditionSecretsSynced:
		b.secretsMissing(o.Reason, o.Message)
	case kind == outcome.Failed && res.Failures > 0:
		b.vaultFailed(o.Reason, o.Message, res.Failures)
	}
	if kind == outcome.Done {
		b.requeueWithin(res.RequeueAfter) // the next refresh
	}
}

func (b *statusBuilder) vaultFailed(reason, msg string, failures int32) {
	b.vaultCond = &metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: reason,
		Message: msg + "; the last good Secrets stay in place"}
	b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	b.vaultFails = &failures
	t := metav1.NewTime(b.now.Truncate(time.Second))
	b.lastVaultFailure = &t
	b.staleSecret = true
}

func (b *statusBuilder) secretsMissing(reason, msg string) {
	b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

func (b *statusBuilder) reconcileError(err error) {
	b.stepErr = err
	if b.secretCond == nil && unexpected(err) && !b.secretsDone {
		// The sources were not copied this time (an API error): say so, so that the next
		// reconcile reads them again instead of trusting an old True.
		b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse,
			Reason: rschedv1.ReasonReconcileError, Message: "The server's secrets could not be written; the operator retries"}
	}
}

// updateStatus writes the status computeInstanceStatus gives, only when it differs from the
// stored one: a steady state makes no status write (messages carry no times or counters for that
// reason).
func (r *SchedulerInstanceReconciler) updateStatus(ctx context.Context, si *rschedv1.SchedulerInstance, b *statusBuilder) error {
	// The wall clock stamps condition transitions, as meta.SetStatusCondition always has.
	next := computeInstanceStatus(si, b, metav1.Now())
	recordInstanceMetrics(si, &next)
	if equality.Semantic.DeepEqual(&si.Status, &next) {
		return nil
	}
	patch := client.MergeFrom(si.DeepCopy())
	si.Status = next
	if err := r.Client.Status().Patch(ctx, si, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// recordInstanceMetrics exports the instance's readiness and last secret sync time.
func recordInstanceMetrics(si *rschedv1.SchedulerInstance, next *rschedv1.SchedulerInstanceStatus) {
	ready := 0.0
	if meta.IsStatusConditionTrue(next.Conditions, rschedv1.ConditionReady) {
		ready = 1
	}
	instanceReady.WithLabelValues(si.Namespace, si.Name).Set(ready)
	if next.LastSecretSyncTime != nil {
		secretSyncTime.WithLabelValues(si.Namespace, si.Name).Set(float64(next.LastSecretSyncTime.Unix()))
	}
	recordCertificateMetrics(si.Namespace, si.Name, next.TLS)
}

// computeInstanceStatus is the status the instance should show: a pure function of the instance
// as read (its spec and stored status), of what this reconcile observed and did (b), and of the
// time a condition that changes is stamped with. Conditions are set in a fixed order (secrets,
// Vault, network policy, progressing, ready, degraded) so that a steady state compares equal.
func computeInstanceStatus(si *rschedv1.SchedulerInstance, b *statusBuilder, transition metav1.Time) rschedv1.SchedulerInstanceStatus {
	next := si.Status.DeepCopy()
	next.ObservedGeneration = si.Generation
	next.Endpoint = builders.Endpoint(si)
	if b.keyVersion > 0 {
		next.KeyVersion = b.keyVersion
	}
	if b.lastSync != nil {
		next.LastSecretSyncTime = b.lastSync
	}
	if b.vaultFails != nil {
		next.VaultFailures, next.LastVaultFailureTime = *b.vaultFails, b.lastVaultFailure
	}
	set := func(c metav1.Condition) {
		c.ObservedGeneration = si.Generation
		c.LastTransitionTime = transition
		meta.SetStatusCondition(&next.Conditions, c)
	}
	if b.secretCond != nil {
		set(*b.secretCond)
	}
	if si.Spec.Vault == nil {
		meta.RemoveStatusCondition(&next.Conditions, rschedv1.ConditionVaultReachable)
		next.VaultFailures, next.LastVaultFailureTime = 0, nil
	} else if b.vaultCond != nil {
		set(*b.vaultCond)
	}
	if b.tls != nil {
		next.TLS = b.tls
	}
	if b.certCond != nil {
		set(*b.certCond)
	}
	if c, ok := networkPolicyCondition(b); ok {
		set(c)
	}
	ro := observeRollout(b.deployment)
	if b.deployment != nil {
		next.Replicas, next.ReadyReplicas = ro.desired, ro.ready
	}
	next.ReplicaSummary = fmt.Sprintf("%d/%d", next.ReadyReplicas, next.Replicas)
	if c, ok := progressingCondition(ro); ok {
		set(c)
	}
	set(readyCondition(b, ro))
	set(degradedCondition(si, b, ro))
	kstatusConditions(&next.Conditions, nil, si.Generation, transition)
	if b.staleSecret && si.Status.LastSecretSyncTime != nil {
		next.LastSecretSyncTime = si.Status.LastSecretSyncTime
	}
	return *next
}

// rollout is what the Deployment shows: exists is false when there is none (yet).
type rollout struct {
	exists, rolling, available bool
	desired, ready             int32
}

func observeRollout(d *appsv1.Deployment) rollout {
	if d == nil {
		return rollout{}
	}
	ro := rollout{exists: true, ready: d.Status.ReadyReplicas}
	if d.Spec.Replicas != nil {
		ro.desired = *d.Spec.Replicas
	}
	ro.rolling = d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < ro.desired || d.Status.Replicas > ro.desired
	ro.available = ro.desired > 0 && ro.ready >= ro.desired && !ro.rolling
	return ro
}

// networkPolicyCondition: Enforced when policies were applied, Disabled when none are managed
// and the reconcile got through; otherwise (false) the stored condition stands.
func networkPolicyCondition(b *statusBuilder) (metav1.Condition, bool) {
	switch {
	case b.networkPolicies > 0:
		return metav1.Condition{Type: rschedv1.ConditionNetworkPolicyApplied, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonPolicyEnforced,
			Message: fmt.Sprintf("%d NetworkPolicies restrict the server's traffic", b.networkPolicies)}, true
	case b.stepErr == nil:
		return metav1.Condition{Type: rschedv1.ConditionNetworkPolicyApplied, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonPolicyDisabled,
			Message: "spec.network.policy is Disabled: no NetworkPolicies are managed"}, true
	}
	return metav1.Condition{}, false
}

// progressingCondition: RollingOut or RolloutComplete; without a Deployment (false) the stored
// condition stands.
func progressingCondition(ro rollout) (metav1.Condition, bool) {
	switch {
	case ro.rolling:
		return metav1.Condition{Type: rschedv1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonRollingOut,
			Message: "A new version of the server is being rolled out"}, true
	case ro.exists:
		return metav1.Condition{Type: rschedv1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonRolloutComplete,
			Message: "Every replica runs the current version"}, true
	}
	return metav1.Condition{}, false
}

// unexpected: err is not an outcome the reconciler understood (a Wait, a Blocked, a counted
// Failed) but an error it retries through the rate limiter (the API server refused a write, say).
func unexpected(err error) bool {
	kind, o := outcome.Of(err)
	return kind == outcome.Failed && o.After == 0
}

// readyCondition is Ready from the first that holds: a block Ready reports (ImageNotSet,
// InvalidConfig, NameConflict, KeyringMissing); an unexpected error; a source that cannot be read
// before anything was deployed; all replicas ready; otherwise not yet.
func readyCondition(b *statusBuilder, ro rollout) metav1.Condition {
	notReady := func(reason, msg string) metav1.Condition {
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	}
	kind, o := outcome.Of(b.stepErr)
	switch {
	case kind == outcome.Blocked && o.Condition == rschedv1.ConditionReady:
		// A person must act, and the block says why.
		return notReady(o.Reason, o.Message)
	case unexpected(b.stepErr):
		return notReady(rschedv1.ReasonReconcileError, "The operator could not apply the desired state; it retries (see the operator's events and logs)")
	case !ro.exists && b.secretCond != nil && b.secretCond.Status == metav1.ConditionFalse && !b.staleSecret:
		return notReady(b.secretCond.Reason, b.secretCond.Message)
	case ro.available:
		return metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonAvailable,
			Message: "All replicas of the server are ready"}
	}
	return notReady(rschedv1.ReasonDeploymentUnavailable, "Not all replicas of the server are ready yet")
}

// degradedCondition: stale secrets first, then fewer ready replicas than desired outside a
// rollout of an instance that was Ready (and stays so until the replicas are back: Ready turns
// False at once, so the stored Degraded carries it), otherwise nothing.
func degradedCondition(si *rschedv1.SchedulerInstance, b *statusBuilder, ro rollout) metav1.Condition {
	wasServing := conditionTrue(si, rschedv1.ConditionReady) || degradedBy(si, rschedv1.ReasonReplicasUnavailable)
	switch {
	case b.staleSecret:
		return metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultUnreachable,
			Message: "Secrets could not be refreshed from Vault; the server runs on the last good ones"}
	case ro.exists && ro.ready < ro.desired && !ro.rolling && wasServing:
		return metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonReplicasUnavailable,
			Message: "Fewer replicas are ready than desired"}
	}
	return metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonAvailable,
		Message: "Nothing is degraded"}
}

// degradedBy reports whether the stored Degraded condition is True for reason.
func degradedBy(si *rschedv1.SchedulerInstance, reason string) bool {
	c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionDegraded)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
)

// statusBuilder collects what the steps found; updateStatus turns it into the status.
type statusBuilder struct {
	si  *rschedv1.SchedulerInstance
	now time.Time

	configHash      string
	deployment      *appsv1.Deployment
	keyVersion      int64
	networkPolicies int
	imageMissing    bool
	requeueAfter    time.Duration

	secretCond  *metav1.Condition // nil: keep what status says
	vaultCond   *metav1.Condition
	vaultFails  *int32
	lastSync    *metav1.Time
	stepErr     error
	staleSecret bool
	// lastGood is true when the instance's database Secret exists, so the server can run on it
	// while its source cannot be read.
	lastGood    bool
	secretsDone bool
	// databaseRevision is the database Secret's revision counter (pod template annotation).
	databaseRevision string
	// keyRollout is the keyring version a KeyRotationPolicy with rollout RollingRestart asks the
	// pods to be restarted for (pod template annotation).
	keyRollout string
}

func newStatusBuilder(si *rschedv1.SchedulerInstance, now time.Time) *statusBuilder {
	return &statusBuilder{si: si, now: now}
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

func (b *statusBuilder) vaultFailed(reason, msg string, failures int32) {
	b.vaultCond = &metav1.Condition{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: reason,
		Message: msg + "; the last good Secrets stay in place"}
	b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	b.vaultFails = &failures
	b.staleSecret = true
}

func (b *statusBuilder) secretsMissing(reason, msg string) {
	b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

func (b *statusBuilder) sameSecretCondition(reason, msg string) bool {
	c := meta.FindStatusCondition(b.si.Status.Conditions, rschedv1.ConditionSecretsSynced)
	return c != nil && c.Reason == reason && c.Message == msg
}

func (b *statusBuilder) reconcileError(err error) {
	b.stepErr = err
	var wait *waitError
	if b.secretCond == nil && !errors.As(err, &wait) && !b.secretsDone {
		// The sources were not copied this time (an API error): say so, so that the next
		// reconcile reads them again instead of trusting an old True.
		b.secretCond = &metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: metav1.ConditionFalse,
			Reason: rschedv1.ReasonReconcileError, Message: "The server's secrets could not be written; the operator retries"}
	}
}

// updateStatus computes the new status and writes it only when it differs from the stored one:
// a steady state makes no status write (messages carry no times or counters for that reason).
func (r *SchedulerInstanceReconciler) updateStatus(ctx context.Context, si *rschedv1.SchedulerInstance, b *statusBuilder) error {
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
		next.VaultFailures = *b.vaultFails
	}
	set := func(c metav1.Condition) {
		c.ObservedGeneration = si.Generation
		meta.SetStatusCondition(&next.Conditions, c)
	}
	if b.secretCond != nil {
		set(*b.secretCond)
	}
	usesVault := si.Spec.Vault != nil
	if !usesVault {
		meta.RemoveStatusCondition(&next.Conditions, rschedv1.ConditionVaultReachable)
		next.VaultFailures = 0
	} else if b.vaultCond != nil {
		set(*b.vaultCond)
	}
	if b.networkPolicies > 0 {
		set(metav1.Condition{Type: rschedv1.ConditionNetworkPolicyApplied, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonPolicyEnforced,
			Message: fmt.Sprintf("%d NetworkPolicies restrict the server's traffic", b.networkPolicies)})
	} else if b.stepErr == nil {
		set(metav1.Condition{Type: rschedv1.ConditionNetworkPolicyApplied, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonPolicyDisabled,
			Message: "spec.network.policy is Disabled: no NetworkPolicies are managed"})
	}

	desired := int32(0)
	if d := b.deployment; d != nil {
		if d.Spec.Replicas != nil {
			desired = *d.Spec.Replicas
		}
		next.Replicas, next.ReadyReplicas = desired, d.Status.ReadyReplicas
	}
	next.ReplicaSummary = fmt.Sprintf("%d/%d", next.ReadyReplicas, next.Replicas)
	rolling := b.deployment != nil && (b.deployment.Status.ObservedGeneration < b.deployment.Generation ||
		b.deployment.Status.UpdatedReplicas < desired || b.deployment.Status.Replicas > desired)
	available := b.deployment != nil && desired > 0 && b.deployment.Status.ReadyReplicas >= desired && !rolling
	if rolling {
		set(metav1.Condition{Type: rschedv1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonRollingOut,
			Message: "A new version of the server is being rolled out"})
	} else if b.deployment != nil {
		set(metav1.Condition{Type: rschedv1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonRolloutComplete,
			Message: "Every replica runs the current version"})
	}

	var wait *waitError
	switch {
	case b.imageMissing:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonImageNotSet,
			Message: "No image: set spec.image or start the operator with --scheduler-image"})
	case b.stepErr != nil && errors.As(b.stepErr, &wait) && wait.readyReason != "":
		// InvalidConfig, NameConflict, KeyringMissing: a person must act, and the wait says why.
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: wait.readyReason, Message: wait.reason})
	case b.stepErr != nil && !errors.As(b.stepErr, &wait):
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonReconcileError,
			Message: "The operator could not apply the desired state; it retries (see the operator's events and logs)"})
	case b.deployment == nil && b.secretCond != nil && b.secretCond.Status == metav1.ConditionFalse && !b.staleSecret:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: b.secretCond.Reason, Message: b.secretCond.Message})
	case available:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonAvailable,
			Message: "All replicas of the server are ready"})
	default:
		set(metav1.Condition{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonDeploymentUnavailable,
			Message: "Not all replicas of the server are ready yet"})
	}
	degraded := b.staleSecret || (b.deployment != nil && next.ReadyReplicas < desired && !rolling && conditionTrue(si, rschedv1.ConditionReady))
	switch {
	case b.staleSecret:
		set(metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultUnreachable,
			Message: "Secrets could not be refreshed from Vault; the server runs on the last good ones"})
	case degraded:
		set(metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonReplicasUnavailable,
			Message: "Fewer replicas are ready than desired"})
	default:
		set(metav1.Condition{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonAvailable,
			Message: "Nothing is degraded"})
	}
	if b.staleSecret && si.Status.LastSecretSyncTime != nil {
		next.LastSecretSyncTime = si.Status.LastSecretSyncTime
	}
	ready := 0.0
	if meta.IsStatusConditionTrue(next.Conditions, rschedv1.ConditionReady) {
		ready = 1
	}
	instanceReady.WithLabelValues(si.Namespace, si.Name).Set(ready)
	if next.LastSecretSyncTime != nil {
		secretSyncTime.WithLabelValues(si.Namespace, si.Name).Set(float64(next.LastSecretSyncTime.Unix()))
	}
	if equality.Semantic.DeepEqual(&si.Status, next) {
		return nil
	}
	patch := client.MergeFrom(si.DeepCopy())
	si.Status = *next
	if err := r.Client.Status().Patch(ctx, si, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

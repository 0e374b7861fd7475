package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// stalledReasons are the Ready reasons, of either kind, that no retry can fix: a person must
// change the spec or what it names. They make Stalled=True, which kstatus reads as Failed, so that
// `flux … --wait` and kubectl-style waits fail at once instead of sitting until their timeout.
// Every other Ready=False reason is one the operator works through by itself (a rollout, Vault
// unreachable, a rotation retried with backoff): Reconciling=True, InProgress. docs/gitops.md
// lists the same set, and TestKstatusOfEveryReason keeps the two equal.
var stalledReasons = map[string]bool{
	// SchedulerInstance
	rschedv1.ReasonInvalidConfig:      true,
	rschedv1.ReasonImageNotSet:        true,
	rschedv1.ReasonNameConflict:       true,
	rschedv1.ReasonSecretNotFound:     true,
	rschedv1.ReasonSecretKeyMissing:   true,
	rschedv1.ReasonVaultAuthFailed:    true,
	rschedv1.ReasonVaultReadFailed:    true,
	rschedv1.ReasonVaultNotConfigured: true,
	rschedv1.ReasonKeyringMissing:     true,
	rschedv1.ReasonCertificateInvalid: true,
	rschedv1.ReasonCertManagerMissing: true,
	rschedv1.ReasonInvalidDatabaseTLS: true,
	// KeyRotationPolicy
	rschedv1.ReasonUnknownTimeZone:   true,
	rschedv1.ReasonInvalidSchedule:   true,
	rschedv1.ReasonStorageNeedsVault: true,
	rschedv1.ReasonTargetConflict:    true,
	rschedv1.ReasonKeyringInvalid:    true,
}

// kstatusConditions derives Stalled and Reconciling from Ready and, when Ready is True, from busy
// (a condition saying work is under way, e.g. a policy's Rotating=True; nil when none), and sets
// or removes them in conds. Both are "abnormal-true" conditions in the kstatus sense: present only
// while True, so a converged object shows neither.
func kstatusConditions(conds *[]metav1.Condition, busy *metav1.Condition, generation int64, transition metav1.Time) {
	set := func(typ, reason, msg string) {
		meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg,
			ObservedGeneration: generation, LastTransitionTime: transition})
	}
	ready := meta.FindStatusCondition(*conds, rschedv1.ConditionReady)
	switch {
	case ready == nil:
		meta.RemoveStatusCondition(conds, rschedv1.ConditionStalled)
		set(rschedv1.ConditionReconciling, rschedv1.ReasonPending, "The operator has not reported readiness yet")
	case ready.Status != metav1.ConditionTrue && stalledReasons[ready.Reason]:
		meta.RemoveStatusCondition(conds, rschedv1.ConditionReconciling)
		set(rschedv1.ConditionStalled, ready.Reason, ready.Message)
	case ready.Status != metav1.ConditionTrue:
		meta.RemoveStatusCondition(conds, rschedv1.ConditionStalled)
		set(rschedv1.ConditionReconciling, ready.Reason, ready.Message)
	case busy != nil && busy.Status == metav1.ConditionTrue:
		meta.RemoveStatusCondition(conds, rschedv1.ConditionStalled)
		set(rschedv1.ConditionReconciling, busy.Reason, busy.Message)
	default:
		meta.RemoveStatusCondition(conds, rschedv1.ConditionStalled)
		meta.RemoveStatusCondition(conds, rschedv1.ConditionReconciling)
	}
}

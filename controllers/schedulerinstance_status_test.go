package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/outcome"
)

// statusCase is one reconcile's outcome: the instance as read, what the steps recorded in the
// builder, and the conditions (type → "Status/Reason") the status must show. A condition missing
// from want must be absent.
type statusCase struct {
	name  string
	si    func() *rschedv1.SchedulerInstance
	steps func(b *statusBuilder)
	err   error // the step error Reconcile hands to reconcileError
	want  map[string]string
	check func(t *testing.T, got rschedv1.SchedulerInstanceStatus)
}

// vaultFailure is a failed Vault read as vaultFailed returns it: counted, backed off by after.
func vaultFailure(reason, msg string, after time.Duration) error {
	o := outcome.FailedWith(rschedv1.ConditionSecretsSynced, reason, msg, errors.New("vault: "+msg))
	o.After = after
	return o
}

var statusNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func statusInstance() *rschedv1.SchedulerInstance {
	return &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: "ns", Generation: 3}}
}

func statusVaultInstance() *rschedv1.SchedulerInstance {
	si := statusInstance()
	si.Spec.Vault = &rschedv1.VaultSpec{Address: "https://vault:8200"}
	return si
}

// statusReadyInstance was Ready with 2/2 replicas before this reconcile.
func statusReadyInstance() *rschedv1.SchedulerInstance {
	si := statusInstance()
	si.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonAvailable}}
	return si
}

// statusDeployment has desired replicas, ready ones, and rolled out unless rolling.
func statusDeployment(desired, ready int32, rolling bool) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(desired)}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: desired, UpdatedReplicas: desired, ReadyReplicas: ready}
	if rolling {
		d.Status.UpdatedReplicas = desired - 1
	}
	return d
}

// syncedAndRunning: secrets synced, no policies (Disabled), a Deployment with 2/2 ready.
func syncedAndRunning(b *statusBuilder) {
	b.secretsSynced(b.si.Spec.Vault != nil, statusNow)
	b.secretsDone = true
	b.deployment = statusDeployment(2, 2, false)
}

func statusCases() []statusCase {
	return []statusCase{
		{name: "converged without Vault: Ready Available", si: statusInstance, steps: syncedAndRunning,
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "False/Available",
			},
			check: func(t *testing.T, got rschedv1.SchedulerInstanceStatus) {
				if got.ReplicaSummary != "2/2" || got.ObservedGeneration != 3 || got.Endpoint != "https://si.ns.svc:8080" {
					t.Errorf("summary %q, observed generation %d, endpoint %q", got.ReplicaSummary, got.ObservedGeneration, got.Endpoint)
				}
				if got.LastSecretSyncTime == nil || !got.LastSecretSyncTime.Time.Equal(statusNow) {
					t.Errorf("last sync %v, want %v", got.LastSecretSyncTime, statusNow)
				}
			}},
		{name: "converged with Vault and policies: Reachable, Enforced", si: statusVaultInstance,
			steps: func(b *statusBuilder) { syncedAndRunning(b); b.networkPolicies = 3 },
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionVaultReachable: "True/Reachable", rschedv1.ConditionNetworkPolicyApplied: "True/Enforced",
				rschedv1.ConditionProgressing: "False/RolloutComplete", rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "Vault no longer configured: VaultReachable and the failure count go",
			si: func() *rschedv1.SchedulerInstance {
				si := statusInstance()
				si.Status.VaultFailures = 4
				si.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonVaultUnreachable}}
				return si
			}, steps: syncedAndRunning,
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "False/Available",
			},
			check: func(t *testing.T, got rschedv1.SchedulerInstanceStatus) {
				if got.VaultFailures != 0 {
					t.Errorf("vault failures %d, want 0", got.VaultFailures)
				}
			}},
		{name: "replicas starting: DeploymentUnavailable", si: statusInstance,
			steps: func(b *statusBuilder) { syncedAndRunning(b); b.deployment = statusDeployment(2, 1, false) },
			want: map[string]string{
				rschedv1.ConditionReady: "False/DeploymentUnavailable", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "rolling out: RollingOut, not degraded", si: statusReadyInstance,
			steps: func(b *statusBuilder) { syncedAndRunning(b); b.deployment = statusDeployment(2, 1, true) },
			want: map[string]string{
				rschedv1.ConditionReady: "False/DeploymentUnavailable", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "True/RollingOut",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "a replica lost after Ready: ReplicasUnavailable, and it stays while the replica is missing", si: statusReadyInstance,
			steps: func(b *statusBuilder) { syncedAndRunning(b); b.deployment = statusDeployment(2, 1, false) },
			want: map[string]string{
				rschedv1.ConditionReady: "False/DeploymentUnavailable", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "True/ReplicasUnavailable",
			},
			check: func(t *testing.T, got rschedv1.SchedulerInstanceStatus) {
				if got.ReplicaSummary != "1/2" {
					t.Errorf("summary %q, want 1/2", got.ReplicaSummary)
				}
			}},
		{name: "the lost replica is back: Degraded clears, Ready again", si: func() *rschedv1.SchedulerInstance {
			si := statusInstance()
			si.Status.Conditions = []metav1.Condition{
				{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonDeploymentUnavailable},
				{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonReplicasUnavailable},
			}
			return si
		},
			steps: syncedAndRunning,
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionNetworkPolicyApplied: "True/Disabled", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "no image: ImageNotSet", si: statusInstance,
			steps: func(b *statusBuilder) { b.secretsSynced(false, statusNow); b.secretsDone = true },
			err:   outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonImageNotSet, "No image", retryLong),
			want: map[string]string{
				rschedv1.ConditionReady: "False/ImageNotSet", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "spec the server refuses: InvalidConfig", si: statusInstance,
			steps: func(b *statusBuilder) { b.secretsSynced(false, statusNow); b.secretsDone = true },
			err:   outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonInvalidConfig, "the server would refuse the configuration", retryLong).Halting(),
			want: map[string]string{
				rschedv1.ConditionReady: "False/InvalidConfig", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "someone else's ConfigMap: NameConflict", si: statusInstance,
			steps: func(b *statusBuilder) { b.secretsSynced(false, statusNow); b.secretsDone = true },
			// converge hands Reconcile the conflict's block, wrapped.
			err: fmt.Errorf("ConfigMap si: %w", nameConflict(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "si"}})),
			want: map[string]string{
				rschedv1.ConditionReady: "False/NameConflict", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "keyring lost while 2/2 replicas run: KeyringMissing, not DeploymentUnavailable", si: statusReadyInstance,
			steps: func(b *statusBuilder) { b.deployment = statusDeployment(2, 2, false) },
			err:   outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonKeyringMissing, "The keyring Secret is missing", retryShort),
			want: map[string]string{
				rschedv1.ConditionReady: "False/KeyringMissing", rschedv1.ConditionProgressing: "False/RolloutComplete",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "API error before the secrets: ReconcileError on Ready and SecretsSynced", si: statusInstance,
			err: errors.New("connection refused"),
			want: map[string]string{
				rschedv1.ConditionReady: "False/ReconcileError", rschedv1.ConditionSecretsSynced: "False/ReconcileError",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "API error after the secrets: SecretsSynced stands", si: statusInstance,
			steps: func(b *statusBuilder) { b.secretsSynced(false, statusNow); b.secretsDone = true },
			err:   errors.New("connection refused"),
			want: map[string]string{
				rschedv1.ConditionReady: "False/ReconcileError", rschedv1.ConditionSecretsSynced: "True/Synced",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "user Secret missing: SecretNotFound", si: statusInstance,
			steps: func(b *statusBuilder) { b.secretsMissing(rschedv1.ReasonSecretNotFound, `Secret "db" does not exist`) },
			err:   outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonSecretNotFound, `Secret "db" does not exist`, retryShort),
			want: map[string]string{
				rschedv1.ConditionReady: "False/SecretNotFound", rschedv1.ConditionSecretsSynced: "False/SecretNotFound",
				rschedv1.ConditionDegraded: "False/Available",
			},
			check: func(t *testing.T, got rschedv1.SchedulerInstanceStatus) {
				if c := meta.FindStatusCondition(got.Conditions, rschedv1.ConditionReady); c.Message != `Secret "db" does not exist` {
					t.Errorf("Ready's message %q, want the source's", c.Message)
				}
			}},
		{name: "user Secret without the key: SecretKeyMissing", si: statusInstance,
			steps: func(b *statusBuilder) {
				b.secretsMissing(rschedv1.ReasonSecretKeyMissing, `Secret "db" has no key "url"`)
			},
			err: outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonSecretKeyMissing, `Secret "db" has no key "url"`, retryShort),
			want: map[string]string{
				rschedv1.ConditionReady: "False/SecretKeyMissing", rschedv1.ConditionSecretsSynced: "False/SecretKeyMissing",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "database in Vault without spec.vault: NotConfigured", si: statusInstance,
			steps: func(b *statusBuilder) {
				b.secretsMissing(rschedv1.ReasonVaultNotConfigured, "spec.database.vault needs spec.vault")
			},
			err: outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonVaultNotConfigured, "spec.database.vault needs spec.vault", retryShort),
			want: map[string]string{
				rschedv1.ConditionReady: "False/NotConfigured", rschedv1.ConditionSecretsSynced: "False/NotConfigured",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "Vault auth names no method: VaultAuthFailed before anything ran", si: statusVaultInstance,
			steps: func(b *statusBuilder) {
				b.secretsMissing(rschedv1.ReasonVaultAuthFailed, "spec.vault.auth names no method")
			},
			err: outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonVaultAuthFailed, "spec.vault.auth names no method", retryShort),
			want: map[string]string{
				rschedv1.ConditionReady: "False/VaultAuthFailed", rschedv1.ConditionSecretsSynced: "False/VaultAuthFailed",
				rschedv1.ConditionDegraded: "False/Available",
			}},
		{name: "Vault down with last good Secrets: degraded, last sync kept", si: func() *rschedv1.SchedulerInstance {
			si := statusVaultInstance()
			si.Status.LastSecretSyncTime = &metav1.Time{Time: statusNow.Add(-time.Hour)}
			return si
		},
			steps: func(b *statusBuilder) {
				b.vaultFailed(rschedv1.ReasonVaultUnreachable, "Vault is unreachable", 2)
				b.deployment = statusDeployment(2, 2, false)
			},
			err: vaultFailure(rschedv1.ReasonVaultUnreachable, "Vault is unreachable", 10*time.Second),
			want: map[string]string{
				// The deferred failure is the step error: NetworkPolicyApplied keeps what status said.
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "False/VaultUnreachable",
				rschedv1.ConditionVaultReachable: "False/VaultUnreachable",
				rschedv1.ConditionProgressing:    "False/RolloutComplete", rschedv1.ConditionDegraded: "True/VaultUnreachable",
			},
			check: func(t *testing.T, got rschedv1.SchedulerInstanceStatus) {
				if got.VaultFailures != 2 || got.LastSecretSyncTime == nil || !got.LastSecretSyncTime.Time.Equal(statusNow.Add(-time.Hour)) {
					t.Errorf("vault failures %d, last sync %v: want 2 and the last good sync", got.VaultFailures, got.LastSecretSyncTime)
				}
			}},
		{name: "Vault refuses the login on the first sync: stale, so DeploymentUnavailable", si: statusVaultInstance,
			steps: func(b *statusBuilder) { b.vaultFailed(rschedv1.ReasonVaultAuthFailed, "Vault refused the login", 1) },
			err:   vaultFailure(rschedv1.ReasonVaultAuthFailed, "Vault refused the login", 5*time.Second),
			want: map[string]string{
				rschedv1.ConditionReady: "False/DeploymentUnavailable", rschedv1.ConditionSecretsSynced: "False/VaultAuthFailed",
				rschedv1.ConditionVaultReachable: "False/VaultAuthFailed", rschedv1.ConditionDegraded: "True/VaultUnreachable",
			}},
		{name: "Vault denies a path: VaultReadFailed", si: statusVaultInstance,
			steps: func(b *statusBuilder) {
				b.vaultFailed(rschedv1.ReasonVaultReadFailed, "Vault denied access to a configured secret", 1)
				b.deployment = statusDeployment(1, 1, false)
			},
			err: vaultFailure(rschedv1.ReasonVaultReadFailed, "Vault denied access to a configured secret", 5*time.Second),
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "False/VaultReadFailed",
				rschedv1.ConditionVaultReachable: "False/VaultReadFailed",
				rschedv1.ConditionProgressing:    "False/RolloutComplete", rschedv1.ConditionDegraded: "True/VaultUnreachable",
			}},
		{name: "the database CA in Vault is not usable: InvalidDatabaseTLS, the pods serve on the last good Secrets", si: statusVaultInstance,
			steps: func(b *statusBuilder) {
				msg := "spec.database.tls.caVault: in the Vault secret secret/rsched/db-tls, key ca.crt holds no CA certificate"
				b.vaultFailed(rschedv1.ReasonInvalidDatabaseTLS, msg, 1)
				b.deployment = statusDeployment(1, 1, false)
			},
			err: vaultFailure(rschedv1.ReasonInvalidDatabaseTLS, "spec.database.tls.caVault: in the Vault secret secret/rsched/db-tls, key ca.crt holds no CA certificate", 5*time.Second),
			want: map[string]string{
				rschedv1.ConditionReady: "True/Available", rschedv1.ConditionSecretsSynced: "False/InvalidDatabaseTLS",
				rschedv1.ConditionVaultReachable: "False/InvalidDatabaseTLS",
				rschedv1.ConditionProgressing:    "False/RolloutComplete", rschedv1.ConditionDegraded: "True/VaultUnreachable",
			}},
	}
}

// TestComputeInstanceStatus pins every condition computeInstanceStatus sets, without an API
// server: the instance as read and what the steps recorded are the whole input.
func TestComputeInstanceStatus(t *testing.T) {
	transition := metav1.NewTime(statusNow)
	for _, tc := range statusCases() {
		t.Run(tc.name, func(t *testing.T) {
			si := tc.si()
			before := si.DeepCopy()
			b := newStatusBuilder(si, statusNow)
			if tc.steps != nil {
				tc.steps(b)
			}
			if tc.err != nil {
				b.reconcileError(tc.err)
			}
			got := computeInstanceStatus(si, b, transition)
			assertConditions(t, got.Conditions, tc.want, si.Generation)
			if tc.check != nil {
				tc.check(t, got)
			}
			if !equality.Semantic.DeepEqual(before, si) {
				t.Errorf("computeInstanceStatus changed the instance it read")
			}
			// Pure: the same inputs give the same status, and a stored status equal to it is a
			// fixed point (a steady state writes nothing).
			if again := computeInstanceStatus(si, b, transition); !equality.Semantic.DeepEqual(got, again) {
				t.Errorf("a second computation differs")
			}
			stored := si.DeepCopy()
			stored.Status = got
			if again := computeInstanceStatus(stored, b, metav1.NewTime(statusNow.Add(time.Hour))); !equality.Semantic.DeepEqual(got, again) {
				t.Errorf("not a fixed point: %v\nthen %v", got, again)
			}
		})
	}
}

// TestComputeInstanceStatusCoversEveryReason: every reason of the SchedulerInstance's
// conditions appears in TestComputeInstanceStatus's expectations.
func TestComputeInstanceStatusCoversEveryReason(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range statusCases() {
		for _, w := range tc.want {
			_, reason, _ := strings.Cut(w, "/")
			seen[reason] = true
		}
	}
	for _, r := range []string{
		rschedv1.ReasonAvailable, rschedv1.ReasonDeploymentUnavailable, rschedv1.ReasonRollingOut, rschedv1.ReasonRolloutComplete,
		rschedv1.ReasonReplicasUnavailable, rschedv1.ReasonSecretsSynced, rschedv1.ReasonSecretNotFound, rschedv1.ReasonSecretKeyMissing,
		rschedv1.ReasonVaultAuthFailed, rschedv1.ReasonVaultUnreachable, rschedv1.ReasonVaultReadFailed, rschedv1.ReasonVaultOK,
		rschedv1.ReasonVaultNotConfigured, rschedv1.ReasonPolicyEnforced, rschedv1.ReasonPolicyDisabled, rschedv1.ReasonReconcileError,
		rschedv1.ReasonImageNotSet, rschedv1.ReasonNameConflict, rschedv1.ReasonKeyringMissing, rschedv1.ReasonInvalidConfig,
		rschedv1.ReasonInvalidDatabaseTLS,
	} {
		if !seen[r] {
			t.Errorf("no case reports %s", r)
		}
	}
}

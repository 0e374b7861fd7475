package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// How rotate reads a policy's status for its own request: another request's progress is not
// ours, and a failure counted after the request ends the wait.
func TestRotationStateIsReadFromStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	before := rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, FailedAttempts: 0, LastRotateRequest: "old", LastFailureTime: &t0}
	rotating := []metav1.Condition{{Type: rschedv1.ConditionRotating, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonStaged}}
	for _, c := range []struct {
		name string
		st   rschedv1.KeyRotationPolicyStatus
		want rotationState
	}{
		{"not taken yet", before, waiting},
		{"another request still being served", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, LastRotateRequest: "old", Conditions: rotating, LastFailureTime: &t0}, waiting},
		{"taken", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, LastRotateRequest: "mine", LastFailureTime: &t0}, taken},
		{"staged", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, LastRotateRequest: "mine", Conditions: rotating, LastFailureTime: &t0}, staged},
		{"active", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 4, LastRotateRequest: "mine", LastFailureTime: &t0}, active},
		{"a failure counted", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, FailedAttempts: 1, LastFailureTime: &t1}, failed},
		{"a failure after the count was reset", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, LastFailureTime: &t1}, failed},
		{"an old failure", rschedv1.KeyRotationPolicyStatus{CurrentVersion: 3, LastRotateRequest: "mine", LastFailureTime: &t0}, taken},
	} {
		k := &rschedv1.KeyRotationPolicy{Status: c.st}
		if got := stateOf(k, "mine", before); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestStatusTableListsWhatNeedsAttention(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	last, next := metav1.NewTime(now.Add(-90*time.Minute)), metav1.NewTime(now.Add(50*time.Hour))
	v := &StatusView{
		Instances: []InstanceView{{Namespace: "a", Name: "si", Ready: "True", Replicas: "2/2", KeyVersion: 4}},
		Policies:  []PolicyView{{Namespace: "a", Name: "k", Target: "si", Ready: "True", Version: 4, LastRotation: &last, NextRotation: &next}},
		Problems: problems("SchedulerInstance", "a", "si", []metav1.Condition{
			{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue},
			{Type: rschedv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonVaultUnreachable, Message: "stale"},
			{Type: rschedv1.ConditionProgressing, Status: metav1.ConditionFalse},
			{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonVaultUnreachable, Message: "down"},
		}),
	}
	var b bytes.Buffer
	if err := v.Table(&b, now, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"NAMESPACE", "2/2", "1h ago", "in 2d", "Degraded=True VaultUnreachable: stale", "VaultReachable=False VaultUnreachable: down"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Progressing") {
		t.Errorf("Progressing=False is not a problem:\n%s", out)
	}
}

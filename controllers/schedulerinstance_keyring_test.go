package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// An instance whose keyring Secret disappears after it ran (its two replicas ready) does not
// write a new one (every token and encrypted field would become invalid): it waits and says so,
// naming the Secret, in Ready (reason KeyringMissing, not a rollout's DeploymentUnavailable) and
// in a Warning event; its KeyRotationPolicy does not claim the instance will create it.
func TestALostKeyringIsReportedAsSuchAndNotRecreated(t *testing.T) {
	testenv.StartWorkloads(t, kube)
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "lost-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "lost", func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr.To[int32](2) })
	create(t, si)
	if got := waitConditionWithin(t, si, rschedv1.ConditionReady, metav1.ConditionTrue, rschedv1.ReasonAvailable, 90*time.Second); got.Status.ReplicaSummary != "2/2" {
		t.Fatalf("setup: replicas %s", got.Status.ReplicaSummary)
	}
	krp := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "lost-keys", Namespace: ns}, Spec: rschedv1.KeyRotationPolicySpec{
		TargetRef: rschedv1.LocalObjectReference{Name: "lost"},
		Keys:      bootstrapKeys,
		Schedule:  rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: time.Hour}},
	}}
	create(t, krp)
	testenv.Eventually(t, 30*time.Second, "the instance ran on keyring version 1", func() (bool, string) {
		got := &rschedv1.SchedulerInstance{}
		p := &rschedv1.KeyRotationPolicy{}
		if get(t, ns, "lost", got) != nil || get(t, ns, "lost-keys", p) != nil {
			return false, "not found"
		}
		return got.Status.KeyVersion == 1 && p.Status.CurrentVersion == 1, "not yet"
	})

	sec := &corev1.Secret{}
	if err := get(t, ns, "lost-keyring", sec); err != nil {
		t.Fatal(err)
	}
	if err := kube.Client.Delete(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonKeyringMissing)
	if c := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady); !strings.Contains(c.Message, `"lost-keyring"`) {
		t.Fatalf("Ready message %q does not name the keyring Secret", c.Message)
	}
	testenv.Eventually(t, 10*time.Second, "a Warning KeyringMissing event", func() (bool, string) {
		return warned(t, ns, "lost", rschedv1.ReasonKeyringMissing), "none"
	})
	testenv.Eventually(t, 30*time.Second, "the policy's message", func() (bool, string) {
		p := &rschedv1.KeyRotationPolicy{}
		if err := get(t, ns, "lost-keys", p); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, rschedv1.ConditionReady)
		if c == nil || c.Reason != rschedv1.ReasonKeyringNotFound {
			return false, "Ready is not KeyringNotFound"
		}
		return !strings.Contains(c.Message, "the SchedulerInstance creates it") && strings.Contains(c.Message, "restore"), c.Message
	})
	if err := get(t, ns, "lost-keyring", &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a keyring Secret was written for an instance that ran: %v", err)
	}
}

package controllers

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
)

// staleReads answers every read of the policy with stale, as a cache that has not yet seen the
// policy's latest status write would; everything else is read and written for real.
func staleReads(stale *rschedv1.KeyRotationPolicy) client.Client {
	return interceptor.NewClient(noWatch{kube.Client}, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if p, ok := obj.(*rschedv1.KeyRotationPolicy); ok && key == client.ObjectKeyFromObject(stale) {
				stale.DeepCopyInto(p)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

// A rotation that fell due while the manager was down continues the schedule from its due time,
// also when the reconcile that follows the staging (woken by the keyring write) reads the policy
// from before the staging's status write. That stale read is forced here, not waited for: the
// second reconcile is handed the policy as it was before the staging.
func TestAStaleReadOfThePolicyDoesNotShiftTheSchedule(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	e.mustReconcile()
	due := e.policy().Status.NextRotationTime.Time
	stale := e.policy() // status: version 1, nextRotationTime = due
	if !due.Equal(rotStart.Add(time.Hour)) || stale.Status.CurrentVersion != 1 {
		t.Fatalf("setup: status %+v", stale.Status)
	}

	// The manager comes back ten minutes after the rotation fell due.
	e.clk.Step(time.Hour + 10*time.Minute + 300*time.Millisecond)
	e.mustReconcile()
	if v := keyrotation.KeyVersion(e.keyring()); v != 2 {
		t.Fatalf("the overdue rotation did not stage: version %d", v)
	}
	want := due.Add(time.Hour)
	if got := e.policy().Status.NextRotationTime; got == nil || !got.Time.Equal(want) {
		t.Fatalf("after staging, nextRotationTime %v, want %v (due time + period)", got, want)
	}

	// 80 ms later a reconcile reads the policy from before that status write.
	e.clk.Step(80 * time.Millisecond)
	e.r = e.reconciler(staleReads(stale))
	e.mustReconcile()
	krp := e.policy()
	if got := krp.Status.NextRotationTime; got == nil || !got.Time.Equal(want) {
		t.Fatalf("after a reconcile on a stale policy, nextRotationTime %v, want %v: the schedule shifted by the lateness", got, want)
	}
	if krp.Status.CurrentVersion != 2 || keyrotation.KeyVersion(e.keyring()) != 2 {
		t.Fatalf("status version %d, keyring %d: the stale read rotated again or lost the version", krp.Status.CurrentVersion, keyrotation.KeyVersion(e.keyring()))
	}

	// And the schedule holds from there on: the next rotation is staged at due + period.
	e.r = e.reconciler(kube.Client)
	staged := e.drive(want.Add(time.Second))
	if len(staged) != 1 || !staged[0][1].Equal(want) || !staged[0][0].Equal(want) {
		t.Fatalf("the next rotation: %v, want one at %v", staged, want)
	}
}

// Without a view of the pods, a staged version is activated once the propagation time has passed
// since staging, and never before: not even when the staging happened part-way through a second
// (the Secret's record has whole seconds).
func TestActivationNeverComesBeforeStagingPlusPropagation(t *testing.T) {
	e := newRotEnv(t, nil, nil) // propagation: one minute, no observer
	e.mustReconcile()
	e.clk.Step(time.Hour + 700*time.Millisecond)
	e.mustReconcile()
	stagedAt := e.clk.Now()
	if states(e.keyring())["jwt-2"] != keyring.Staged {
		t.Fatalf("setup: not staged: %v", states(e.keyring()))
	}
	deadline := stagedAt.Add(time.Minute)

	e.clk.SetTime(deadline.Add(-100 * time.Millisecond))
	res := e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Staged {
		t.Fatalf("activated at staging + %v, before staging + the propagation time (1m)", e.clk.Now().Sub(stagedAt))
	}
	// Following the requeues it asks for, it activates within a second of the deadline.
	for range 10 {
		if res.RequeueAfter <= 0 {
			t.Fatal("no requeue while a version is staged")
		}
		e.clk.Step(res.RequeueAfter)
		res = e.mustReconcile()
		if states(e.keyring())["jwt-2"] == keyring.Active {
			break
		}
	}
	f := e.keyring()
	if states(f)["jwt-2"] != keyring.Active {
		t.Fatalf("not activated by %v after staging", e.clk.Now().Sub(stagedAt))
	}
	if now := e.clk.Now(); now.Before(deadline) || now.Sub(deadline) >= time.Second {
		t.Fatalf("activated at staging + %v, want within a second after staging + 1m", now.Sub(stagedAt))
	}
}

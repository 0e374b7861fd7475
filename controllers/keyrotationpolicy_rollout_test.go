package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
)

// followingObserver plays two pods that have loaded whatever keyring the Secret holds and
// finished re-encrypting under its active key; it counts the observations asked of it.
type followingObserver struct {
	e     *rotEnv
	calls int
}

func (o *followingObserver) Observe(context.Context, *rschedv1.SchedulerInstance) ([]PodKeys, error) {
	o.calls++
	f := o.e.keyring()
	active := ""
	for _, k := range f.Encryption {
		if k.State == keyring.Active {
			active = k.KID
		}
	}
	report := func() *keyprobe.Report {
		return &keyprobe.Report{HasKeyring: true, KeyringVersion: f.Version, Rewrap: &keyprobe.Rewrap{ActiveKID: active, StartedAt: o.e.clk.Now()}}
	}
	return []PodKeys{{Pod: "a", Report: report()}, {Pod: "b", Report: report()}}, nil
}

// TestPodsAreObservedOncePerReconcile: every reconcile scrapes the pods once, including those in
// which two steps read their reports (an activation and the lagging pods after it; the drained
// check of retention and the lagging pods), which once scraped them twice.
func TestPodsAreObservedOncePerReconcile(t *testing.T) {
	e := newRotEnv(t, nil, nil) // retain 1
	obs := &followingObserver{e: e}
	e.r.Observer = obs
	step := func(what string) {
		t.Helper()
		obs.calls = 0
		e.mustReconcile()
		if obs.calls != 1 {
			t.Fatalf("%s: the pods were observed %d times, want once", what, obs.calls)
		}
	}
	step("steady state")
	for _, req := range []string{"a", "b"} {
		e.annotate(req)
		step("staging " + req)
		if !hasStaged(e.keyring()) {
			t.Fatalf("%s: nothing staged", req)
		}
		step("activating " + req) // the pods report the staged version: activate, then report them lagging
		if hasStaged(e.keyring()) {
			t.Fatalf("%s: not activated", req)
		}
		if c := condition(e.policy(), rschedv1.ConditionRotating); c == nil || !strings.Contains(c.Message, "has not loaded it yet") {
			t.Fatalf("%s: Rotating after the activation: %+v", req, c)
		}
	}
	// fields-1 is now beyond retain and the pods report it drained: retire it, and report the
	// pods lagging behind the retirement's keyring, on one observation.
	step("retiring")
	if st := states(e.keyring()); st["fields-1"] != keyring.Retired {
		t.Fatalf("not retired on the pods' report: %v", st)
	}
	step("steady state after")
	if c := condition(e.policy(), rschedv1.ConditionRotating); c.Status != metav1.ConditionFalse {
		t.Fatalf("Rotating once the pods caught up: %+v", c)
	}
}

// TestPropagated pins when a staged version may be activated, from what the workload showed.
func TestPropagated(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	staged := func() *keyring.File {
		f, err := keyrotation.Stage(nil, bootstrapKeys, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if f, err = keyrotation.Stage(f, bootstrapKeys, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		return f
	}()
	if keyrotation.KeyVersion(staged) != 2 {
		t.Fatalf("setup: key version %d", keyrotation.KeyVersion(staged))
	}
	deployment := func(replicas int32, templateVersion string, rolled bool) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
		d.Spec.Template.Annotations = map[string]string{rschedv1.KeyVersionAnnotation: templateVersion}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: replicas, UpdatedReplicas: replicas, AvailableReplicas: replicas}
		if !rolled {
			d.Status.UpdatedReplicas = replicas - 1
		}
		return d
	}
	pods := func(versions ...int64) podsSeen {
		p := podsSeen{observer: true}
		for i, v := range versions {
			p.pods = append(p.pods, PodKeys{Pod: []string{"fast", "slow"}[i], Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: v}})
		}
		return p
	}
	hot, restart := &rschedv1.KeyRotationPolicy{}, &rschedv1.KeyRotationPolicy{}
	restart.Spec.Rollout = rschedv1.RolloutRollingRestart
	running := deployment(2, "", true)
	stagedAt := now.Add(-20 * time.Second)
	for _, c := range []struct {
		name  string
		krp   *rschedv1.KeyRotationPolicy
		w     workload
		ready bool
		wait  time.Duration
		why   string // a part of the reason
	}{
		{"no Deployment", hot, workload{}, true, 0, ""},
		{"scaled to zero", hot, workload{dep: deployment(0, "", true)}, true, 0, ""},
		{"RollingRestart, rolling out", restart, workload{dep: deployment(2, "2", false)}, false, 30 * time.Second, "the pods are being restarted"},
		{"RollingRestart, template without the version", restart, workload{dep: deployment(2, "1", true)}, false, 30 * time.Second, "the pods are being restarted"},
		{"RollingRestart, rolled out", restart, workload{dep: deployment(2, "2", true)}, true, 0, ""},
		{"every pod has it", hot, workload{dep: running, pods: pods(staged.Version, staged.Version)}, true, 0, ""},
		{"a pod behind, however long", hot, workload{dep: running, pods: pods(staged.Version, staged.Version-1)}, false, time.Second, "pod slow has not loaded it"},
		{"pods unread, observer: checked every second", hot, workload{dep: running, pods: podsSeen{observer: true}}, false, time.Second, "waiting for every pod"},
		{"no observer: the propagation time", hot, workload{dep: running}, false, 40 * time.Second, "waiting for every pod"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ready, wait, why := propagated(c.krp, staged, c.w, stagedAt, now, time.Minute)
			if ready != c.ready || wait != c.wait || !strings.Contains(why, c.why) {
				t.Errorf("propagated = %v, %v, %q; want %v, %v, %q", ready, wait, why, c.ready, c.wait, c.why)
			}
		})
	}
	if ready, _, _ := propagated(hot, staged, workload{dep: running}, stagedAt, stagedAt.Add(time.Minute), time.Minute); !ready {
		t.Error("not ready once the propagation time passed")
	}
}

// TestDrained pins when the pods' reports say the data under older encryption keys was
// re-encrypted: every pod, a finished pass under the active key, nothing pending or failed.
func TestDrained(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f, err := keyrotation.Stage(nil, bootstrapKeys, now)
	if err != nil {
		t.Fatal(err)
	}
	active := ""
	for _, k := range f.Encryption {
		if k.State == keyring.Active {
			active = k.KID
		}
	}
	pod := func(rw *keyprobe.Rewrap) PodKeys {
		return PodKeys{Pod: "p", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: f.Version, Rewrap: rw}}
	}
	done := &keyprobe.Rewrap{ActiveKID: active, StartedAt: now}
	for _, c := range []struct {
		name    string
		pods    podsSeen
		drained bool
	}{
		{"no observer", podsSeen{}, false},
		{"the pods did not answer", podsSeen{observer: true}, false},
		{"every pod done under the active key", podsSeen{observer: true, pods: []PodKeys{pod(done), pod(done)}}, true},
		{"a pod without a report", podsSeen{observer: true, pods: []PodKeys{pod(done), {Pod: "q"}}}, false},
		{"a pod without a pass", podsSeen{observer: true, pods: []PodKeys{pod(done), pod(nil)}}, false},
		{"a pod's pass under an older key", podsSeen{observer: true, pods: []PodKeys{pod(done), pod(&keyprobe.Rewrap{ActiveKID: "fields-0"})}}, false},
		{"a pass with rows pending", podsSeen{observer: true, pods: []PodKeys{pod(&keyprobe.Rewrap{ActiveKID: active, Pending: 3})}}, false},
		{"a pass with rows failed", podsSeen{observer: true, pods: []PodKeys{pod(&keyprobe.Rewrap{ActiveKID: active, Failed: 1})}}, false},
	} {
		d := drained(c.pods, f)
		if (d != nil) != c.drained {
			t.Errorf("%s: drained %v, want %v", c.name, d != nil, c.drained)
			continue
		}
		if d != nil && (d(active) || !d("fields-0")) {
			t.Errorf("%s: the active key counts as drained, or an older one does not", c.name)
		}
	}
}

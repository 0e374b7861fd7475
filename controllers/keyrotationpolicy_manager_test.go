package controllers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/testenv"
)

// The figures of docs/performance.md for the real clock: 20 policies under a running manager,
// each due one minute after its instance's first keyring; the lateness of each rotation is
// measured from outside, as the time the test's watch sees the staged keyring Secret minus the
// policy's status.nextRotationTime. Then the operator is replaced: the new one must rotate
// nothing, restart nothing and write nothing.
func TestRealClockRotationsAreOnTimeAndARestartChangesNothing(t *testing.T) {
	const n = 20
	ns := namespace(t, nil)
	// Both operators watch this namespace only: other tests leave policies behind whose status
	// a fake clock wrote, and this test counts every write.
	op := startOperatorWith(t, nil, ns)
	wc, err := client.NewWithWatch(kube.Config, client.Options{Scheme: kube.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := wc.Watch(ctx, &corev1.SecretList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := make(chan [2]any, 4*n) // instance name, time the staged keyring was seen
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			sec := ev.Object.(*corev1.Secret)
			name, ok := strings.CutSuffix(sec.Name, "-keyring")
			if !ok {
				continue
			}
			if f, err := keyring.Decode(sec.Data[builders.KeyringKey]); err == nil && keyrotation.KeyVersion(f) == 2 && hasStaged(f) {
				seen <- [2]any{name, time.Now()}
			}
		}
	}()

	for i := range n {
		name := fmt.Sprintf("i%d", i)
		userSecret(t, ns, name+"-db-source", map[string]string{"url": dbURL})
		create(t, instance(ns, name, func(si *rschedv1.SchedulerInstance) { si.Spec.Image = testImage }))
		create(t, &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: rschedv1.KeyRotationPolicySpec{
			TargetRef:   rschedv1.LocalObjectReference{Name: name},
			Keys:        []rschedv1.RotatedKey{{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512}},
			Schedule:    rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: time.Minute}},
			GracePeriod: &metav1.Duration{Duration: 5 * time.Minute},
		}})
	}
	due := map[string]time.Time{}
	testenv.Eventually(t, 30*time.Second, "every policy scheduled", func() (bool, string) {
		var list rschedv1.KeyRotationPolicyList
		if err := kube.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, p := range list.Items {
			if p.Status.NextRotationTime != nil && p.Status.CurrentVersion == 1 {
				due[p.Name] = p.Status.NextRotationTime.Time
			}
		}
		return len(due) == n, fmt.Sprintf("%d of %d scheduled", len(due), n)
	})

	var late []time.Duration
	timeout := time.After(100 * time.Second)
	for len(late) < n {
		select {
		case s := <-seen:
			name, at := s[0].(string), s[1].(time.Time)
			if d, ok := due[name]; ok {
				late = append(late, at.Sub(d))
				delete(due, name)
			}
		case <-timeout:
			t.Fatalf("only %d of %d policies rotated within 100s", len(late), n)
		}
	}
	slices.Sort(late)
	t.Logf("real clock: %d rotations, lateness p50 %v p99 %v max %v (min %v)", n, late[n/2], late[n*99/100], late[n-1], late[0])
	if late[0] < 0 {
		t.Fatalf("a rotation happened %v before it was due", -late[0])
	}
	if late[n-1] > time.Second {
		t.Fatalf("a rotation was %v late; the target is within 1s", late[n-1])
	}

	// Every policy activates (no pod can be observed here, so after the 2s propagation time of
	// this test operator) and every instance reports the new key version.
	testenv.Eventually(t, 30*time.Second, "instances at key version 2", func() (bool, string) {
		var list rschedv1.SchedulerInstanceList
		_ = kube.Client.List(context.Background(), &list, client.InNamespace(ns))
		at := 0
		for _, si := range list.Items {
			if si.Status.KeyVersion == 2 {
				at++
			}
		}
		var pols rschedv1.KeyRotationPolicyList
		_ = kube.Client.List(context.Background(), &pols, client.InNamespace(ns))
		active := 0
		for _, p := range pols.Items {
			if c := condition(&p, rschedv1.ConditionRotating); c != nil && c.Status == metav1.ConditionFalse && p.Status.CurrentVersion == 2 {
				active++
			}
		}
		return at == n && active == n, fmt.Sprintf("%d instances at version 2, %d policies done", at, n)
	})

	// The leader goes away and a new operator starts: nothing rotates, restarts or is written.
	op.stop()
	before := snapshot(t, ns)
	op2 := startOperatorWith(t, nil, ns)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if op2.writes.n.Load() > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond) // watching for the absence of writes: a bounded window
	}
	if got := op2.writes.since(0); len(got) > 0 {
		t.Fatalf("the new operator wrote: %v", got)
	}
	if after := snapshot(t, ns); after != before {
		t.Fatal("objects changed across the operator restart")
	}
	// Canary: no version of any key, in any encoding, in the logs, events or status.
	var evs eventsv1.EventList
	_ = kube.Client.List(context.Background(), &evs, client.InNamespace(ns))
	var text strings.Builder
	text.WriteString(op.logs.String() + op2.logs.String())
	for _, e := range evs.Items {
		text.WriteString(e.Note + "\n")
	}
	var pols rschedv1.KeyRotationPolicyList
	_ = kube.Client.List(context.Background(), &pols, client.InNamespace(ns))
	for _, p := range pols.Items {
		fmt.Fprintf(&text, "%+v\n", p.Status)
	}
	var secs corev1.SecretList
	_ = kube.Client.List(context.Background(), &secs, client.InNamespace(ns))
	keys := 0
	for _, s := range secs.Items {
		f, err := keyring.Decode(s.Data[builders.KeyringKey])
		if err != nil {
			continue
		}
		for _, k := range slices.Concat(f.Signing, f.Encryption) {
			for _, enc := range []string{base64.StdEncoding.EncodeToString(k.Key), base64.RawURLEncoding.EncodeToString(k.Key), hex.EncodeToString(k.Key)} {
				if len(k.Key) > 0 && strings.Contains(text.String(), enc) {
					t.Fatalf("key %s reached the logs, events or status", k.KID)
				}
			}
			keys++
		}
	}
	if keys < 2*n || !strings.Contains(text.String(), "Keyring version 2 is active") {
		t.Fatalf("the canary check saw %d keys and no Rotated event: it checks nothing", keys)
	}
}

// snapshot is the resource versions of the policies, keyring Secrets and Deployments.
func snapshot(t *testing.T, ns string) string {
	t.Helper()
	var b strings.Builder
	var pols rschedv1.KeyRotationPolicyList
	var secs corev1.SecretList
	var deps appsv1.DeploymentList
	_ = kube.Client.List(context.Background(), &pols, client.InNamespace(ns))
	_ = kube.Client.List(context.Background(), &secs, client.InNamespace(ns))
	_ = kube.Client.List(context.Background(), &deps, client.InNamespace(ns))
	for _, d := range deps.Items {
		fmt.Fprintf(&b, "%s=%d,", d.Name, d.Generation)
	}
	for _, p := range pols.Items {
		fmt.Fprintf(&b, "%s=%s,", p.Name, p.ResourceVersion)
	}
	for _, s := range secs.Items {
		fmt.Fprintf(&b, "%s=%s,", s.Name, s.ResourceVersion)
	}
	return b.String()
}

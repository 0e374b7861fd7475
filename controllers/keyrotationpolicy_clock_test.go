package controllers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

// These tests drive the KeyRotationPolicy reconciler by hand with a fake clock against the real
// API server (and the real Vault where storage.vault is used): each Reconcile call is what the
// manager would run, and the clock moves by exactly the RequeueAfter the reconciler asked for.

// rotEnv is one policy and its instance in a fresh namespace.
type rotEnv struct {
	t    *testing.T
	ns   string
	clk  *clocktesting.FakeClock
	rec  *events.FakeRecorder
	r    *KeyRotationPolicyReconciler
	si   *rschedv1.SchedulerInstance
	name string
	// material collects every key ever seen in the keyring, for the leak checks.
	material [][]byte
}

var rotStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newRotEnv(t *testing.T, mutateSI func(*rschedv1.SchedulerInstance), mutate func(*rschedv1.KeyRotationPolicy)) *rotEnv {
	t.Helper()
	ns := namespace(t, nil)
	e := &rotEnv{t: t, ns: ns, clk: clocktesting.NewFakeClock(rotStart), rec: events.NewFakeRecorder(1000), name: "keys-rotation"}
	e.si = instance(ns, "keys", func(si *rschedv1.SchedulerInstance) {
		si.Spec.Image = testImage
		if mutateSI != nil {
			mutateSI(si)
		}
	})
	create(t, e.si)
	userSecret(t, ns, "keys-db-source", map[string]string{"url": dbURL})
	// The instance's first keyring, as its reconciler writes it.
	f, err := keyrotation.Stage(nil, bootstrapKeys, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := keyring.Marshal(f)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.KeyringSecretName(e.si), Namespace: ns, Labels: builders.Labels(e.si)},
		Data: map[string][]byte{builders.KeyringKey: data}}
	if err := ctrl.SetControllerReference(e.si, sec, kube.Scheme); err != nil {
		t.Fatal(err)
	}
	create(t, sec)
	krp := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: ns}, Spec: rschedv1.KeyRotationPolicySpec{
		TargetRef: rschedv1.LocalObjectReference{Name: "keys"},
		Keys: []rschedv1.RotatedKey{
			{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
			{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
		},
		Schedule:    rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: time.Hour}},
		GracePeriod: &metav1.Duration{Duration: 10 * time.Minute},
		Retain:      1,
	}}
	if mutate != nil {
		mutate(krp)
	}
	create(t, krp)
	e.r = e.reconciler(kube.Client)
	e.reconcileSI() // the instance's Deployment: its pods are what a staged key must reach
	return e
}

// reconcileSI runs the instance's reconciler once and returns its Deployment.
func (e *rotEnv) reconcileSI() *appsv1.Deployment {
	e.t.Helper()
	si := &SchedulerInstanceReconciler{Client: kube.Client, APIReader: kube.Client, Scheme: kube.Scheme, Recorder: e.rec,
		Vault: vault.NewFactory(nil, nil), Clock: e.clk, Options: Options{SchedulerImage: testImage}}
	if _, err := si.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: e.ns, Name: "keys"}}); err != nil {
		e.t.Fatal(err)
	}
	dep := &appsv1.Deployment{}
	if err := get(e.t, e.ns, "keys", dep); err != nil {
		e.t.Fatal(err)
	}
	return dep
}

func (e *rotEnv) reconciler(c client.Client) *KeyRotationPolicyReconciler {
	return &KeyRotationPolicyReconciler{Client: c, APIReader: kube.Client, Scheme: kube.Scheme, Recorder: e.rec,
		Vault: vault.NewFactory(nil, nil), Clock: e.clk, Propagation: time.Minute}
}

// reconcile runs one reconcile and returns what it asked for.
func (e *rotEnv) reconcile() (ctrl.Result, error) {
	e.t.Helper()
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: e.ns, Name: e.name}})
	if f := e.keyringOrNil(); f != nil {
		for _, k := range slices.Concat(f.Signing, f.Encryption) {
			if len(k.Key) > 0 && !slices.ContainsFunc(e.material, func(m []byte) bool { return string(m) == string(k.Key) }) {
				e.material = append(e.material, k.Key)
			}
		}
	}
	return res, err
}

func (e *rotEnv) mustReconcile() ctrl.Result {
	e.t.Helper()
	res, err := e.reconcile()
	if err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (e *rotEnv) policy() *rschedv1.KeyRotationPolicy {
	e.t.Helper()
	krp := &rschedv1.KeyRotationPolicy{}
	if err := get(e.t, e.ns, e.name, krp); err != nil {
		e.t.Fatal(err)
	}
	return krp
}

func (e *rotEnv) keyringOrNil() *keyring.File {
	sec := &corev1.Secret{}
	if err := kube.Client.Get(context.Background(), types.NamespacedName{Namespace: e.ns, Name: "keys-keyring"}, sec); err != nil {
		return nil
	}
	f, err := keyring.Decode(sec.Data[builders.KeyringKey])
	if err != nil {
		e.t.Fatalf("the keyring Secret is invalid: %v", err)
	}
	return f
}

func (e *rotEnv) keyring() *keyring.File {
	e.t.Helper()
	f := e.keyringOrNil()
	if f == nil {
		e.t.Fatal("no keyring Secret")
	}
	return f
}

// states maps kid to state.
func states(f *keyring.File) map[string]keyring.State {
	out := map[string]keyring.State{}
	for _, k := range slices.Concat(f.Signing, f.Encryption) {
		out[k.KID] = k.State
	}
	return out
}

func (e *rotEnv) annotate(value string) {
	e.t.Helper()
	krp := e.policy()
	patch := client.MergeFrom(krp.DeepCopy())
	if krp.Annotations == nil {
		krp.Annotations = map[string]string{}
	}
	krp.Annotations[rschedv1.RotateAnnotation] = value
	if err := kube.Client.Patch(context.Background(), krp, patch); err != nil {
		e.t.Fatal(err)
	}
}

func (e *rotEnv) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.rec.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func condition(krp *rschedv1.KeyRotationPolicy, typ string) *metav1.Condition {
	return meta.FindStatusCondition(krp.Status.Conditions, typ)
}

// noMaterialIn fails if any key ever generated appears, raw or base64, in text.
func (e *rotEnv) noMaterialIn(what, text string) {
	e.t.Helper()
	for _, m := range e.material {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(m), base64.RawURLEncoding.EncodeToString(m), fmt.Sprintf("%x", m), string(m)} {
			if strings.Contains(text, enc) {
				e.t.Fatalf("key material found in %s", what)
			}
		}
	}
}

func TestDueRotationHappensAndNotBefore(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	res := e.mustReconcile()
	krp := e.policy()
	if krp.Status.CurrentVersion != 1 || krp.Status.NextRotationTime == nil || !krp.Status.NextRotationTime.Time.Equal(rotStart.Add(time.Hour)) {
		t.Fatalf("first status: %+v", krp.Status)
	}
	if res.RequeueAfter != time.Hour {
		t.Fatalf("requeue after %v, want the hour until the rotation", res.RequeueAfter)
	}
	if c := condition(krp, rschedv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != krp.Generation {
		t.Fatalf("Ready: %+v", c)
	}

	e.clk.Step(time.Hour - time.Second)
	res = e.mustReconcile()
	if f := e.keyring(); keyrotation.KeyVersion(f) != 1 {
		t.Fatalf("rotated a second early: version %d", keyrotation.KeyVersion(f))
	}
	if res.RequeueAfter != time.Second {
		t.Fatalf("requeue after %v, want 1s", res.RequeueAfter)
	}

	e.clk.Step(time.Second)
	e.mustReconcile()
	f := e.keyring()
	if keyrotation.KeyVersion(f) != 2 || states(f)["jwt-2"] != keyring.Staged || states(f)["fields-2"] != keyring.Staged || states(f)["jwt-1"] != keyring.Active {
		t.Fatalf("after the due time: version %d, states %v", keyrotation.KeyVersion(f), states(f))
	}
	krp = e.policy()
	if c := condition(krp, rschedv1.ConditionRotating); c == nil || c.Status != metav1.ConditionTrue || c.Reason != rschedv1.ReasonStaged {
		t.Fatalf("Rotating: %+v", c)
	}
	if !krp.Status.NextRotationTime.Time.Equal(rotStart.Add(2*time.Hour)) || krp.Status.CurrentVersion != 2 {
		t.Fatalf("status after staging: %+v", krp.Status)
	}

	// Nothing can see the pods here, so activation waits the propagation time.
	e.clk.Step(30 * time.Second)
	e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Staged {
		t.Fatal("activated before the propagation time")
	}
	e.clk.Step(30 * time.Second)
	res = e.mustReconcile()
	f = e.keyring()
	st := states(f)
	if st["jwt-2"] != keyring.Active || st["jwt-1"] != keyring.VerifyOnly || st["fields-2"] != keyring.Active || st["fields-1"] != keyring.DecryptOnly {
		t.Fatalf("after activation: %v", st)
	}
	for _, k := range f.Signing {
		// gracePeriod, plus the propagation time during which a pod may still sign with it
		if k.KID == "jwt-1" && !k.NotAfter.Equal(e.clk.Now().Add(11*time.Minute)) {
			t.Fatalf("jwt-1 verifies until %v, want now + gracePeriod + propagation", k.NotAfter)
		}
	}
	if res.RequeueAfter != 11*time.Minute {
		t.Fatalf("after activation, requeue after %v, want the grace period's end", res.RequeueAfter)
	}
	krp = e.policy()
	if c := condition(krp, rschedv1.ConditionRotating); c.Status != metav1.ConditionFalse {
		t.Fatalf("Rotating after activation: %+v", c)
	}
	jwt := krp.Status.Keys[slices.IndexFunc(krp.Status.Keys, func(k rschedv1.KeyStatus) bool { return k.Name == "jwt" })]
	if jwt.ActiveVersion != 2 || len(jwt.Versions) != 2 || jwt.Versions[0].Version != 2 || jwt.Versions[1].State != rschedv1.KeyStateVerifyOnly || jwt.Versions[1].ExpiresAt == nil {
		t.Fatalf("status keys: %+v", jwt)
	}
	evs := strings.Join(e.events(), "\n")
	if !strings.Contains(evs, "Normal Staged") || !strings.Contains(evs, "Normal Rotated") {
		t.Fatalf("events: %s", evs)
	}

	// The grace period ends: jwt-1 is retired and its material dropped.
	e.clk.Step(11 * time.Minute)
	e.mustReconcile()
	for _, k := range e.keyring().Signing {
		if k.KID == "jwt-1" && (k.State != keyring.Retired || len(k.Key) != 0) {
			t.Fatalf("jwt-1 after its grace period: %s, %d bytes", k.State, len(k.Key))
		}
	}
	if evs := strings.Join(e.events(), "\n"); !strings.Contains(evs, "Normal KeyRetired Key jwt-1 retired") {
		t.Fatalf("events: %s", evs)
	}

	// A steady state writes nothing.
	before := e.policy().ResourceVersion
	sec := &corev1.Secret{}
	_ = get(t, e.ns, "keys-keyring", sec)
	e.mustReconcile()
	e.mustReconcile()
	after := &corev1.Secret{}
	_ = get(t, e.ns, "keys-keyring", after)
	if e.policy().ResourceVersion != before || after.ResourceVersion != sec.ResourceVersion {
		t.Fatal("a steady-state reconcile wrote the policy or the keyring")
	}
	statusText, _ := json.Marshal(e.policy())
	e.noMaterialIn("the policy", string(statusText))
	e.noMaterialIn("events", evs)
}

// drive runs reconciles, moving the clock by what each asks for, until the clock passes until;
// it returns the clock time of each staging and the nextRotationTime it was due at.
func (e *rotEnv) drive(until time.Time) (staged [][2]time.Time) {
	e.t.Helper()
	for e.clk.Now().Before(until) {
		due := timeOf(e.policy().Status.NextRotationTime)
		v := keyrotation.KeyVersion(e.keyring())
		res := e.mustReconcile()
		if testing.Verbose() && debugDrive {
			e.t.Logf("at %v: version %d → %d, due %v, requeue %v, next %v", e.clk.Now(), v, keyrotation.KeyVersion(e.keyring()), due, res.RequeueAfter, e.policy().Status.NextRotationTime)
		}
		if nv := keyrotation.KeyVersion(e.keyring()); nv != v {
			staged = append(staged, [2]time.Time{e.clk.Now(), due})
		}
		if res.RequeueAfter <= 0 {
			e.t.Fatal("the reconciler asked for no requeue while a schedule is set")
		}
		e.clk.Step(res.RequeueAfter)
	}
	return staged
}

func TestCronInATimeZoneRotatesOnceADayAcrossDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	e := newRotEnv(t, nil, func(k *rschedv1.KeyRotationPolicy) {
		k.Spec.Schedule = rschedv1.RotationSchedule{Cron: "30 1 * * *", TimeZone: "America/New_York"}
	})
	// Start on Saturday 31 October 2026 at noon in New York; clocks fall back on Sunday 1
	// November at 02:00 (01:30 happens twice) and nothing changes until March.
	e.clk.SetTime(time.Date(2026, 10, 31, 12, 0, 0, 0, ny))
	staged := e.drive(time.Date(2026, 11, 4, 0, 0, 0, 0, ny))
	var got []string
	for _, s := range staged {
		got = append(got, s[0].In(ny).Format("Jan 2 15:04 MST"))
		if !s[0].Equal(s[1]) {
			t.Errorf("staged at %v, due at %v", s[0], s[1])
		}
	}
	want := []string{"Nov 1 01:30 EDT", "Nov 2 01:30 EST", "Nov 3 01:30 EST"}
	if !slices.Equal(got, want) {
		t.Fatalf("rotations at %v, want %v", got, want)
	}

	// Spring forward: 02:30 does not exist on Sunday 8 March 2026 in New York, so that day has
	// no rotation; the days around it rotate at 02:30 local time, EST before and EDT after.
	e2 := newRotEnv(t, nil, func(k *rschedv1.KeyRotationPolicy) {
		k.Spec.Schedule = rschedv1.RotationSchedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}
	})
	e2.clk.SetTime(time.Date(2026, 3, 6, 12, 0, 0, 0, ny))
	got = nil
	for _, s := range e2.drive(time.Date(2026, 3, 10, 0, 0, 0, 0, ny)) {
		got = append(got, s[0].In(ny).Format("Jan 2 15:04 MST"))
	}
	want = []string{"Mar 7 02:30 EST", "Mar 9 02:30 EDT"}
	if !slices.Equal(got, want) {
		t.Fatalf("rotations at %v, want %v", got, want)
	}
}

func TestSuspendStopsTheScheduleButNotAManualRequest(t *testing.T) {
	e := newRotEnv(t, nil, func(k *rschedv1.KeyRotationPolicy) { k.Spec.Suspend = true })
	res := e.mustReconcile()
	krp := e.policy()
	if krp.Status.NextRotationTime != nil || res.RequeueAfter != 0 {
		t.Fatalf("suspended: next %v, requeue %v", krp.Status.NextRotationTime, res.RequeueAfter)
	}
	if c := condition(krp, rschedv1.ConditionReady); c.Reason != rschedv1.ReasonSuspended {
		t.Fatalf("Ready: %+v", c)
	}
	e.clk.Step(100 * time.Hour)
	e.mustReconcile()
	if keyrotation.KeyVersion(e.keyring()) != 1 {
		t.Fatal("a suspended policy rotated on its schedule")
	}
	e.annotate("by-hand-1")
	e.mustReconcile()
	if keyrotation.KeyVersion(e.keyring()) != 2 || e.policy().Status.LastRotateRequest != "by-hand-1" {
		t.Fatal("a manual request did not rotate a suspended policy")
	}

	// Resuming schedules from the last rotation.
	krp = e.policy()
	krp.Spec.Suspend = false
	if err := kube.Client.Update(context.Background(), krp); err != nil {
		t.Fatal(err)
	}
	e.mustReconcile()
	krp = e.policy()
	if krp.Status.NextRotationTime == nil || !krp.Status.NextRotationTime.Time.Equal(e.clk.Now().Truncate(time.Second).Add(time.Hour)) {
		t.Fatalf("resumed: next %v", krp.Status.NextRotationTime)
	}
}

func TestManualTriggerRotatesOncePerNewValue(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	e.mustReconcile()
	e.annotate("2026-03-01T12:05")
	e.mustReconcile()
	if v := keyrotation.KeyVersion(e.keyring()); v != 2 {
		t.Fatalf("version %d after a manual request", v)
	}
	e.clk.Step(time.Minute)
	for range 3 {
		e.mustReconcile()
	}
	if v := keyrotation.KeyVersion(e.keyring()); v != 2 {
		t.Fatalf("the same request rotated again: version %d", v)
	}
	if st := states(e.keyring()); st["jwt-2"] != keyring.Active {
		t.Fatalf("not activated: %v", st)
	}
	krp := e.policy()
	if krp.Status.LastRotateRequest != "2026-03-01T12:05" {
		t.Fatalf("lastRotateRequest %q", krp.Status.LastRotateRequest)
	}
	// The schedule restarts from the manual rotation.
	if !krp.Status.NextRotationTime.Time.Equal(rotStart.Add(time.Hour)) {
		t.Fatalf("next %v", krp.Status.NextRotationTime)
	}

	// A request while a version is staged waits for it to become active, then rotates once.
	e.annotate("second")
	e.mustReconcile()
	e.annotate("third")
	e.mustReconcile()
	if v := keyrotation.KeyVersion(e.keyring()); v != 3 {
		t.Fatalf("version %d, want 3 (the third request waits for version 3 to be active)", v)
	}
	e.clk.Step(time.Minute)
	e.mustReconcile() // activates 3
	e.mustReconcile() // rotates for "third"
	if v := keyrotation.KeyVersion(e.keyring()); v != 4 {
		t.Fatalf("version %d, want 4", v)
	}
	if e.policy().Status.LastRotateRequest != "third" {
		t.Fatal("lastRotateRequest does not record the request acted on")
	}
}

// A status write lost after the keyring was written (the operator crashed) must not rotate
// again: status catches up from the keyring, including the manual request.
func TestALostStatusWriteDoesNotRepeatARotation(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	e.mustReconcile()
	e.annotate("once")
	var failStatus atomic.Bool
	failStatus.Store(true)
	crashing := interceptor.NewClient(noWatch{kube.Client}, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if failStatus.Load() {
				return errors.New("injected: the operator stopped before writing status")
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	e.r = e.reconciler(crashing)
	if _, err := e.reconcile(); err == nil {
		t.Fatal("the injected status failure was not reported")
	}
	if keyrotation.KeyVersion(e.keyring()) != 2 || e.policy().Status.CurrentVersion != 1 {
		t.Fatal("setup: the keyring should be ahead of status")
	}
	failStatus.Store(false)
	e.r = e.reconciler(kube.Client) // a new operator
	e.mustReconcile()
	krp := e.policy()
	if keyrotation.KeyVersion(e.keyring()) != 2 || krp.Status.CurrentVersion != 2 || krp.Status.LastRotateRequest != "once" {
		t.Fatalf("after the restart: keyring %d, status %d, request %q", keyrotation.KeyVersion(e.keyring()), krp.Status.CurrentVersion, krp.Status.LastRotateRequest)
	}
}

func TestRollingRestartRestartsOncePerRotationAndWaitsForTheRollout(t *testing.T) {
	e := newRotEnv(t, nil, func(k *rschedv1.KeyRotationPolicy) {
		k.Spec.Rollout = rschedv1.RolloutRollingRestart
	})
	reconcileSI := e.reconcileSI
	dep := reconcileSI()
	if _, ok := dep.Spec.Template.Annotations[rschedv1.KeyVersionAnnotation]; ok {
		t.Fatal("the pod template names a key version before any rotation")
	}
	e.mustReconcile()
	e.annotate("restart-please")
	e.mustReconcile()
	dep = reconcileSI()
	if got := dep.Spec.Template.Annotations[rschedv1.KeyVersionAnnotation]; got != "2" {
		t.Fatalf("pod template key version %q, want 2", got)
	}
	gen := dep.Generation
	// Until the Deployment has rolled out, the staged version waits, however long it takes.
	e.clk.Step(50 * time.Minute)
	e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Staged {
		t.Fatal("activated before the pods were restarted")
	}
	// The test plays the Deployment controller: every replica now runs the new template.
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if err := kube.Client.Status().Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Active {
		t.Fatal("not activated after the rollout")
	}
	// Neither the activation nor a new operator restarts the pods again.
	e.r = e.reconciler(kube.Client)
	e.mustReconcile()
	dep = reconcileSI()
	if dep.Generation != gen || dep.Spec.Template.Annotations[rschedv1.KeyVersionAnnotation] != "2" {
		t.Fatalf("the Deployment changed again: generation %d → %d (%v)", gen, dep.Generation, dep.Spec.Template.Annotations)
	}
	siNow := &rschedv1.SchedulerInstance{}
	_ = get(t, e.ns, "keys", siNow)
	if siNow.Status.KeyVersion != 2 {
		t.Fatalf("instance keyVersion %d, want 2", siNow.Status.KeyVersion)
	}
}

// staticObserver reports fixed pod reports: the decision logic around the server's report is
// pure; the scrape itself is tested against the real server binary.
type staticObserver struct{ pods []PodKeys }

func (o *staticObserver) Observe(context.Context, *rschedv1.SchedulerInstance) ([]PodKeys, error) {
	return o.pods, nil
}

func TestEncryptionKeysBeyondRetainAreDroppedOnlyWhenDrained(t *testing.T) {
	e := newRotEnv(t, nil, nil) // retain 1
	rotate := func(req string) {
		t.Helper()
		e.annotate(req)
		e.mustReconcile()
		e.clk.Step(time.Minute)
		e.mustReconcile()
	}
	e.mustReconcile()
	rotate("a")
	rotate("b")
	// fields-1 is beyond retain (fields-2 is the one retained) but nothing says it is drained.
	if st := states(e.keyring()); st["fields-1"] != keyring.DecryptOnly || st["fields-2"] != keyring.DecryptOnly || st["fields-3"] != keyring.Active {
		t.Fatalf("without a report: %v", st)
	}
	obs := &staticObserver{pods: []PodKeys{
		{Pod: "a", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: 3, Rewrap: &keyprobe.Rewrap{ActiveKID: "fields-3", Pending: 0, StartedAt: e.clk.Now()}}},
		{Pod: "b", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: 3, Rewrap: &keyprobe.Rewrap{ActiveKID: "fields-2", Pending: 0, StartedAt: e.clk.Now()}}},
	}}
	e.r.Observer = obs
	e.mustReconcile()
	if st := states(e.keyring()); st["fields-1"] != keyring.DecryptOnly {
		t.Fatal("dropped while a pod still encrypts with an older key")
	}
	obs.pods[1].Report.Rewrap = &keyprobe.Rewrap{ActiveKID: "fields-3", Pending: 4, StartedAt: e.clk.Now().Add(time.Second)}
	e.mustReconcile()
	if st := states(e.keyring()); st["fields-1"] != keyring.DecryptOnly {
		t.Fatal("dropped while the newest pass left data pending")
	}
	obs.pods[1].Report.Rewrap.Pending = 0
	e.mustReconcile()
	st := states(e.keyring())
	if st["fields-1"] != keyring.Retired || st["fields-2"] != keyring.DecryptOnly {
		t.Fatalf("drained: %v", st)
	}
	for _, k := range e.keyring().Encryption {
		if k.KID == "fields-1" && len(k.Key) != 0 {
			t.Fatal("a retired key kept its material")
		}
	}
	if evs := strings.Join(e.events(), "\n"); !strings.Contains(evs, "Key fields-1 retired") {
		t.Fatalf("events: %s", evs)
	}
}

func TestTargetMissingConflictAndBadTimeZoneAreReported(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	e.mustReconcile()
	second := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "zz-second", Namespace: e.ns}, Spec: e.policy().Spec}
	create(t, second)
	e2 := *e
	e2.name = "zz-second"
	e2.mustReconcile()
	krp := e2.policy()
	if c := condition(krp, rschedv1.ConditionReady); c == nil || c.Reason != rschedv1.ReasonTargetConflict || !strings.Contains(c.Message, e.name) {
		t.Fatalf("second policy: %+v", c)
	}
	if krp.Status.CurrentVersion != 0 {
		t.Fatal("the second policy reports versions it does not own")
	}
	e2.clk.Step(time.Hour) // the first policy's rotation comes due meanwhile
	e.mustReconcile()
	e2.mustReconcile()
	if again := e2.policy(); again.ResourceVersion != krp.ResourceVersion {
		t.Fatalf("a blocked policy's status was written again: %+v", again.Status)
	}

	orphan := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: e.ns}, Spec: e.policy().Spec}
	orphan.Spec.TargetRef.Name = "nope"
	create(t, orphan)
	e3 := *e
	e3.name = "orphan"
	res := e3.mustReconcile()
	if c := condition(e3.policy(), rschedv1.ConditionReady); c.Reason != rschedv1.ReasonTargetNotFound || res.RequeueAfter == 0 {
		t.Fatalf("orphan: %+v, requeue %v", c, res.RequeueAfter)
	}

	tz := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "tz", Namespace: e.ns}, Spec: e.policy().Spec}
	tz.Spec.TargetRef.Name = "keys"
	tz.Spec.Schedule = rschedv1.RotationSchedule{Cron: "0 3 * * *", TimeZone: "Mars/Olympus_Mons"}
	create(t, tz)
	e4 := *e
	e4.name = "tz"
	e4.mustReconcile()
	if c := condition(e4.policy(), rschedv1.ConditionReady); c.Reason != rschedv1.ReasonUnknownTimeZone {
		t.Fatalf("unknown zone: %+v", c)
	}
}

// The figures of docs/performance.md: over 120 rotations driven by the fake clock, how far the
// reconciler's own schedule (RequeueAfter) lands from nextRotationTime.
func TestFakeClockLatenessOver120Rotations(t *testing.T) {
	e := newRotEnv(t, nil, func(k *rschedv1.KeyRotationPolicy) {
		k.Spec.Schedule = rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 5 * time.Minute}}
		k.Spec.GracePeriod = &metav1.Duration{Duration: time.Minute}
	})
	staged := e.drive(rotStart.Add(601 * time.Minute))
	if len(staged) < 120 {
		t.Fatalf("%d rotations, want at least 120", len(staged))
	}
	var late []time.Duration
	for _, s := range staged {
		late = append(late, s[0].Sub(s[1]))
	}
	slices.Sort(late)
	t.Logf("fake clock: %d rotations, lateness p50 %v p99 %v max %v", len(late), late[len(late)/2], late[len(late)*99/100], late[len(late)-1])
	if late[0] < 0 || late[len(late)-1] >= time.Second {
		t.Fatalf("lateness out of [0, 1s): min %v max %v", late[0], late[len(late)-1])
	}
	// Every grace period ended: only the last replaced signing key still verifies.
	verifying := 0
	for _, k := range e.keyring().Signing {
		if k.State == keyring.VerifyOnly {
			verifying++
		}
	}
	if verifying > 1 {
		t.Fatalf("%d verify-only signing keys after their grace periods", verifying)
	}
	if n := len(e.policy().Status.Keys[0].Versions); n > maxVersionsShown {
		t.Fatalf("%d versions in status", n)
	}
}

var _ = testenv.Eventually

var debugDrive = false

func TestAPodKnownToBeBehindIsNeverOvertaken(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	obs := &staticObserver{pods: []PodKeys{
		{Pod: "fast", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: 2}},
		{Pod: "slow", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: 1}},
	}}
	e.r.Observer = obs
	e.mustReconcile()
	e.annotate("go")
	e.mustReconcile()
	e.clk.Step(time.Hour) // far past the propagation time
	e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Staged {
		t.Fatal("activated while a pod reported the previous keyring")
	}
	if c := condition(e.policy(), rschedv1.ConditionRotating); c == nil || !strings.Contains(c.Message, "pod slow") {
		t.Fatalf("Rotating: %+v", c)
	}
	obs.pods[1].Report.KeyringVersion = 2
	e.mustReconcile()
	if states(e.keyring())["jwt-2"] != keyring.Active {
		t.Fatal("not activated once every pod had the staged version")
	}
}

func TestAnOlderKeyringIsRefusedNotAdopted(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	e.mustReconcile()
	old := e.keyring()
	e.annotate("one")
	e.mustReconcile()
	e.clk.Step(time.Minute)
	e.mustReconcile()
	// Someone restores the version-1 keyring from an old backup.
	sec := &corev1.Secret{}
	_ = get(t, e.ns, "keys-keyring", sec)
	sec.Data[builders.KeyringKey], _ = keyring.Marshal(old)
	if err := kube.Client.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	e.annotate("two")
	e.mustReconcile()
	krp := e.policy()
	if c := condition(krp, rschedv1.ConditionReady); c.Reason != rschedv1.ReasonKeyringInvalid || krp.Status.CurrentVersion != 2 {
		t.Fatalf("after the regression: %+v, version %d", c, krp.Status.CurrentVersion)
	}
	if keyrotation.KeyVersion(e.keyring()) != 1 {
		t.Fatal("rotated over a regressed keyring (the next version would reuse jwt-2)")
	}
}

func TestRotatingStaysTrueUntilEveryPodHasTheActivatedKeyring(t *testing.T) {
	e := newRotEnv(t, nil, nil)
	obs := &staticObserver{pods: []PodKeys{{Pod: "p", Report: &keyprobe.Report{HasKeyring: true, KeyringVersion: 1}}}}
	e.r.Observer = obs
	e.mustReconcile()
	e.annotate("go")
	e.mustReconcile() // staged: file version 2
	obs.pods[0].Report.KeyringVersion = 2
	res := e.mustReconcile() // activated: file version 3, the pod still on 2
	if states(e.keyring())["jwt-2"] != keyring.Active {
		t.Fatal("not activated")
	}
	if c := condition(e.policy(), rschedv1.ConditionRotating); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "pod p has not loaded it") {
		t.Fatalf("Rotating while a pod lags: %+v", c)
	}
	if res.RequeueAfter != time.Second {
		t.Fatalf("requeue after %v, want 1s while a pod lags", res.RequeueAfter)
	}
	e.mustReconcile() // still lagging: the condition holds, no flapping
	if c := condition(e.policy(), rschedv1.ConditionRotating); c.Status != metav1.ConditionTrue {
		t.Fatalf("Rotating flapped: %+v", c)
	}
	obs.pods[0].Report.KeyringVersion = e.keyring().Version
	e.mustReconcile()
	if c := condition(e.policy(), rschedv1.ConditionRotating); c.Status != metav1.ConditionFalse {
		t.Fatalf("Rotating once every pod has it: %+v", c)
	}
}

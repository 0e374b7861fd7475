package secretsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

var kube *testenv.Kube

func TestMain(m *testing.M) {
	k, err := testenv.NewKube()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kube = k
	code := m.Run()
	_ = k.Stop()
	os.Exit(code)
}

// secretWriter writes the instance's Secrets through the real API server, as the reconciler's
// converge does (without the ownership checks, which the controllers' tests cover).
type secretWriter struct{ c client.Client }

func (w secretWriter) WriteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string, data map[string][]byte, counted bool) (string, error) {
	sec := &corev1.Secret{}
	err := w.c.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: si.Namespace, Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{controllerRef(si)}}, Data: data}
		if counted {
			sec.Annotations[builders.RevisionAnnotation] = "1"
		}
		return sec.Annotations[builders.RevisionAnnotation], w.c.Create(ctx, sec)
	} else if err != nil {
		return "", err
	}
	if counted && string(sec.Data[builders.DatabaseURLKey]) != string(data[builders.DatabaseURLKey]) {
		rev, _ := strconv.Atoi(sec.Annotations[builders.RevisionAnnotation])
		sec.Annotations[builders.RevisionAnnotation] = strconv.Itoa(rev + 1)
	}
	sec.Data = data
	return sec.Annotations[builders.RevisionAnnotation], w.c.Update(ctx, sec)
}

func (w secretWriter) DeleteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string) error {
	return client.IgnoreNotFound(w.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: si.Namespace}}))
}

// controllerRef makes si the controller of an object, as the reconciler's converge does.
func controllerRef(si *rschedv1.SchedulerInstance) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: rschedv1.GroupVersion.String(), Kind: "SchedulerInstance", Name: si.Name, UID: si.UID,
		Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
}

func ptr[T any](v T) *T { return &v }

type events []string

func (e *events) record(_ *rschedv1.SchedulerInstance, typ, reason, _, note string, args ...any) {
	*e = append(*e, typ+" "+reason+": "+fmt.Sprintf(note, args...))
}

// vaultInstance is an instance whose database URL is in Vault, read with a token the user's
// Secret holds.
func vaultInstance(t *testing.T, v *testenv.Vault, ns string) *rschedv1.SchedulerInstance {
	t.Helper()
	ctx := context.Background()
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, Data: map[string][]byte{"token": []byte(v.Token)}}
	if err := kube.Client.Create(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.KVv2("secret").Put(ctx, "rsched/db", map[string]any{"url": "postgres://db.example/rsched"}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: ns, Generation: 1, UID: types.UID(ns + "-si")}}
	si.Spec.Vault = &rschedv1.VaultSpec{Address: v.Addr, InsecureAllowHTTP: true,
		Auth: rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}}}
	si.Spec.Database.Vault = &rschedv1.VaultKVRef{Path: "rsched/db", Key: "url"}
	return si
}

// applyStatus writes into si's status what the reconciler's status would after res and err:
// the parts Gather reads back.
func applyStatus(si *rschedv1.SchedulerInstance, res Result, err error, now time.Time) {
	si.Status.ObservedGeneration = si.Generation
	set := func(status metav1.ConditionStatus, reason string) {
		meta.SetStatusCondition(&si.Status.Conditions, metav1.Condition{Type: rschedv1.ConditionSecretsSynced, Status: status, Reason: reason})
	}
	if res.Synced {
		t := metav1.NewTime(now.Truncate(time.Second))
		si.Status.LastSecretSyncTime, si.Status.VaultFailures, si.Status.LastVaultFailureTime = &t, 0, nil
		set(metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	}
	if res.Failures > 0 {
		t := metav1.NewTime(now.Truncate(time.Second))
		si.Status.VaultFailures, si.Status.LastVaultFailureTime = res.Failures, &t
		_, o := outcome.Of(err)
		set(metav1.ConditionFalse, o.Reason)
	}
}

// TestSyncKeepsTheLastGoodSecretAndBacksOffFromStatus drives one instance through a first sync,
// a Vault outage (the last good Secret stays; the failures count and back off from status, so a
// second Syncer, as after an operator restart, holds the same backoff) and the recovery.
func TestSyncKeepsTheLastGoodSecretAndBacksOffFromStatus(t *testing.T) {
	ctx := context.Background()
	v := testenv.StartVault(t)
	si := vaultInstance(t, v, "sync-outage")
	var ev events
	newSyncer := func() *Syncer {
		return &Syncer{Cache: kube.Client, APIReader: kube.Client, Vault: vault.NewFactory(nil, prometheus.NewRegistry()),
			Writer: secretWriter{kube.Client}, Event: ev.record}
	}
	now := time.Now().Truncate(time.Second)

	res, err := newSyncer().Sync(ctx, si, now)
	if err != nil || !res.Synced || res.Revision != "1" || !res.LastGood || res.Failures != 0 {
		t.Fatalf("first sync: %+v, %v", res, err)
	}
	applyStatus(si, res, err, now)
	db := &corev1.Secret{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: builders.DatabaseSecretName(si)}, db); err != nil || string(db.Data[builders.DatabaseURLKey]) != "postgres://db.example/rsched" {
		t.Fatalf("database Secret after the first sync: %v %q", err, db.Data[builders.DatabaseURLKey])
	}

	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	si.Generation = 2 // a spec change: read at once, whatever the refresh interval says
	res, err = newSyncer().Sync(ctx, si, now.Add(time.Minute))
	kind, o := outcome.Of(err)
	if kind != outcome.Failed || o.Reason != rschedv1.ReasonVaultUnreachable || o.After != 5*time.Second || res.Failures != 1 || !res.Stale || !res.LastGood {
		t.Fatalf("sync with Vault down: %+v, %v %+v", res, kind, o)
	}
	if len(ev) != 1 || ev[0] != "Warning VaultUnreachable: Vault is unreachable; keeping the last good Secrets, retrying with backoff" {
		t.Fatalf("events %q", ev)
	}
	applyStatus(si, res, err, now.Add(time.Minute))
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: builders.DatabaseSecretName(si)}, db); err != nil || string(db.Data[builders.DatabaseURLKey]) != "postgres://db.example/rsched" {
		t.Fatalf("the last good database Secret did not stay: %v %q", err, db.Data[builders.DatabaseURLKey])
	}

	// A new Syncer (an operator restart) 3 s into the 5 s backoff waits out the rest.
	res, err = newSyncer().Sync(ctx, si, now.Add(time.Minute+3*time.Second))
	if kind, o := outcome.Of(err); kind != outcome.Wait || o.After != 2*time.Second || res.Action != InBackoff {
		t.Fatalf("inside the backoff: %+v, %v %+v", res, kind, o)
	}
	// At its end it reads again, fails again, and the next backoff is twice as long.
	res, err = newSyncer().Sync(ctx, si, now.Add(time.Minute+5*time.Second))
	if kind, o := outcome.Of(err); kind != outcome.Failed || o.After != 10*time.Second || res.Failures != 2 {
		t.Fatalf("after the backoff: %+v, %v %+v", res, kind, o)
	}
	if len(ev) != 1 {
		t.Fatalf("a second failure evented again (only the 1st and every 10th are): %q", ev)
	}
}

// TestSyncBlocksOnAMissingUserSecret: a Secret the spec names that does not exist is Blocked on
// SecretsSynced, evented once, and nothing is written.
func TestSyncBlocksOnAMissingUserSecret(t *testing.T) {
	ctx := context.Background()
	ns := "sync-missing"
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: ns, Generation: 1, UID: types.UID(ns + "-si")}}
	si.Spec.Database.URLSecretRef = &rschedv1.SecretKeyRef{Name: "db", Key: "url"}
	var ev events
	s := &Syncer{Cache: kube.Client, APIReader: kube.Client, Writer: secretWriter{kube.Client}, Event: ev.record}
	res, err := s.Sync(ctx, si, time.Now())
	kind, o := outcome.Of(err)
	if kind != outcome.Blocked || o.Condition != rschedv1.ConditionSecretsSynced || o.Reason != rschedv1.ReasonSecretNotFound ||
		o.Message != `Secret "db" named by spec.database.urlSecretRef does not exist` || o.After != retrySourceMissing || res.LastGood {
		t.Fatalf("missing Secret: %+v, %v %+v", res, kind, o)
	}
	if len(ev) != 1 {
		t.Fatalf("events %q", ev)
	}
	err = kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: builders.DatabaseSecretName(si)}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("a database Secret was written without a source: %v", err)
	}
	// The user creates it: the next sync copies it.
	if err := kube.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Data: map[string][]byte{"url": []byte("postgres://x/y")}}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Sync(ctx, si, time.Now()); err != nil || !res.Synced || res.Revision != "1" {
		t.Fatalf("after the Secret was created: %+v, %v", res, errors.Unwrap(err))
	}
}

// TestALookAlikeSecretIsNeverReadAsTheInstancesOwn: a Secret under the database Secret's name,
// labelled like the operator's (anyone who can create a Secret can set a label) but not
// controlled by the instance, is a NameConflict that halts the reconcile: its revision never
// reaches the pod template and nothing is written over it.
func TestALookAlikeSecretIsNeverReadAsTheInstancesOwn(t *testing.T) {
	ctx := context.Background()
	ns := "sync-lookalike"
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: ns, Generation: 1, UID: types.UID(ns + "-si")}}
	si.Spec.Database.URLSecretRef = &rschedv1.SecretKeyRef{Name: "db", Key: "url"}
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.DatabaseSecretName(si), Namespace: ns, Labels: builders.Labels(si),
		Annotations: map[string]string{builders.RevisionAnnotation: "41"}}, Data: map[string][]byte{builders.DatabaseURLKey: []byte("postgres://attacker/db")}}
	for _, obj := range []client.Object{theirs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Data: map[string][]byte{"url": []byte("postgres://x/y")}}} {
		if err := kube.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	var ev events
	s := &Syncer{Cache: kube.Client, APIReader: kube.Client, Writer: secretWriter{kube.Client}, Event: ev.record}
	res, err := s.Sync(ctx, si, time.Now())
	kind, o := outcome.Of(err)
	if kind != outcome.Blocked || o.Reason != rschedv1.ReasonNameConflict || !o.Halt || o.Condition != rschedv1.ConditionReady || res.LastGood || res.Revision != "" {
		t.Fatalf("look-alike database Secret: %+v, %v %+v", res, kind, o)
	}
	if len(ev) != 1 || ev[0] != `Warning NameConflict: Secret "si-database" exists and is not owned by this instance; rename or remove it` {
		t.Fatalf("events %q", ev)
	}
	got := &corev1.Secret{}
	if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(theirs), got); err != nil || string(got.Data[builders.DatabaseURLKey]) != "postgres://attacker/db" {
		t.Fatalf("their Secret was changed: %v", err)
	}
}

package keyringstore

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

// TestStoreAgainstARealAPIServerAndVault drives the store as a policy does, against a real
// kube-apiserver and a real Vault: the Secret created owned by its instance and annotated for
// a staged version; the Secret's keyring recorded in Vault when storage is configured; Vault's
// check-and-set refusing the second of two writers (a wait, the Secret untouched); and a write
// that reached Vault but not the Secret completed from Vault on the next read.
func TestStoreAgainstARealAPIServerAndVault(t *testing.T) {
	ctx := context.Background()
	kube, v := testenv.StartKube(t), testenv.StartVault(t)
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "store"}}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: "store", UID: types.UID("0f1e2d3c")}}
	si.APIVersion, si.Kind = rschedv1.GroupVersion.String(), "SchedulerInstance"
	krp := &rschedv1.KeyRotationPolicy{}
	krp.Spec.Rollout = rschedv1.RolloutRollingRestart
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC))
	s := &Store{Client: kube.Client, Scheme: kube.Scheme, Clock: clk}
	v1, _ := keyrotation.Stage(nil, testKeys, clk.Now())
	v2, _ := keyrotation.Stage(v1, testKeys, clk.Now())

	readSecret := func() SecretCopy {
		t.Helper()
		sec, err := ReadSecret(ctx, kube.Client, si)
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	if sec := readSecret(); !sec.missing || Decide(sec, nil).Source != NotFound {
		t.Fatalf("before any write: %+v", sec)
	}

	// The first keyring: the Secret is created, owned by the instance, with no staging record.
	kr := &Keyring{}
	if err := s.Write(ctx, krp, si, kr, v1, ""); err != nil {
		t.Fatal(err)
	}
	sec := readSecret()
	if !Same(sec.file, v1) || !metav1.IsControlledBy(sec.secret, si) || sec.secret.Labels[builders.LabelInstance] != "keys" || len(sec.secret.Annotations) != 0 {
		t.Fatalf("created Secret: same %v, owners %v, labels %v, annotations %v", Same(sec.file, v1), sec.secret.OwnerReferences, sec.secret.Labels, sec.secret.Annotations)
	}
	// A staged version for a manual request: the request, the restart and the staging time
	// (rounded up to the second) are recorded.
	kr = &Keyring{File: sec.file, Secret: sec.secret}
	if err := s.Write(ctx, krp, si, kr, v2, "by-hand"); err != nil {
		t.Fatal(err)
	}
	a := readSecret().secret.Annotations
	if a[rschedv1.RotateRequestAnnotation] != "by-hand" || a[rschedv1.RolloutVersionAnnotation] != "2" || a[rschedv1.StagedAnnotation] != "2@2026-03-01T12:00:01Z" {
		t.Fatalf("annotations of a staged version: %v", a)
	}

	// Storage in Vault configured: Vault holds nothing, so the Secret's keyring is recorded there.
	vc, err := vault.NewFactory(nil, nil).For(vault.Identity{Address: v.Addr, Method: vault.Token, Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	loc := rschedv1.VaultKVPath{Mount: "secret", Path: "store/keys"}
	readBoth := func() (SecretCopy, *VaultCopy) {
		t.Helper()
		vlt, err := ReadVault(ctx, vc, loc)
		if err != nil {
			t.Fatal(err)
		}
		return readSecret(), vlt
	}
	sec, vlt := readBoth()
	d := Decide(sec, vlt)
	if d.Source != SecretToVault || vlt.version != 0 {
		t.Fatalf("empty Vault: %+v, KV version %d", d, vlt.version)
	}
	if _, _, err := s.Settle(ctx, krp, si, sec, vlt, d); err != nil {
		t.Fatal(err)
	}
	sec, vlt = readBoth()
	if d := Decide(sec, vlt); d != (Decision{Source: FromVault}) || vlt.version != 1 || vlt.request != "by-hand" {
		t.Fatalf("after recording: %+v, KV version %d, request %q", d, vlt.version, vlt.request)
	}

	// Two writers read the same KV version: the first wins, the second waits and writes nothing.
	first, _, err := s.Settle(ctx, krp, si, sec, vlt, Decision{Source: FromVault})
	if err != nil {
		t.Fatal(err)
	}
	sec2, vlt2 := readBoth()
	second, _, err := s.Settle(ctx, krp, si, sec2, vlt2, Decision{Source: FromVault})
	if err != nil {
		t.Fatal(err)
	}
	active, err := keyrotation.Activate(v2, clk.Now(), keyrotation.Retention{Grace: time.Hour, Retain: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, krp, si, first, active, "by-hand"); err != nil || !first.UsesVault() {
		t.Fatalf("the first writer: %v", err)
	}
	err = s.Write(ctx, krp, si, second, active, "someone else")
	if kind, o := outcome.Of(err); kind != outcome.Wait || o.After != RetryAfterConflict {
		t.Fatalf("the second writer: %v", err)
	}
	if a := readSecret().secret.Annotations; a[rschedv1.RotateRequestAnnotation] != "by-hand" || a[rschedv1.StagedAnnotation] != "" {
		t.Fatalf("the Secret after the lost race: %v", a)
	}

	// A write that reached Vault and not the Secret (the operator stopped between the two): the
	// next read renders the Secret from Vault.
	sec, vlt = readBoth()
	v3, _ := keyrotation.Stage(active, testKeys, clk.Now())
	if err := s.writeVault(ctx, &Keyring{vault: vlt}, v3, "half-way"); err != nil {
		t.Fatal(err)
	}
	sec, vlt = readBoth()
	d = Decide(sec, vlt)
	if d != (Decision{Source: FromVault, RenderSecret: true}) {
		t.Fatalf("Vault ahead of the Secret: %+v", d)
	}
	kr, restored, err := s.Settle(ctx, krp, si, sec, vlt, d)
	if err != nil || !restored || !Same(kr.File, v3) || kr.Request != "half-way" {
		t.Fatalf("settled: restored %v, same %v, request %q, %v", restored, Same(kr.File, v3), kr.Request, err)
	}
	if sec := readSecret(); !Same(sec.file, v3) || sec.request != "half-way" {
		t.Fatal("the Secret was not rendered from Vault")
	}
}

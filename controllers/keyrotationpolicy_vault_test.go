package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/testenv"
)

// vaultKeysEnv is a policy that keeps its keys in a real Vault, reached through a proxy the test
// can cut.
func vaultKeysEnv(t *testing.T) (*rotEnv, *testenv.Vault, *testenv.Proxy) {
	t.Helper()
	v := testenv.StartVault(t)
	proxy := testenv.StartProxy(t, "127.0.0.1", strings.TrimPrefix(v.Addr, "http://"))
	e := newRotEnv(t, func(si *rschedv1.SchedulerInstance) {
		si.Spec.Vault = &rschedv1.VaultSpec{Address: "http://" + proxy.Addr, InsecureAllowHTTP: true,
			Auth: rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}}}
	}, func(k *rschedv1.KeyRotationPolicy) {
		k.Spec.Storage = &rschedv1.KeyStorage{Vault: &rschedv1.VaultKVPath{Mount: "secret", Path: "rsched/keys"}}
	})
	userSecret(t, e.ns, "vault-token", map[string]string{"token": v.Token})
	return e, v, proxy
}

// vaultKeyring reads the keyring Vault holds and the KV version.
func vaultKeyring(t *testing.T, v *testenv.Vault) (*keyring.File, string, int) {
	t.Helper()
	s, err := v.Client.KVv2("secret").Get(context.Background(), "rsched/keys")
	if err != nil {
		t.Fatalf("reading the keyring from Vault: %v", err)
	}
	f, err := keyring.Decode([]byte(s.Data["keyring.json"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := s.Data["rotate-request"].(string)
	return f, req, s.VersionMetadata.Version
}

func TestVaultIsTheSourceOfTruthAndAHalfWrittenRotationCompletes(t *testing.T) {
	e, v, _ := vaultKeysEnv(t)
	e.mustReconcile()
	// Storage just configured: the instance's first keyring is recorded in Vault.
	vf, _, kv := vaultKeyring(t, v)
	if kv != 1 || !sameKeyring(vf, e.keyring()) {
		t.Fatalf("Vault holds KV version %d, same keyring %v", kv, sameKeyring(vf, e.keyring()))
	}

	// The operator "crashes" after writing Vault and before writing the Secret.
	var failUpdate atomic.Bool
	failUpdate.Store(true)
	crashing := interceptor.NewClient(noWatch{kube.Client}, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if _, ok := obj.(*corev1.Secret); ok && failUpdate.Load() {
				return errors.New("injected: the operator stopped before writing the Secret")
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	e.r = e.reconciler(crashing)
	e.annotate("half-way")
	res, err := e.reconcile()
	if err != nil {
		t.Fatalf("a failed rotation is retried after its backoff, not returned: %v", err)
	}
	if res.RequeueAfter != 10*time.Second {
		t.Fatalf("retry after %v, want the first backoff step (10s)", res.RequeueAfter)
	}
	vf, req, kv := vaultKeyring(t, v)
	if keyrotation.KeyVersion(vf) != 2 || req != "half-way" || kv != 2 || keyrotation.KeyVersion(e.keyring()) != 1 {
		t.Fatalf("setup: Vault keyring %d (request %q, KV %d), Secret keyring %d", keyrotation.KeyVersion(vf), req, kv, keyrotation.KeyVersion(e.keyring()))
	}
	krp := e.policy()
	if krp.Status.FailedAttempts != 1 || condition(krp, rschedv1.ConditionReady).Reason != rschedv1.ReasonRotationFailed {
		t.Fatalf("status after the failure: %+v", krp.Status)
	}

	// A new operator, after the backoff: the Secret is rendered from Vault; no version is
	// skipped or generated twice, and the request is recorded.
	failUpdate.Store(false)
	e.r = e.reconciler(kube.Client)
	e.clk.Step(10 * time.Second)
	e.mustReconcile()
	vf2, _, kv2 := vaultKeyring(t, v)
	if kv2 != 2 || !sameKeyring(vf2, vf) || !sameKeyring(e.keyring(), vf) {
		t.Fatalf("after recovery: KV %d, Secret equals Vault %v", kv2, sameKeyring(e.keyring(), vf))
	}
	krp = e.policy()
	if krp.Status.CurrentVersion != 2 || krp.Status.LastRotateRequest != "half-way" || krp.Status.FailedAttempts != 0 {
		t.Fatalf("status after recovery: %+v", krp.Status)
	}
	if evs := strings.Join(e.events(), "\n"); !strings.Contains(evs, "KeyringRestored") {
		t.Fatalf("events: %s", evs)
	}
	// The rotation carries on: activation is one more KV version; the history keeps them all.
	e.clk.Step(time.Minute)
	e.mustReconcile()
	vf3, _, kv3 := vaultKeyring(t, v)
	if kv3 != 3 || states(vf3)["jwt-2"] != keyring.Active || !sameKeyring(e.keyring(), vf3) {
		t.Fatalf("after activation: KV %d, states %v", kv3, states(vf3))
	}
	old, err := v.Client.KVv2("secret").GetVersion(context.Background(), "rsched/keys", 1)
	if err != nil || old.Data["keyring.json"] == nil {
		t.Fatalf("KV version 1 is gone from Vault's history: %v", err)
	}

	// The Secret is lost (deleted by mistake): it comes back from Vault, keys unchanged.
	sec := &corev1.Secret{}
	_ = get(t, e.ns, "keys-keyring", sec)
	if err := kube.Client.Delete(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	e.mustReconcile()
	if !sameKeyring(e.keyring(), vf3) {
		t.Fatal("the lost Secret was not restored from Vault")
	}
	text, _ := json.Marshal(e.policy())
	e.noMaterialIn("the policy", string(text))
}

func TestVaultOutageBacksOffAndRecoversWithoutHelp(t *testing.T) {
	e, _, proxy := vaultKeysEnv(t)
	e.mustReconcile()
	proxy.Cut()
	e.annotate("during-outage")
	res := e.mustReconcile()
	krp := e.policy()
	if krp.Status.FailedAttempts != 1 || res.RequeueAfter != 10*time.Second {
		t.Fatalf("first failure: attempts %d, retry after %v", krp.Status.FailedAttempts, res.RequeueAfter)
	}
	if c := condition(krp, rschedv1.ConditionVaultReachable); c == nil || c.Status != metav1.ConditionFalse || c.Reason != rschedv1.ReasonVaultUnreachable {
		t.Fatalf("VaultReachable: %+v", c)
	}
	if c := condition(krp, rschedv1.ConditionReady); c.Reason != rschedv1.ReasonRotationFailed {
		t.Fatalf("Ready: %+v", c)
	}
	// Inside the backoff nothing is tried, whatever wakes the reconciler.
	e.clk.Step(5 * time.Second)
	res = e.mustReconcile()
	if e.policy().Status.FailedAttempts != 1 || res.RequeueAfter != 5*time.Second {
		t.Fatalf("inside the backoff: attempts %d, retry after %v", e.policy().Status.FailedAttempts, res.RequeueAfter)
	}
	e.clk.Step(5 * time.Second)
	res = e.mustReconcile()
	if e.policy().Status.FailedAttempts != 2 || res.RequeueAfter != 20*time.Second {
		t.Fatalf("second failure: attempts %d, retry after %v", e.policy().Status.FailedAttempts, res.RequeueAfter)
	}
	if keyrotation.KeyVersion(e.keyring()) != 1 {
		t.Fatal("the keys changed while Vault, their source of truth, was unreachable")
	}
	evs := strings.Join(e.events(), "\n")
	if strings.Count(evs, "Warning RotationFailed") != 1 {
		t.Fatalf("want one RotationFailed event for the first failure: %s", evs)
	}
	proxy.Restore(t)
	e.clk.Step(20 * time.Second)
	e.mustReconcile()
	krp = e.policy()
	if keyrotation.KeyVersion(e.keyring()) != 2 || krp.Status.FailedAttempts != 0 || krp.Status.LastRotateRequest != "during-outage" {
		t.Fatalf("after Vault came back: keyring %d, status %+v", keyrotation.KeyVersion(e.keyring()), krp.Status)
	}
	if c := condition(krp, rschedv1.ConditionVaultReachable); c.Status != metav1.ConditionTrue {
		t.Fatalf("VaultReachable: %+v", c)
	}
	e.noMaterialIn("events", evs+strings.Join(e.events(), "\n"))
}

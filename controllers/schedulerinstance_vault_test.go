package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

const (
	vaultCanary = "VAULT-CANARY-51b7e0c2"
	vaultDBURL  = "postgres://rsched:" + vaultCanary + "@db.example.org:5432/rsched"
)

func seedVault(t *testing.T, v *testenv.Vault) {
	t.Helper()
	ctx := context.Background()
	if _, err := v.Client.KVv2("secret").Put(ctx, "rsched/db", map[string]any{"url": vaultDBURL}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.KVv2("secret").Put(ctx, "rsched/app", map[string]any{"smtp_password": vaultCanary + "-smtp"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Client.Sys().PutPolicyWithContext(ctx, "rsched-read", `path "secret/data/rsched/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
}

func vaultInstance(ns, name, addr string, auth rschedv1.VaultAuthSpec) *rschedv1.SchedulerInstance {
	return instance(ns, name, func(si *rschedv1.SchedulerInstance) {
		si.Spec.Database = rschedv1.DatabaseSpec{Vault: &rschedv1.VaultKVRef{Path: "rsched/db", Key: "url"}}
		si.Spec.Vault = &rschedv1.VaultSpec{Address: addr, InsecureAllowHTTP: true, Auth: auth,
			Secrets: []rschedv1.VaultKVPath{{Path: "rsched/app"}}}
	})
}

// noLeaks fails if the canary appears in the operator's logs, the namespace's events or status.
func noLeaks(t *testing.T, op *operator, ns, name string) {
	t.Helper()
	if strings.Contains(op.logs.String(), vaultCanary) {
		t.Error("a Vault secret value reached the operator's log")
	}
	var evs eventsv1.EventList
	_ = kube.Client.List(context.Background(), &evs, client.InNamespace(ns))
	for _, e := range evs.Items {
		if strings.Contains(e.Note, vaultCanary) || strings.Contains(e.Note, "hvs.") {
			t.Errorf("event %s carries a secret: %q", e.Reason, e.Note)
		}
	}
	if s := statusJSON(t, ns, name); strings.Contains(s, vaultCanary) || strings.Contains(s, "hvs.") {
		t.Error("a secret reached the status")
	}
}

func TestVaultTokenAuthProvisionsSecretsAndSurvivesAnOutage(t *testing.T) {
	v := testenv.StartVault(t)
	seedVault(t, v)
	proxy := newProxy(t, strings.TrimPrefix(v.Addr, "http://"))
	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "vault-token", map[string]string{"token": v.Token})
	si := vaultInstance(ns, "vt", "http://"+proxy.addr, rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}})
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionVaultReachable, metav1.ConditionTrue, rschedv1.ReasonVaultOK)
	var db, app corev1.Secret
	if get(t, ns, "vt-database", &db) != nil || string(db.Data["url"]) != vaultDBURL {
		t.Fatal("database URL not provisioned from Vault")
	}
	if get(t, ns, "vt-app", &app) != nil || string(app.Data["smtp_password"]) != vaultCanary+"-smtp" {
		t.Fatal("application secrets not provisioned from Vault")
	}

	// Vault goes away. A spec change makes the operator read again: it fails, keeps the Secrets,
	// says so, and backs off.
	proxy.stop()
	bump(t, ns, "vt")
	got := waitCondition(t, si, rschedv1.ConditionVaultReachable, metav1.ConditionFalse, rschedv1.ReasonVaultUnreachable)
	if d := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionDegraded); d == nil || d.Status != metav1.ConditionTrue {
		t.Fatalf("Degraded %+v", d)
	}
	testenv.Eventually(t, 30*time.Second, "backoff grows", func() (bool, string) {
		var cur rschedv1.SchedulerInstance
		_ = get(t, ns, "vt", &cur)
		return cur.Status.VaultFailures >= 2, "failures " + string(rune('0'+cur.Status.VaultFailures))
	})
	if get(t, ns, "vt-database", &db) != nil || string(db.Data["url"]) != vaultDBURL {
		t.Fatal("the last good Secret was lost during the outage")
	}
	// Vault comes back with the same data: recovery needs no one.
	proxy.start(t)
	got = waitCondition(t, si, rschedv1.ConditionVaultReachable, metav1.ConditionTrue, rschedv1.ReasonVaultOK)
	if got.Status.VaultFailures != 0 {
		t.Fatalf("failures not reset: %d", got.Status.VaultFailures)
	}
	// A new version in Vault reaches the Secret on the next sync.
	if _, err := v.Client.KVv2("secret").Put(context.Background(), "rsched/app", map[string]any{"smtp_password": vaultCanary + "-v2"}); err != nil {
		t.Fatal(err)
	}
	bump(t, ns, "vt")
	testenv.Eventually(t, 20*time.Second, "new Vault version copied", func() (bool, string) {
		_ = get(t, ns, "vt-app", &app)
		return string(app.Data["smtp_password"]) == vaultCanary+"-v2", "old value"
	})
	noLeaks(t, op, ns, "vt")
}

func TestVaultAppRoleAuth(t *testing.T) {
	v := testenv.StartVault(t)
	seedVault(t, v)
	ctx := context.Background()
	if err := v.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vaultapi.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched", map[string]any{"token_policies": "rsched-read"}); err != nil {
		t.Fatal(err)
	}
	rid, _ := v.Client.Logical().ReadWithContext(ctx, "auth/approle/role/rsched/role-id")
	sid, _ := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched/secret-id", nil)
	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "approle", map[string]string{"secret-id": sid.Data["secret_id"].(string)})
	si := vaultInstance(ns, "ar", v.Addr, rschedv1.VaultAuthSpec{AppRole: &rschedv1.VaultAppRoleAuth{
		RoleID: rid.Data["role_id"].(string), SecretIDSecretRef: rschedv1.SecretKeyRef{Name: "approle", Key: "secret-id"}}})
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	var db corev1.Secret
	if get(t, ns, "ar-database", &db) != nil || string(db.Data["url"]) != vaultDBURL {
		t.Fatal("database URL not provisioned through AppRole")
	}
	noLeaks(t, op, ns, "ar")

	// A wrong secret ID is a refused login, reported as such.
	userSecret(t, ns, "approle-bad", map[string]string{"secret-id": "not-the-secret-id"})
	bad := vaultInstance(ns, "ar-bad", v.Addr, rschedv1.VaultAuthSpec{AppRole: &rschedv1.VaultAppRoleAuth{
		RoleID: rid.Data["role_id"].(string), SecretIDSecretRef: rschedv1.SecretKeyRef{Name: "approle-bad", Key: "secret-id"}}})
	create(t, bad)
	waitCondition(t, bad, rschedv1.ConditionVaultReachable, metav1.ConditionFalse, rschedv1.ReasonVaultAuthFailed)
}

// bump changes the spec (a pod annotation), which makes the next reconcile read the sources.
func bump(t *testing.T, ns, name string) {
	t.Helper()
	var si rschedv1.SchedulerInstance
	if err := get(t, ns, name, &si); err != nil {
		t.Fatal(err)
	}
	if si.Spec.PodAnnotations == nil {
		si.Spec.PodAnnotations = map[string]string{}
	}
	si.Spec.PodAnnotations["example.org/bump"] = time.Now().Format("150405.000000")
	if err := kube.Client.Update(context.Background(), &si); err != nil {
		t.Fatal(err)
	}
}

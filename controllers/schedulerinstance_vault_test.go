package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/testenv"
)

const (
	vaultCanary = "VAULT-CANARY-51b7e0c2"
	vaultDBURL  = "postgres://rsched:" + vaultCanary + "@db.example.org:5432/rsched?sslmode=verify-full"
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
	proxy := testenv.StartProxy(t, "127.0.0.1", strings.TrimPrefix(v.Addr, "http://"))
	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "vault-token", map[string]string{"token": v.Token})
	si := vaultInstance(ns, "vt", "http://"+proxy.Addr, rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}})
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
	proxy.Cut()
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
	proxy.Restore(t)
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
	// The operator writes the object too (finalizer, annotations): a conflict means read again.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var si rschedv1.SchedulerInstance
		if err := get(t, ns, name, &si); err != nil {
			return err
		}
		if si.Spec.PodAnnotations == nil {
			si.Spec.PodAnnotations = map[string]string{}
		}
		si.Spec.PodAnnotations["example.org/bump"] = time.Now().Format("150405.000000")
		return kube.Client.Update(context.Background(), &si)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Vault's kubernetes auth method against the test API server: Vault reviews the TokenRequest
// token the operator obtains for the instance's ServiceAccount (audience "vault") and lets it
// read the instance's secrets.
func TestVaultKubernetesAuthEndToEnd(t *testing.T) {
	v := testenv.StartVault(t)
	seedVault(t, v)
	ctx := context.Background()
	ns := namespace(t, nil)

	// A reviewer identity for Vault: a ServiceAccount allowed to create TokenReviews.
	reviewer := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer", Namespace: ns}}
	create(t, reviewer)
	create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-vault-reviewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vault-reviewer", Namespace: ns}}})
	reviewerJWT, err := TokenSource(kube.Client)(ctx, ns+"/vault-reviewer", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "kubernetes", &vaultapi.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/kubernetes/config", map[string]any{
		"kubernetes_host":    kube.Config.Host,
		"kubernetes_ca_cert": string(kube.Config.CAData),
		"token_reviewer_jwt": reviewerJWT,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/kubernetes/role/rsched-k8s", map[string]any{
		"bound_service_account_names":      "k8s-scheduler",
		"bound_service_account_namespaces": ns,
		"audience":                         "vault",
		"token_policies":                   "rsched-read",
		"token_ttl":                        "10m",
	}); err != nil {
		t.Fatal(err)
	}
	op := startOperator(t)
	si := vaultInstance(ns, "k8s", v.Addr, rschedv1.VaultAuthSpec{Kubernetes: &rschedv1.VaultKubernetesAuth{Role: "rsched-k8s", Audiences: []string{"vault"}}})
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionVaultReachable, metav1.ConditionTrue, rschedv1.ReasonVaultOK)
	var db corev1.Secret
	if get(t, ns, "k8s-database", &db) != nil || string(db.Data["url"]) != vaultDBURL {
		t.Fatal("database URL not provisioned through Kubernetes auth")
	}
	noLeaks(t, op, ns, "k8s")

	// A role bound to another ServiceAccount refuses the login.
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/kubernetes/role/other", map[string]any{
		"bound_service_account_names": "someone-else", "bound_service_account_namespaces": ns, "audience": "vault", "token_policies": "rsched-read",
	}); err != nil {
		t.Fatal(err)
	}
	wrong := vaultInstance(ns, "k8s-wrong", v.Addr, rschedv1.VaultAuthSpec{Kubernetes: &rschedv1.VaultKubernetesAuth{Role: "other", Audiences: []string{"vault"}}})
	create(t, wrong)
	waitCondition(t, wrong, rschedv1.ConditionVaultReachable, metav1.ConditionFalse, rschedv1.ReasonVaultAuthFailed)
}

// A new database URL in Vault reaches the Secret and rolls the pods (the servers read it at start):
// the pod template's database revision moves, the config hash does not.
func TestChangedDatabaseURLRollsThePods(t *testing.T) {
	v := testenv.StartVault(t)
	seedVault(t, v)
	ns := namespace(t, nil)
	op := startOperator(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(op.logs.String())
		}
	})
	userSecret(t, ns, "vault-token", map[string]string{"token": v.Token})
	si := vaultInstance(ns, "roll", v.Addr, rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}})
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	var dep appsv1.Deployment
	testenv.Eventually(t, 20*time.Second, "deployment", func() (bool, string) { return get(t, ns, "roll", &dep) == nil, "" })
	rev, hash := dep.Spec.Template.Annotations[builders.DatabaseRevisionAnnotation], dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]
	if rev != "1" {
		t.Fatalf("database revision %q, want 1", rev)
	}
	if _, err := v.Client.KVv2("secret").Put(context.Background(), "rsched/db", map[string]any{"url": vaultDBURL + "&connect_timeout=5"}); err != nil {
		t.Fatal(err)
	}
	bump(t, ns, "roll")
	testenv.Eventually(t, 20*time.Second, "pods roll for the new URL", func() (bool, string) {
		_ = get(t, ns, "roll", &dep)
		return dep.Spec.Template.Annotations[builders.DatabaseRevisionAnnotation] == "2", dep.Spec.Template.Annotations[builders.DatabaseRevisionAnnotation]
	})
	var db corev1.Secret
	_ = get(t, ns, "roll-database", &db)
	if string(db.Data["url"]) != vaultDBURL+"&connect_timeout=5" || strings.Contains(fmt.Sprint(dep.Spec.Template.Annotations), vaultCanary) {
		t.Fatal("the Secret was not updated, or secret data reached the pod template")
	}
	if dep.Spec.Template.Annotations[builders.ConfigHashAnnotation] != hash {
		t.Fatal("the config hash moved: only the database revision should")
	}
}

// A failing instance retries on its backoff, not in a loop driven by its own status writes.
func TestAFailingInstanceDoesNotSpin(t *testing.T) {
	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "vault-token", map[string]string{"token": "hvs.wrong"})
	si := vaultInstance(ns, "spin", "http://127.0.0.1:1", rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}})
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionVaultReachable, metav1.ConditionFalse, rschedv1.ReasonVaultUnreachable)
	before := int(op.writes.n.Load())
	time.Sleep(4 * time.Second) // inside the first backoff (5 s): nothing may happen
	if w := op.writes.sinceIn(before, ns); len(w) > 1 {
		t.Fatalf("%d writes in 4 s while waiting out a 5 s backoff: %v", len(w), w)
	}
}

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/controllers"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

// The manager's permission to request ServiceAccount tokens (Vault's kubernetes auth) is opt-in,
// and when granted it is limited by a ValidatingAdmissionPolicy to what an instance's Vault login
// needs. Checked on a real API server with the manager's own identity (a token of its
// ServiceAccount, so the RBAC and the policy the install rendered are what decide), for the chart
// and for the kustomize component.
func TestManagerCannotMintTokensForServiceAccountsItDoesNotOwn(t *testing.T) {
	h := newHelm(t)
	t.Run("chart default: no token permission at all", func(t *testing.T) {
		k := tokenTestCluster(t)
		applyManifest(t, k, h.template(t))
		mgr := managerTokenClient(t, k)
		_, err := controllers.TokenSource(mgr)(context.Background(), "team-a/ward-scheduler", []string{"vault"})
		if !errors.Is(err, vault.ErrTokenForbidden) {
			t.Fatalf("a token for the instance's ServiceAccount without the opt-in: %v, want vault.ErrTokenForbidden", err)
		}
	})
	t.Run("chart rbac.serviceAccountTokenCreate.enabled", func(t *testing.T) {
		k := tokenTestCluster(t)
		applyManifest(t, k, h.template(t, "--set", "rbac.serviceAccountTokenCreate.enabled=true"))
		checkTokenPolicy(t, k)
	})
	t.Run("kustomize config/default with the vault-kubernetes-auth component", func(t *testing.T) {
		k := tokenTestCluster(t)
		overlay := t.TempDir()
		root := testenv.RepoRoot()
		def, err := filepath.Rel(overlay, filepath.Join(root, "config", "default"))
		if err != nil {
			t.Fatal(err)
		}
		comp, err := filepath.Rel(overlay, filepath.Join(root, "config", "components", "vault-kubernetes-auth"))
		if err != nil {
			t.Fatal(err)
		}
		kust := "resources:\n  - " + def + "\ncomponents:\n  - " + comp + "\n"
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := k.Kubectl("apply", "--server-side", "-k", overlay); err != nil {
			t.Fatalf("kubectl apply -k: %v\n%s", err, out)
		}
		checkTokenPolicy(t, k)
	})
}

// tokenTestCluster starts an API server with the namespaces and ServiceAccounts the cases use:
// an instance's (team-a/ward-scheduler), an unrelated one in the same namespace (team-a/admin),
// and one in kube-system whose name looks like an instance's.
func tokenTestCluster(t *testing.T) *testenv.Kube {
	t.Helper()
	k := testenv.StartKube(t)
	ctx := context.Background()
	for _, ns := range []string{chartNamespace, "team-a"} {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, sa := range []client.ObjectKey{{Namespace: "team-a", Name: "ward-scheduler"}, {Namespace: "team-a", Name: "admin"}, {Namespace: "kube-system", Name: "kube-scheduler"}} {
		if err := k.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.Namespace, Name: sa.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// managerTokenClient is a client authenticated as the manager's ServiceAccount, which the install
// created (rsched-system/rsched-manager in both the chart and config/default).
func managerTokenClient(t *testing.T, k *testenv.Kube) client.Client {
	t.Helper()
	ctx := context.Background()
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-manager"}, &corev1.ServiceAccount{}); err != nil {
		t.Fatalf("the install did not create the manager's ServiceAccount: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", saKubeconfig(t, k, chartNamespace, "rsched-manager"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkTokenPolicy: with the opt-in, the manager gets the token an instance's Vault login needs,
// that token cannot act on the Kubernetes API, and every other request is refused with the
// policy's message.
func checkTokenPolicy(t *testing.T, k *testenv.Kube) {
	t.Helper()
	ctx := context.Background()
	mgr := managerTokenClient(t, k)

	// The policy is enforced once the API server has compiled it and seen its binding: the first
	// refusal may take a moment, and until it comes nothing else is checked.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := requestToken(ctx, mgr, "team-a", "admin", []string{"vault"}, 600)
		if err != nil && strings.Contains(err.Error(), "only for the ServiceAccounts of SchedulerInstances") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy is not enforced after 30 s: a token for team-a/admin: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// What the operator's own code path asks for is allowed.
	jwt, err := controllers.TokenSource(mgr)(ctx, "team-a/ward-scheduler", []string{"vault"})
	if err != nil || jwt == "" {
		t.Fatalf("the instance's Vault login token: %v", err)
	}
	// It is bound to Vault's audience, so the Kubernetes API does not take it.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: k.Config.Host, BearerToken: jwt,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("the Kubernetes API with the instance's Vault token: %v, want 401 Unauthorized", err)
	}

	for _, c := range []struct {
		what, ns, name string
		audiences      []string
		seconds        int64
		want           string
	}{
		{"another ServiceAccount in the instance's namespace", "team-a", "admin", []string{"vault"}, 600, "only for the ServiceAccounts of SchedulerInstances"},
		{"a kube-system ServiceAccount named like an instance's", "kube-system", "kube-scheduler", []string{"vault"}, 600, "may not request tokens in kube-system"},
		{"no audience (the API server's own)", "team-a", "ward-scheduler", nil, 600, "only for the audiences vault"},
		{"the API server's audience", "team-a", "ward-scheduler", []string{"https://kubernetes.default.svc.cluster.local"}, 600, "only for the audiences vault"},
		{"an audience besides vault", "team-a", "ward-scheduler", []string{"vault", "other"}, 600, "only for the audiences vault"},
		{"a token for a day", "team-a", "ward-scheduler", []string{"vault"}, 86400, "valid for at most an hour"},
	} {
		err := requestToken(ctx, mgr, c.ns, c.name, c.audiences, c.seconds)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want 403 Forbidden mentioning %q", c.what, err, c.want)
		}
	}

	// The policy binds the manager only: the API server's administrator (and the kubelet) still
	// get tokens for any ServiceAccount.
	if err := requestToken(ctx, k.Client, "team-a", "admin", nil, 600); err != nil {
		t.Errorf("an administrator's token request for team-a/admin: %v", err)
	}
}

func requestToken(ctx context.Context, c client.Client, ns, name string, audiences []string, seconds int64) error {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &seconds}}
	return c.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, tr)
}

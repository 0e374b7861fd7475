//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// podCIDR is the local cluster's pod network; PostgreSQL admits password logins from it.
const podCIDR = "10.244.0.0/16"

// clientLabel marks the pods an instance admits (spec.network.ingressFrom); the e2e client pods
// carry it with the value "true".
const clientLabel = "rsched-e2e/client"

// appNamespace creates a namespace that enforces the restricted Pod Security profile.
func appNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	if err := kc.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Delete(context.Background(), ns) })
}

// backends starts PostgreSQL and a Vault dev server on the host, where pods reach them, and puts
// the database URL and an application secret into Vault.
func backends(t *testing.T) (*testenv.Postgres, *testenv.Vault) {
	t.Helper()
	pg, err := testenv.NewPostgresOn(hostIP, podCIDR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	v, err := testenv.NewVaultOn(hostIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Stop() })
	kv := v.Client.KVv2("secret")
	if _, err := kv.Put(context.Background(), "rsched/e2e/database", map[string]any{"url": pg.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "rsched/e2e/app", map[string]any{"webhook_secret": "e2e-webhook-secret-value"}); err != nil {
		t.Fatal(err)
	}
	return pg, v
}

// hostEgress allows egress to one TCP port of the host (where the tests run PostgreSQL and Vault).
func hostEgress(port int) *rschedv1.EgressRule {
	return &rschedv1.EgressRule{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: hostIP + "/32"}}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(int32(port)))}},
	}
}

// e2eInstance is a SchedulerInstance of two real scheduler pods whose database URL and
// application secrets come from Vault (token login). Its NetworkPolicies (policy Enforce, the
// default) admit the pods labelled clientLabel and let the pods reach PostgreSQL and Vault on the
// host: what a user writes, and what a policy-enforcing pod network needs.
func e2eInstance(ns, name string, dbPort int, vaultAddr string) *rschedv1.SchedulerInstance {
	vu, _ := url.Parse(vaultAddr)
	vaultPort, _ := strconv.Atoi(vu.Port())
	return &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: rschedv1.SchedulerInstanceSpec{
		Image:    "localhost/rsched/scheduler:" + imageTag,
		Replicas: ptr.To[int32](2),
		// The test's PostgreSQL on the host speaks plain TCP (its URL says sslmode=disable): the
		// documented opt-out for a database on the same node of a test cluster.
		Database: rschedv1.DatabaseSpec{Vault: &rschedv1.VaultKVRef{Path: "rsched/e2e/database", Key: "url"},
			TLS: rschedv1.DatabaseTLSSpec{Mode: "disable", InsecureAllowUnverified: true}},
		Vault: &rschedv1.VaultSpec{Address: vaultAddr, InsecureAllowHTTP: true,
			Auth:    rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}},
			Secrets: []rschedv1.VaultKVPath{{Path: "rsched/e2e/app"}}},
		// The load comes from one client address and one user as fast as it can: lift the
		// whole-API and sign-in limits that would answer 429 (the server's own tests cover them).
		RateLimit: rschedv1.RateLimitSpec{
			API:   &rschedv1.RateLimit{Requests: 1000000, Period: metav1.Duration{Duration: time.Minute}},
			Login: &rschedv1.RateLimit{Requests: 1000, Period: metav1.Duration{Duration: time.Minute}},
		},
		// A CA key replacement (the rotation scenario asks for one) in about a minute, not twenty.
		TLS: rschedv1.TLSSpec{TrustPropagation: "30s", Overlap: "30s"},
		Network: rschedv1.NetworkSpec{
			IngressFrom: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{clientLabel: "true"}}}},
			EgressTo:    &rschedv1.EgressSpec{Database: hostEgress(dbPort), Vault: hostEgress(vaultPort)},
		},
	}}
}

// deployInstance creates, in a new restricted namespace, the Vault token Secret and the instance
// "sched" (PostgreSQL pg, Vault at vaultAddr), and waits until it is Ready; it returns how long
// that took.
func deployInstance(t *testing.T, ns string, pg *testenv.Postgres, vaultAddr, token string) (*rschedv1.SchedulerInstance, time.Duration) {
	t.Helper()
	appNamespace(t, ns)
	ctx := context.Background()
	if err := kc.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": token}}); err != nil {
		t.Fatal(err)
	}
	if err := kc.Create(ctx, e2eInstance(ns, "sched", pg.Port, vaultAddr)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	si := waitReady(t, ns, "sched", 3*time.Minute)
	return si, time.Since(start)
}

// waitReady waits until the instance's Ready condition is True for its generation.
func waitReady(t *testing.T, ns, name string, within time.Duration) *rschedv1.SchedulerInstance {
	t.Helper()
	si := &rschedv1.SchedulerInstance{}
	eventually(t, within, "SchedulerInstance "+name+" Ready", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, si); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == metav1.ConditionTrue && c.ObservedGeneration == si.Generation, c.Reason + ": " + c.Message
	})
	return si
}

// serviceAPI is the instance's API through its Service's ClusterIP, over HTTPS verified against
// the instance's trust bundle for the Service's name.
type serviceAPI struct {
	base string
	hc   *http.Client
}

// api calls the instance's API through its Service (ClusterIP, programmed by kube-proxy) and
// decodes the JSON answer; content is checked, not only the status (the VM answers 404 to
// addresses nothing serves).
func api(t *testing.T, svc *serviceAPI, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, svc.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := svc.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s: %d (want %d), body %.200q", method, path, resp.StatusCode, want, raw)
	}
	return out
}

// serviceBase returns the API of the instance's Service once kube-proxy has programmed it (right
// after the instance is Ready, the ClusterIP may still refuse connections).
func serviceBase(t *testing.T, ns, name string) *serviceAPI {
	t.Helper()
	svc := &corev1.Service{}
	if err := kc.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://%s:%d/api/v1", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	hc := instanceClient(t, ns, 2*time.Second)
	eventually(t, time.Minute, "Service "+name+" answering", func(ctx context.Context) (bool, string) {
		resp, err := hc.Get(base + "/health/ready")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		return err == nil && resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %v", resp.StatusCode, body)
	})
	return &serviceAPI{base: base, hc: instanceClient(t, ns, 10*time.Second)}
}

// Scenario 2: real scheduler pods start under the restricted profile with a read-only root
// filesystem, their database URL and secrets provisioned from Vault; they pass their probes, the
// instance is Ready, its pods serve HTTPS only with the operator's certificate for it, and a user
// registers and signs in through the Service (verified against the instance's bundle).
func TestInstanceServesFromRealPods(t *testing.T) {
	installOperator(t)
	pg, v := backends(t)
	ns := "e2e-app"
	ctx := context.Background()
	si, took := deployInstance(t, ns, pg, v.Addr, v.Token)
	t.Logf("instance Ready %v after creation (%s replicas, key version %d)", took.Round(100*time.Millisecond), si.Status.ReplicaSummary, si.Status.KeyVersion)

	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "sched"}); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		running++
		c := p.Spec.Containers[0]
		if c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) || !ptr.Deref(p.Spec.SecurityContext.RunAsNonRoot, false) {
			t.Fatalf("pod %s: not read-only and non-root", p.Name)
		}
		if c.Image != "localhost/rsched/scheduler:"+imageTag {
			t.Fatalf("pod %s runs %s", p.Name, c.Image)
		}
	}
	if running != 2 {
		t.Fatalf("%d running scheduler pods, want 2", running)
	}

	// HTTPS only, with the operator's certificate for the instance.
	expectServesOperatorCertificate(t, ns)

	base := serviceBase(t, ns, "sched")
	const password = "E2e-Correct-Horse-Battery-Staple-42"
	user := api(t, base, "POST", "/auth/register", "", map[string]any{"username": "e2e-admin", "email": "e2e-admin@example.org", "password": password}, http.StatusCreated)
	if user["username"] != "e2e-admin" || user["role"] != "admin" {
		t.Fatalf("registered %v", user)
	}
	tok := api(t, base, "POST", "/auth/login/json", "", map[string]any{"username": "e2e-admin", "password": password}, http.StatusOK)
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatal("no access token in the sign-in answer")
	}
	// Every replica answers for the same user: they share the database and the keyring.
	for range 6 {
		me := api(t, base, "GET", "/auth/me", access, nil, http.StatusOK)
		if me["username"] != "e2e-admin" {
			t.Fatalf("/auth/me: %v", me)
		}
	}
	// And from a client pod, through the Service's DNS name: four sessions sign in and read.
	cl := startClientPod(t, ns, "https://sched."+ns+".svc:8080/api/v1", "e2e-admin", password)
	time.Sleep(2 * time.Second) // let the sessions read for a moment
	if st := cl.stop(t); st.Logins != 4 || st.Requests == 0 || st.Failures != 0 {
		t.Fatalf("client pod: %+v", st)
	}
}

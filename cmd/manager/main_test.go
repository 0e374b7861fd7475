package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

func TestWatchNamespacesFlag(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{"", 0, ""},
		{" , ", 0, "names no namespace"},
		{"a", 1, ""},
		{" team-a , team-b ,", 2, ""},
		{"Team_A", 0, "is not a valid namespace name"},
		{"-a", 0, "is not a valid namespace name"},
		{strings.Repeat("a", 64), 0, "longer than 63"},
	} {
		got, err := watchedNamespaces(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(got) != c.want {
			t.Errorf("%q: got %v %v, want %d namespaces", c.in, got, err, c.want)
		}
	}
}

// managerProc is the real manager binary running against the test API server.
type managerProc struct {
	cmd            *exec.Cmd
	out            *testenv.OutputBuffer
	probe, metrics string
	done           chan struct{}
}

// managerBin is the manager binary built once for this package's tests.
var managerBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := testenv.BuildBinary("cmd/manager")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	managerBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func startManager(t *testing.T, bin string, k *testenv.Kube, ns string, extra ...string) *managerProc {
	t.Helper()
	m := &managerProc{probe: testenv.FreeAddr(t), metrics: testenv.FreeAddr(t), out: &testenv.OutputBuffer{}, done: make(chan struct{})}
	args := append([]string{
		"--kubeconfig", k.Kubeconfig,
		"--leader-election-namespace", ns,
		"--health-probe-bind-address", m.probe,
		"--metrics-bind-address", m.metrics,
		"--zap-log-level", "info",
	}, extra...)
	m.cmd = exec.Command(bin, args...)
	// The manager's namespace, where the rsched-specific metrics grant is asked for.
	m.cmd.Env = append(os.Environ(), "POD_NAMESPACE="+ns)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("manager output:\n%s", m.out.String())
		}
	})
	return m
}

func (m *managerProc) stop(t *testing.T) {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Error("the manager did not stop within 20s of SIGTERM")
	}
}

func httpStatus(c *http.Client, url, token string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

func leaseHolder(ctx context.Context, c client.Client, ns string) string {
	l := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rsched-manager.scheduling.rsched.io"}, l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func serviceAccountToken(t *testing.T, k *testenv.Kube, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
	return accountToken(t, k, ns, name)
}

// accountToken is a 10-minute token of an existing ServiceAccount (TokenRequest).
func accountToken(t *testing.T, k *testenv.Kube, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	return tr.Status.Token
}

func ptr[T any](v T) *T { return &v }

func TestManagerLeaderElectionProbesAndAuthenticatedMetrics(t *testing.T) {
	bin := managerBin
	k := testenv.StartKube(t)
	ctx := context.Background()
	ns := "rsched-system"
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	first := startManager(t, bin, k, ns)
	plain := &http.Client{Timeout: 2 * time.Second}
	for _, path := range []string{"/healthz", "/readyz"} {
		testenv.Eventually(t, 30*time.Second, path+" returns 200", func() (bool, string) {
			code, body, err := httpStatus(plain, "http://"+first.probe+path, "")
			return code == http.StatusOK, fmt.Sprint(code, " ", body, " ", err)
		})
	}
	testenv.Eventually(t, 30*time.Second, "the first manager holds the leader Lease", func() (bool, string) {
		h := leaseHolder(ctx, k.Client, ns)
		return h != "", "holder=" + h
	})
	leader := leaseHolder(ctx, k.Client, ns)

	// Metrics: HTTPS only, and only for an authenticated caller allowed to GET /metrics.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed by design; this test checks authn/authz, not the certificate
	}}
	metricsURL := "https://" + first.metrics + "/metrics"
	testenv.Eventually(t, 30*time.Second, "metrics endpoint answers", func() (bool, string) {
		code, _, err := httpStatus(insecure, metricsURL, "")
		return err == nil && code != 0, fmt.Sprint(err)
	})
	if code, _, err := httpStatus(plain, "http://"+first.metrics+"/metrics", ""); err == nil && code == http.StatusOK {
		t.Error("metrics are served over plain HTTP")
	}
	if code, _, _ := httpStatus(insecure, metricsURL, ""); code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d, want 401", code)
	}
	stranger := serviceAccountToken(t, k, ns, "stranger")
	if code, _, _ := httpStatus(insecure, metricsURL, stranger); code != http.StatusForbidden {
		t.Errorf("metrics with a token not allowed to GET /metrics: %d, want 403", code)
	}
	metricsReaderIsLimitedToTheManagersNamespace(ctx, t, k, insecure, metricsURL, ns)
	scraper := serviceAccountToken(t, k, ns, "prometheus")
	reader := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test-metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "prometheus"}}}
	for _, o := range []client.Object{reader, binding} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 15*time.Second, "an authorized scraper reads metrics", func() (bool, string) {
		code, body, err := httpStatus(insecure, metricsURL, scraper)
		return code == http.StatusOK && strings.Contains(body, "leader_election_master_status"), fmt.Sprint(code, err)
	})

	// A second replica waits; when the leader stops it releases the Lease and the second takes over.
	second := startManager(t, bin, k, ns)
	testenv.Eventually(t, 30*time.Second, "the second manager is ready", func() (bool, string) {
		code, _, err := httpStatus(plain, "http://"+second.probe+"/readyz", "")
		return code == http.StatusOK, fmt.Sprint(code, err)
	})
	time.Sleep(3 * time.Second) // a few retry periods: long enough for a wrong takeover to show
	if h := leaseHolder(ctx, k.Client, ns); h != leader {
		t.Fatalf("the Lease moved to %q while the leader %q was running", h, leader)
	}
	// On a clean shutdown the leader releases the Lease (empties its holder) before it exits, so
	// the moment the process is gone the Lease is free or already taken by the second replica.
	// Without the release it would still name the old leader until it expired (15s).
	first.stop(t)
	if h := leaseHolder(ctx, k.Client, ns); h == leader {
		t.Fatalf("the stopped leader %q still holds the Lease: it was not released on shutdown", leader)
	}
	testenv.Eventually(t, 30*time.Second, "the second manager takes over the Lease", func() (bool, string) {
		h := leaseHolder(ctx, k.Client, ns)
		return h != "" && h != leader, "holder=" + h
	})
}

func TestManagerRefusesBadFlags(t *testing.T) {
	bin := managerBin
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--watch-namespaces", "Bad_NS"}, `--watch-namespaces: "Bad_NS" is not a valid namespace name`},
		{[]string{"--scheduler-image", " "}, "--scheduler-image must not be empty"},
		{[]string{"extra-arg"}, "unexpected arguments"},
		{[]string{"--metrics-cert-secret", "certs"}, "--metrics-cert-secret needs --metrics-cert-dir, --metrics-ca-configmap and --metrics-service"},
		{[]string{"--metrics-service", "svc"}, "go with --metrics-cert-secret"},
		{[]string{"--metrics-cert-secret", "certs", "--metrics-cert-dir", "/tmp", "--metrics-ca-configmap", "ca", "--metrics-service", "svc", "--metrics-cert-lifetime", "1m"}, "--metrics-cert-lifetime must be at least 3m0s"},
		{[]string{"--metrics-cert-secret", "certs", "--metrics-cert-dir", "/tmp", "--metrics-ca-configmap", "ca", "--metrics-service", "Svc.x"}, "--metrics-service: a DNS-1035 label"},
		{[]string{"--metrics-cert-secret", "certs", "--metrics-cert-dir", "/tmp", "--metrics-ca-configmap", "ca", "--metrics-service", "svc", "--metrics-bind-address", "0"}, "needs the metrics endpoint"},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("manager %v: err=%v output=%q, want failure saying %q", c.args, err, out, c.want)
		}
	}
}

func TestDefaultInstallIsAcceptedWithoutPodSecurityWarnings(t *testing.T) {
	k := testenv.StartKube(t)
	// Server-side apply against the real API server: every object of config/default must be
	// valid, and the restricted Pod Security labels on the namespace make the API server warn
	// about any pod template that breaks the restricted profile.
	out, err := k.Kubectl("apply", "--server-side", "-k", filepath.Join(testenv.RepoRoot(), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl apply -k config/default:\n%s", out)
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("apply printed warnings:\n%s", out)
	}
	for _, want := range []string{
		"namespace/rsched-system serverside-applied",
		"deployment.apps/rsched-manager serverside-applied",
		"customresourcedefinition.apiextensions.k8s.io/schedulerinstances.scheduling.rsched.io serverside-applied",
		"role.rbac.authorization.k8s.io/rsched-metrics-cert serverside-applied",
		"rolebinding.rbac.authorization.k8s.io/rsched-metrics-cert serverside-applied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q", want)
		}
	}
	// The manager, run with the installed Deployment's arguments as its ServiceAccount, keeps its
	// own metrics certificate in the emptyDir the Deployment mounts: a client trusting only the
	// published CA completes the handshake for the Service's name, is refused without a token,
	// and reads the metrics with the token of a ServiceAccount bound to the install's
	// metrics-reader ClusterRole.
	ctx := context.Background()
	d := &appsv1.Deployment{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: "rsched-system", Name: "rsched-manager"}, d); err != nil {
		t.Fatal(err)
	}
	metricsCertDirIsWritable(t, d)
	scraperObjs := kustomizeMetricsNamesAgree(t, k, managerContainer(t, d).Args)
	m := startChartManager(t, k, saKubeconfig(t, k, "rsched-system", "rsched-manager"), managerContainer(t, d).Args)
	verified := metricsClientTrustingConfigMap(t, k)
	metricsURL := "https://" + m.metrics + "/metrics"
	testenv.Eventually(t, 30*time.Second, "a verified handshake with the kustomize install's manager", func() (bool, string) {
		code, _, err := httpStatus(verified, metricsURL, "")
		return code == http.StatusUnauthorized, fmt.Sprint(code, " ", err)
	})
	// config/prometheus's scraper ServiceAccount, token Secret and binding (its ServiceMonitor
	// needs a CRD envtest lacks): the ServiceAccount's token reads the metrics.
	applyManifest(t, k, scraperObjs)
	scraper := accountToken(t, k, "rsched-system", "rsched-metrics-scraper")
	testenv.Eventually(t, 15*time.Second, "a verified scrape of the kustomize install's manager with config/prometheus's scraper token", func() (bool, string) {
		code, _, err := httpStatus(verified, metricsURL, scraper)
		return code == http.StatusOK, fmt.Sprint(code, " ", err)
	})
	m.stop(t)
	if out := m.out.String(); strings.Contains(out, "forbidden") {
		t.Errorf("the manager was refused something with the kustomize install's RBAC:\n%s", out)
	}
	// The optional NetworkPolicy, as config/default includes it when its line is uncommented
	// (same namespace and name prefix), is valid too: a server-side dry run accepts it.
	overlay := t.TempDir()
	rel, err := filepath.Rel(overlay, filepath.Join(testenv.RepoRoot(), "config", "network-policy"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "namespace: rsched-system\nnamePrefix: rsched-\nresources:\n  - " + rel + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = k.Kubectl("apply", "--server-side", "--dry-run=server", "-k", overlay)
	if err != nil || !strings.Contains(out, "networkpolicy.networking.k8s.io/rsched-allow-metrics-traffic serverside-applied (server dry run)") {
		t.Errorf("kubectl apply --dry-run=server of config/network-policy: %v\n%s", err, out)
	}
	// And a pod that is not restricted is refused in that namespace: the labels are enforced.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: "rsched-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}}}
	err = k.Client.Create(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity \"restricted:latest\"") {
		t.Errorf("a privileged pod in rsched-system: %v, want a PodSecurity rejection", err)
	}
}

// GitOps: the samples applied again, with the operator running and after it has reconciled them,
// change nothing. The operator writes only status, every default is set at admission, so the
// generation stays put and kubectl diff finds no difference: Argo CD and Flux see them in sync.
func TestSamplesAppliedTwiceChangeNothing(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	const ns = "gitops"
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rsched-system"}}); err != nil {
		t.Fatal(err)
	}
	startManager(t, managerBin, k, "rsched-system", "--scheduler-image", "registry.example.org/rsched/scheduler:test")
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	if out, err := k.Kubectl("apply", "--server-side", "-n", ns, "-k", samples); err != nil {
		t.Fatal(err, out)
	}
	generations := func() map[string]int64 {
		out := map[string]int64{}
		var sis rschedv1.SchedulerInstanceList
		var krps rschedv1.KeyRotationPolicyList
		if err := k.Client.List(ctx, &sis, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := k.Client.List(ctx, &krps, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, o := range sis.Items {
			out["si/"+o.Name] = o.Generation
		}
		for _, o := range krps.Items {
			out["krp/"+o.Name] = o.Generation
		}
		return out
	}
	// Wait until the operator has written status for every object (it reconciled them all).
	testenv.Eventually(t, 60*time.Second, "the operator reports on every sample", func() (bool, string) {
		var sis rschedv1.SchedulerInstanceList
		var krps rschedv1.KeyRotationPolicyList
		_ = k.Client.List(ctx, &sis, client.InNamespace(ns))
		_ = k.Client.List(ctx, &krps, client.InNamespace(ns))
		n := 0
		for _, o := range sis.Items {
			if o.Status.ObservedGeneration == o.Generation && len(o.Status.Conditions) > 0 {
				n++
			}
		}
		for _, o := range krps.Items {
			if o.Status.ObservedGeneration == o.Generation && len(o.Status.Conditions) > 0 {
				n++
			}
		}
		return n == len(sis.Items)+len(krps.Items) && n == 4, fmt.Sprintf("%d of %d reported", n, len(sis.Items)+len(krps.Items))
	})
	before := generations()
	out, err := k.Kubectl("apply", "--server-side", "-n", ns, "-k", samples)
	if err != nil {
		t.Fatal(err, out)
	}
	if after := generations(); !reflect.DeepEqual(before, after) {
		t.Errorf("applying the samples again changed generations: %v -> %v\n%s", before, after, out)
	}
	if out, err := k.Kubectl("diff", "--server-side", "-n", ns, "-k", samples); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("kubectl diff after the operator reconciled: %v\n%s", err, out)
	}
}

// metricsReaderIsLimitedToTheManagersNamespace: the rsched-specific grant (get on
// scheduling.rsched.io metrics, what the scraper's Role holds) reads the metrics when it is given
// in the manager's namespace, and not when the same Role is bound in another namespace.
func metricsReaderIsLimitedToTheManagersNamespace(ctx context.Context, t *testing.T, k *testenv.Kube, c *http.Client, metricsURL, ns string) {
	t.Helper()
	elsewhere := ns + "-elsewhere"
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, where := range []string{ns, elsewhere} {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: where, Name: "rsched-metrics"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"scheduling.rsched.io"}, Resources: []string{"metrics"}, Verbs: []string{"get"}}}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: where, Name: "rsched-metrics"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: where, Name: "narrow"}}}
		for _, o := range []client.Object{role, binding} {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		tokens[where] = serviceAccountToken(t, k, where, "narrow")
	}
	testenv.Eventually(t, 15*time.Second, "the rsched-specific grant in the manager's namespace reads metrics", func() (bool, string) {
		code, _, err := httpStatus(c, metricsURL, tokens[ns])
		return code == http.StatusOK, fmt.Sprint(code, err)
	})
	if code, _, err := httpStatus(c, metricsURL, tokens[elsewhere]); code != http.StatusForbidden {
		t.Errorf("the rsched-specific grant in another namespace: %d %v, want 403", code, err)
	}
}

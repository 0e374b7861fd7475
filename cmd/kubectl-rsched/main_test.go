package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

var managerBin, pluginBin string

func TestMain(m *testing.M) {
	var cleanups []func()
	for _, b := range []struct {
		dir string
		out *string
	}{{"cmd/manager", &managerBin}, {"cmd/kubectl-rsched", &pluginBin}} {
		bin, cleanup, err := testenv.BuildBinary(b.dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*b.out = bin
		cleanups = append(cleanups, cleanup)
	}
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// kubectl runs the test assets' kubectl with the plugin on its PATH, as a user would.
func kubectl(t *testing.T, k *testenv.Kube, args ...string) (string, error) {
	t.Helper()
	return kubectlAs(t, k, k.Kubeconfig, args...)
}

// kubectlAs is kubectl with another kubeconfig (another user).
func kubectlAs(t *testing.T, k *testenv.Kube, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(k.Assets, "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Dir(pluginBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startOperator runs the operator against k until the test ends. No pods run on this API server,
// so the operator activates a staged key after the propagation timeout, the shortest it accepts.
func startOperator(t *testing.T, k *testenv.Kube) {
	t.Helper()
	mgr := exec.Command(managerBin, "--kubeconfig", k.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0",
		"--health-probe-bind-address="+testenv.FreeAddr(t), "--key-propagation-timeout=10s", "--zap-log-level=info")
	logs := &testenv.OutputBuffer{}
	mgr.Stdout, mgr.Stderr = logs, logs
	mgr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	mgr.Env = append(os.Environ(), "POD_NAMESPACE=rsched-system")
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mgr.Process.Signal(syscall.SIGTERM)
		_ = mgr.Wait()
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})
}

// The plugin against a real API server and the real operator: `status` shows the instance and its
// policy, `rotate` requests a rotation and follows it until the new version is active, `keys`
// lists the versions, and -o json is machine-readable. Everything runs through `kubectl rsched`.
func TestPluginStatusRotateAndKeysAgainstTheOperator(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	const ns = "plugin"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rsched-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sched-db", Namespace: ns},
			StringData: map[string]string{"url": "postgres://rsched:Db-Canary-7c1e93@db.example.org:5432/rsched?sslmode=verify-full"}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "sched", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Image: "registry.example.org/rsched/scheduler:test",
				Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "sched-db", Key: "url"}}}},
		&rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sched-keys", Namespace: ns},
			Spec: rschedv1.KeyRotationPolicySpec{TargetRef: rschedv1.LocalObjectReference{Name: "sched"},
				Keys:     []rschedv1.RotatedKey{{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS256}},
				Schedule: rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 720 * time.Hour}}}},
	} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	startOperator(t, k)

	var status string
	// The instance waits for pods that never come here (no kubelet): Ready=False, listed under
	// what needs attention with its reason; the policy is Ready with its first keys.
	testenv.Eventually(t, 60*time.Second, "kubectl rsched status shows the policy Ready and the instance's reason", func() (bool, string) {
		out, err := kubectl(t, k, "rsched", "status", "-n", ns)
		status = out
		return err == nil && strings.Contains(out, "sched-keys   sched    True    1") && strings.Contains(out, "False (DeploymentUnavailable)"), out
	})
	for _, want := range []string{"INSTANCE", "POLICY", "TARGET", "in 29d", "Needs attention:",
		"SchedulerInstance plugin/sched: Ready=False DeploymentUnavailable: Not all replicas of the server are ready yet"} {
		if !strings.Contains(status, want) {
			t.Errorf("status output lacks %q:\n%s", want, status)
		}
	}

	out, err := kubectl(t, k, "rsched", "rotate", "sched-keys", "-n", ns, "--timeout", "90s")
	if err != nil {
		t.Fatalf("kubectl rsched rotate: %v\n%s", err, out)
	}
	for _, want := range []string{"requested a rotation of plugin/sched-keys (version 1 now)", "taken by the operator", "active: version 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("kubectl rsched rotate:\n%s", out)

	t.Logf("kubectl rsched status:\n%s", status)
	keys, err := kubectl(t, k, "rsched", "keys", "sched-keys", "-n", ns)
	rows := map[string]bool{}
	for _, l := range strings.Split(keys, "\n") {
		if f := strings.Fields(l); len(f) >= 3 {
			rows[strings.Join(f[:3], " ")] = true
		}
	}
	if err != nil || !rows["jwt 2 active"] || !rows["jwt 1 verify-only"] {
		t.Errorf("kubectl rsched keys: %v\n%s", err, keys)
	}
	t.Logf("kubectl rsched keys:\n%s", keys)

	js, err := kubectl(t, k, "rsched", "status", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err, js)
	}
	var v struct {
		Policies []struct {
			Name    string `json:"name"`
			Version int64  `json:"version"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(js), &v); err != nil || len(v.Policies) != 1 || v.Policies[0].Version != 2 {
		t.Fatalf("status -o json: %v\n%s", err, js)
	}
	if out, err := kubectl(t, k, "rsched", "rotate", "no-such-policy", "-n", ns); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("rotating a missing policy: %v\n%s", err, out)
	}
	if out, err := kubectl(t, k, "rsched", "status", "-n", ns, "-o", "xml"); err == nil || !strings.Contains(out, "--output must be table, json or yaml") {
		t.Errorf("status -o xml: %v\n%s", err, out)
	}
}

// certs and renew against the real operator, as a user who may read instances and ConfigMaps and
// patch instances but read no Secret: certs shows the certificate the operator issued and its
// bundle; renew gets a new serial; renew --resign-ca a re-signed CA (same key: the bundle's CA
// keeps its subject, its serial changes); renew --ca a CA key replacement followed through both
// phases (10 s each here) to a bundle holding only the new CA; nothing prints a key.
func TestPluginCertsAndRenewAgainstTheOperator(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	const ns = "plugin"
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{rschedv1.GroupVersion.Group}, Resources: []string{"schedulerinstances"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rsched-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sched-db", Namespace: ns},
			StringData: map[string]string{"url": "postgres://rsched:Db-Canary-7c1e93@db.example.org:5432/rsched?sslmode=verify-full"}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "sched", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Image: "registry.example.org/rsched/scheduler:test",
				Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "sched-db", Key: "url"}},
				TLS:      rschedv1.TLSSpec{TrustPropagation: "10s", Overlap: "10s"}}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "own", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Image: "registry.example.org/rsched/scheduler:test",
				Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "sched-db", Key: "url"}},
				TLS:      rschedv1.TLSSpec{SecretRef: &rschedv1.LocalObjectReference{Name: "own-tls"}}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "cert-operator", Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cert-operator", Namespace: ns}, Rules: rules},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cert-operator", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cert-operator"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "cert-operator", Namespace: ns}}},
	} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	user := filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.ServiceAccountKubeconfig(ctx, ns, "cert-operator", user, time.Hour); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(t, k, user, "get", "secret", "sched-tls", "-n", ns); err == nil || !strings.Contains(out, "Forbidden") {
		t.Fatalf("the user reads Secrets, so the test would prove nothing: %v\n%s", err, out)
	}
	startOperator(t, k)
	rsched := func(args ...string) string {
		t.Helper()
		out, err := kubectlAs(t, k, user, append([]string{"rsched"}, append(args, "-n", ns)...)...)
		if err != nil {
			t.Fatalf("kubectl rsched %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("kubectl rsched %s prints a private key:\n%s", strings.Join(args, " "), out)
		}
		t.Logf("kubectl rsched %s:\n%s", strings.Join(args, " "), out)
		return out
	}
	type bundleCert struct {
		Role, Subject, SerialNumber string
	}
	type view struct {
		SerialNumber, Issuer, CAReplacementPhase string
		CANotAfter                               *metav1.Time
		Bundle                                   []bundleCert
	}
	certs := func() view {
		t.Helper()
		var vs []view
		js, err := kubectlAs(t, k, user, "rsched", "certs", "sched", "-o", "json", "-n", ns)
		if strings.Contains(js, "PRIVATE KEY") {
			t.Errorf("certs -o json prints a private key:\n%s", js)
		}
		if err := errors.Join(err, json.Unmarshal([]byte(js), &vs)); err != nil || len(vs) != 1 {
			t.Fatalf("certs -o json: %v\n%s", err, js)
		}
		return vs[0]
	}
	testenv.Eventually(t, 60*time.Second, "the operator issues the serving certificate", func() (bool, string) {
		out, err := kubectlAs(t, k, user, "rsched", "certs", "sched", "-n", ns)
		return err == nil && strings.Contains(out, "Serial:") && strings.Contains(out, "current   CN=rsched CA plugin/sched"), out
	})
	table := rsched("certs", "sched")
	for _, want := range []string{"plugin/sched\n", "CertificateReady:  True: The serving certificate is valid", "Mode:              OperatorManaged",
		"Secret:            sched-tls", "DNS names:         sched, sched.plugin, sched.plugin.svc, sched.plugin.svc.cluster.local",
		"Issuer:            CN=rsched CA plugin/sched", "(expires in 29d)", "(in 19d)", "(expires in 364d)", "CA replacement:    none in progress"} {
		if !strings.Contains(table, want) {
			t.Errorf("certs lacks %q:\n%s", want, table)
		}
	}
	v0 := certs()

	out := rsched("renew", "sched", "--timeout", "60s")
	v1 := certs()
	if !strings.Contains(out, "renewed: serial "+v1.SerialNumber) || v1.SerialNumber == v0.SerialNumber || v1.Bundle[0].SerialNumber != v0.Bundle[0].SerialNumber {
		t.Errorf("renew: serial %s -> %s, CA %s -> %s\n%s", v0.SerialNumber, v1.SerialNumber, v0.Bundle[0].SerialNumber, v1.Bundle[0].SerialNumber, out)
	}

	time.Sleep(1100 * time.Millisecond) // a re-signed CA's notAfter differs from the first one's by a second at least
	out = rsched("renew", "sched", "--resign-ca", "--timeout", "60s")
	v2 := certs()
	if !strings.Contains(out, "CA renewed: it expires") || len(v2.Bundle) != 1 || v2.Bundle[0].SerialNumber == v1.Bundle[0].SerialNumber ||
		v2.Bundle[0].Subject != v1.Bundle[0].Subject || v2.SerialNumber != v1.SerialNumber || !v2.CANotAfter.After(v1.CANotAfter.Time) {
		t.Errorf("renew --resign-ca: %+v -> %+v\n%s", v1, v2, out)
	}

	// While the replacement propagates, certs shows both CAs of the bundle by their roles.
	replace := exec.Command(filepath.Join(k.Assets, "kubectl"), "rsched", "renew", "sched", "--ca", "-n", ns)
	replace.Env = append(os.Environ(), "KUBECONFIG="+user, "PATH="+filepath.Dir(pluginBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	replaceOut := &testenv.OutputBuffer{}
	replace.Stdout, replace.Stderr = replaceOut, replaceOut
	replace.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := replace.Start(); err != nil {
		t.Fatal(err)
	}
	var during string
	testenv.Eventually(t, 30*time.Second, "certs shows the next CA while trust propagates", func() (bool, string) {
		out, err := kubectlAs(t, k, user, "rsched", "certs", "sched", "-n", ns)
		during = out
		return err == nil && strings.Contains(out, "CA replacement:    PropagatingTrust:") && strings.Contains(out, "next      CN=rsched CA plugin/sched"), out
	})
	t.Logf("kubectl rsched certs (propagating):\n%s", during)
	if err := replace.Wait(); err != nil {
		t.Fatalf("kubectl rsched renew sched --ca: %v\n%s", err, replaceOut.String())
	}
	out = replaceOut.String()
	t.Logf("kubectl rsched renew sched --ca:\n%s", out)
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(during, "PRIVATE KEY") {
		t.Errorf("a private key was printed:\n%s\n%s", during, out)
	}
	v3 := certs()
	for _, want := range []string{"following for up to 5m20s", "PropagatingTrust: a new CA is published in ConfigMap sched-ca", "10s (spec.tls.trustPropagation)",
		"Overlapping: the serving certificate moved to the new CA (serial " + v3.SerialNumber + ")", "done: the previous CA left ConfigMap sched-ca"} {
		if !strings.Contains(out, want) {
			t.Errorf("renew --ca lacks %q:\n%s", want, out)
		}
	}
	if v3.SerialNumber == v2.SerialNumber || len(v3.Bundle) != 1 || v3.Bundle[0].SerialNumber == v2.Bundle[0].SerialNumber || v3.CAReplacementPhase != "" {
		t.Errorf("renew --ca: %+v -> %+v", v2, v3)
	}
	rsched("certs", "sched")

	// The certificate of spec.tls.secretRef is its owner's: renew refuses it.
	out, err := kubectlAs(t, k, user, "rsched", "renew", "own", "-n", ns)
	if err == nil || !strings.Contains(out, "error: plugin/own serves its own certificate from Secret own-tls (spec.tls.secretRef)") {
		t.Errorf("renew of a secretRef instance: %v\n%s", err, out)
	}
	t.Logf("kubectl rsched renew own:\n%s", out)
}

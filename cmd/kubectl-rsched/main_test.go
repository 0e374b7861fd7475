package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	cmd := exec.Command(filepath.Join(k.Assets, "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.Kubeconfig, "PATH="+filepath.Dir(pluginBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
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
			StringData: map[string]string{"url": "postgres://rsched:Db-Canary-7c1e93@db.example.org:5432/rsched"}},
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

	// No pods run on this API server, so the operator activates a staged key after the
	// propagation timeout, the shortest it accepts.
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

package upgrade

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/servingcert"
	"github.com/rsched/rsched/internal/testenv"
)

const (
	ns       = "upgrade"
	instName = "minimal"
	// schedulerImage is given to both managers: an operator release changes its default image,
	// which rolls the instances that name none (the servers' own upgrade, by design). This test is
	// about what the operator does by itself, so the image stays the same.
	schedulerImage = "ghcr.io/rsched/scheduler:upgrade-test"
	// quiet is how long the new manager runs after convergence with nothing allowed to change:
	// its first reconcile of everything, the key policy's checks and a certificate check or two.
	quiet = 30 * time.Second
)

// objects is applied by kubectl as a user would, through the previous release's CRDs: an
// instance with operator-managed TLS (the default), 2 replicas, its database URL and app secrets
// from Vault (token auth), and its signing-key rotation keeping the keyring in Vault. The
// arguments are Vault's address and root token.
const objects = `apiVersion: v1
kind: Secret
metadata: {name: vault-token, namespace: upgrade}
stringData: {token: %q}
---
apiVersion: scheduling.rsched.io/v1alpha1
kind: SchedulerInstance
metadata: {name: minimal, namespace: upgrade}
spec:
  database: {vault: {path: rsched/db, key: url}}
  vault:
    address: %q
    insecureAllowHTTP: true
    auth: {tokenSecretRef: {name: vault-token, key: token}}
    secrets: [{path: rsched/app}]
---
apiVersion: scheduling.rsched.io/v1alpha1
kind: KeyRotationPolicy
metadata: {name: minimal-keys, namespace: upgrade}
spec:
  targetRef: {name: minimal}
  keys: [{name: jwt, purpose: Signing, algorithm: HS256}]
  schedule: {every: 720h}
  storage: {vault: {mount: secret, path: rsched/keys}}
`

// TestUpgradeFromThePreviousReleaseRestartsAndRotatesNothing: under the previous release's
// manager the instance and its key policy become Ready; after the CRDs are applied and this
// tree's manager replaces it, both converge (Ready, observedGeneration current, kstatus Current)
// and, through a quiet period, no pod is replaced, no ReplicaSet is created, no certificate is
// re-issued, no key is rotated, no owned object is written and no condition changes.
func TestUpgradeFromThePreviousReleaseRestartsAndRotatesNothing(t *testing.T) {
	start := time.Now()
	old := buildPrevious(t)
	current, cleanup, err := testenv.BuildBinary("cmd/manager")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	t.Logf("managers ready in %s", time.Since(start).Round(100*time.Millisecond))

	k := testenv.StartKube(t)
	// StartKube installs this tree's CRDs; the cluster starts with the previous release's.
	if out, err := k.Kubectl("replace", "-f", old.CRDs); err != nil {
		t.Fatalf("installing the previous CRDs: %v\n%s", err, out)
	}
	waitCRDsEstablished(t, k)
	testenv.StartWorkloads(t, k)
	for _, name := range []string{"rsched-system", ns} {
		if err := k.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	v := startVault(t)
	manifest := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(manifest, fmt.Appendf(nil, objects, v.Token, v.Addr), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Kubectl("apply", "-f", manifest); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	oldMgr := startManager(t, old.Manager, k, "previous")
	waitConverged(t, k, 120*time.Second, "under the previous release "+old.Commit[:12])
	before := snapshot(t, k, v)
	t.Logf("previous release converged at %s: %d ReplicaSet(s), %d pod(s), %d owned objects, key version %d, serving certificate %s, CA %s, Vault %v",
		time.Since(start).Round(100*time.Millisecond), len(before.ReplicaSets), len(before.Pods), len(before.Owned), before.KeyVersion,
		before.ServingSerial, before.CASerial, before.VaultVersions)

	watch := watchReady(t, k)
	oldMgr.stop(t)
	if out, err := k.Kubectl("apply", "--server-side", "--force-conflicts", "-f", filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")); err != nil {
		t.Fatalf("applying the current CRDs: %v\n%s", err, out)
	}
	waitCRDsEstablished(t, k)
	newMgr := startManager(t, current, k, "current")
	testenv.Eventually(t, 60*time.Second, "the current manager's controllers started", func() (bool, string) {
		return workersStarted(newMgr.log(), "schedulerinstance") && workersStarted(newMgr.log(), "keyrotationpolicy"), "waiting for its lease and caches"
	})
	waitConverged(t, k, 60*time.Second, "under the current manager")
	t.Logf("current manager converged at %s; quiet period %s", time.Since(start).Round(100*time.Millisecond), quiet)
	time.Sleep(quiet)
	waitConverged(t, k, time.Second, "after the quiet period")
	after := snapshot(t, k, v)
	flaps := watch()

	for _, d := range before.diff(after) {
		t.Errorf("changed by the upgrade: %s", d)
	}
	for _, f := range flaps {
		t.Errorf("a condition flapped during the upgrade: %s", f)
	}
	t.Logf("upgrade test %s in %s", old.Commit[:12], time.Since(start).Round(100*time.Millisecond))
}

// state is everything an upgrade must leave alone.
type state struct {
	// Deployments: name → generation and a digest of the pod template with its annotations.
	Deployments map[string]string
	ReplicaSets []string
	// Pods: name/uid.
	Pods []string
	// Owned: Kind/name → resourceVersion, for every object the operator writes.
	Owned                   map[string]string
	ServingSerial, CASerial string
	KeyringDigest           string
	// VaultVersions: the KV versions of the keyring and the secrets in Vault.
	VaultVersions []string
	KeyVersion    int64
	PolicyVersion int64
	// Conditions: Kind/type → status/reason/lastTransitionTime/observedGeneration.
	Conditions map[string]string
}

func (s state) diff(o state) []string {
	var out []string
	cmp := func(what string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			out = append(out, fmt.Sprintf("%s: before %s, after %s", what, ja, jb))
		}
	}
	cmp("Deployments (generation, pod template)", s.Deployments, o.Deployments)
	cmp("ReplicaSets", s.ReplicaSets, o.ReplicaSets)
	cmp("pods", s.Pods, o.Pods)
	for key, rv := range s.Owned {
		if o.Owned[key] != rv {
			out = append(out, fmt.Sprintf("%s written (resourceVersion %s → %q)", key, rv, o.Owned[key]))
		}
	}
	for key := range o.Owned {
		if _, ok := s.Owned[key]; !ok {
			out = append(out, key+" created")
		}
	}
	cmp("serving certificate serial", s.ServingSerial, o.ServingSerial)
	cmp("CA certificate serial", s.CASerial, o.CASerial)
	if s.KeyringDigest != o.KeyringDigest {
		out = append(out, "the keyring Secret's content changed") // never print key material
	}
	cmp("Vault KV versions", s.VaultVersions, o.VaultVersions)
	cmp("instance keyVersion", s.KeyVersion, o.KeyVersion)
	cmp("policy currentVersion", s.PolicyVersion, o.PolicyVersion)
	for key, c := range s.Conditions {
		if o.Conditions[key] != c {
			out = append(out, fmt.Sprintf("condition %s: before %s, after %q", key, c, o.Conditions[key]))
		}
	}
	return out
}

func snapshot(t *testing.T, k *testenv.Kube, v *testenv.Vault) state {
	t.Helper()
	ctx := context.Background()
	in := client.InNamespace(ns)
	s := state{Deployments: map[string]string{}, Owned: map[string]string{}, Conditions: map[string]string{}}
	var deps appsv1.DeploymentList
	var rss appsv1.ReplicaSetList
	var pods corev1.PodList
	for _, l := range []client.ObjectList{&deps, &rss, &pods} {
		if err := k.Client.List(ctx, l, in); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range deps.Items {
		tmpl, _ := json.Marshal(d.Spec.Template)
		s.Deployments[d.Name] = fmt.Sprintf("generation %d, template %x, annotations %v", d.Generation, sha256.Sum256(tmpl), d.Spec.Template.Annotations)
	}
	for _, rs := range rss.Items {
		s.ReplicaSets = append(s.ReplicaSets, rs.Name)
	}
	for _, p := range pods.Items {
		s.Pods = append(s.Pods, p.Name+"/"+string(p.UID))
	}
	sort.Strings(s.ReplicaSets)
	sort.Strings(s.Pods)
	owned := []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
		&appsv1.DeploymentList{}, &networkingv1.NetworkPolicyList{}, &policyv1.PodDisruptionBudgetList{}}
	for _, l := range owned {
		if err := k.Client.List(ctx, l, in, client.MatchingLabels{builders.LabelManagedBy: builders.ManagedBy}); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			obj := item.(client.Object)
			gvk, _ := k.Client.GroupVersionKindFor(item)
			s.Owned[gvk.Kind+"/"+obj.GetName()] = obj.GetResourceVersion()
		}
	}
	si, krp := current(t, k)
	var tlsSec, caSec, keyring corev1.Secret
	for name, sec := range map[string]*corev1.Secret{builders.TLSSecretName(si): &tlsSec, builders.TLSCASecretName(si): &caSec, builders.KeyringSecretName(si): &keyring} {
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
			t.Fatalf("Secret %s: %v", name, err)
		}
	}
	s.ServingSerial = serial(t, tlsSec.Data[corev1.TLSCertKey])
	s.CASerial = serial(t, caSec.Data[servingcert.CACertKey])
	data, _ := json.Marshal(keyring.Data)
	s.KeyringDigest = fmt.Sprintf("%x", sha256.Sum256(data))
	s.KeyVersion, s.PolicyVersion = si.Status.KeyVersion, krp.Status.CurrentVersion
	for _, path := range []string{"rsched/keys", "rsched/db", "rsched/app"} {
		md, err := v.Client.KVv2("secret").GetMetadata(ctx, path)
		if err != nil {
			t.Fatalf("Vault secret/%s: %v", path, err)
		}
		s.VaultVersions = append(s.VaultVersions, fmt.Sprintf("%s v%d updated %s", path, md.CurrentVersion, md.UpdatedTime.UTC().Format(time.RFC3339Nano)))
	}
	for kind, conds := range map[string][]metav1.Condition{"SchedulerInstance": si.Status.Conditions, "KeyRotationPolicy": krp.Status.Conditions} {
		for _, c := range conds {
			s.Conditions[kind+"/"+c.Type] = fmt.Sprintf("%s/%s/%s/%d", c.Status, c.Reason, c.LastTransitionTime.UTC().Format(time.RFC3339), c.ObservedGeneration)
		}
	}
	return s
}

// serial is the hexadecimal serial number of the first certificate in a PEM bundle.
func serial(t *testing.T, pemData []byte) string {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.Text(16)
}

func current(t *testing.T, k *testenv.Kube) (*rschedv1.SchedulerInstance, *rschedv1.KeyRotationPolicy) {
	t.Helper()
	si, krp := &rschedv1.SchedulerInstance{}, &rschedv1.KeyRotationPolicy{}
	ctx := context.Background()
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instName}, si); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instName + "-keys"}, krp); err != nil {
		t.Fatal(err)
	}
	return si, krp
}

// converged says whether the instance and the policy are Ready at their current generation with
// kstatus Current, and what is missing otherwise.
func converged(t *testing.T, k *testenv.Kube) (bool, string) {
	si, krp := current(t, k)
	if si.Status.KeyVersion < 1 || krp.Status.CurrentVersion < 1 {
		return false, fmt.Sprintf("key versions: instance %d, policy %d", si.Status.KeyVersion, krp.Status.CurrentVersion)
	}
	for _, o := range []struct {
		kind  string
		obj   client.Object
		conds []metav1.Condition
		obs   int64
	}{
		{"SchedulerInstance", si, si.Status.Conditions, si.Status.ObservedGeneration},
		{"KeyRotationPolicy", krp, krp.Status.Conditions, krp.Status.ObservedGeneration},
	} {
		if !meta.IsStatusConditionTrue(o.conds, rschedv1.ConditionReady) {
			return false, fmt.Sprintf("%s not Ready: %+v", o.kind, meta.FindStatusCondition(o.conds, rschedv1.ConditionReady))
		}
		if o.obs != o.obj.GetGeneration() {
			return false, fmt.Sprintf("%s observedGeneration %d, generation %d", o.kind, o.obs, o.obj.GetGeneration())
		}
		for _, c := range o.conds {
			if c.ObservedGeneration != o.obj.GetGeneration() {
				return false, fmt.Sprintf("%s condition %s observedGeneration %d", o.kind, c.Type, c.ObservedGeneration)
			}
		}
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: raw}
		u.SetGroupVersionKind(rschedv1.GroupVersion.WithKind(o.kind))
		res, err := status.Compute(u)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != status.CurrentStatus {
			return false, fmt.Sprintf("%s kstatus %s: %s", o.kind, res.Status, res.Message)
		}
	}
	return true, ""
}

func waitConverged(t *testing.T, k *testenv.Kube, timeout time.Duration, when string) {
	t.Helper()
	testenv.Eventually(t, timeout, "Ready, observedGeneration current and kstatus Current "+when, func() (bool, string) { return converged(t, k) })
}

// watchReady polls the instance and the policy every 100 ms until the returned function is
// called, and returns every observation of either not Ready (a flap too short for
// lastTransitionTime to keep would still be seen here).
func watchReady(t *testing.T, k *testenv.Kube) func() []string {
	var mu sync.Mutex
	var flaps []string
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			si, krp := &rschedv1.SchedulerInstance{}, &rschedv1.KeyRotationPolicy{}
			ctx := context.Background()
			if k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instName}, si) != nil ||
				k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instName + "-keys"}, krp) != nil {
				continue
			}
			mu.Lock()
			for kind, conds := range map[string][]metav1.Condition{"SchedulerInstance": si.Status.Conditions, "KeyRotationPolicy": krp.Status.Conditions} {
				if c := meta.FindStatusCondition(conds, rschedv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
					f := fmt.Sprintf("%s Ready %+v", kind, c)
					if !slices.Contains(flaps, f) {
						flaps = append(flaps, f)
					}
				}
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return flaps
	}
}

// startVault starts Vault with what the instance reads: its database URL and app secrets.
func startVault(t *testing.T) *testenv.Vault {
	t.Helper()
	v := testenv.StartVault(t)
	ctx := context.Background()
	for path, data := range map[string]map[string]any{
		"rsched/db":  {"url": "postgres://rsched:Upgrade-Canary-4f1d@db.example.org:5432/rsched?sslmode=verify-full"},
		"rsched/app": {"smtp_password": "Upgrade-Canary-smtp"},
	} {
		if _, err := v.Client.KVv2("secret").Put(ctx, path, data); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func waitCRDsEstablished(t *testing.T, k *testenv.Kube) {
	t.Helper()
	if out, err := k.Kubectl("wait", "--for=condition=Established", "--timeout=30s",
		"crd/schedulerinstances.scheduling.rsched.io", "crd/keyrotationpolicies.scheduling.rsched.io"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

type manager struct {
	cmd  *exec.Cmd
	out  *testenv.OutputBuffer
	done chan struct{}
}

// startManager runs a manager binary as the cluster administrator, with the flags both releases
// know, and stops it when the test ends.
func startManager(t *testing.T, bin string, k *testenv.Kube, which string) *manager {
	t.Helper()
	m := &manager{out: &testenv.OutputBuffer{}, done: make(chan struct{})}
	m.cmd = exec.Command(bin,
		"--kubeconfig", k.Kubeconfig,
		"--leader-election-namespace", "rsched-system",
		"--health-probe-bind-address", testenv.FreeAddr(t),
		"--metrics-bind-address", testenv.FreeAddr(t),
		"--scheduler-image", schedulerImage,
		// The kwok pods serve no metrics: a staged key is activated after this long.
		"--key-propagation-timeout", "10s",
		"--zap-log-level", "info")
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("%s manager output (tail):\n%s", which, tail(m.log(), 6000))
		}
	})
	return m
}

func (m *manager) log() string { return m.out.String() }

func (m *manager) stop(t *testing.T) {
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
		t.Error("a manager did not stop within 20s of SIGTERM")
	}
}

// workersStarted says whether a manager's log shows the workers of a controller started: from
// then on it has reconciled, or is reconciling, every object its cache listed.
func workersStarted(log, controller string) bool {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "Starting workers") && strings.Contains(line, `"controller":"`+controller+`"`) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

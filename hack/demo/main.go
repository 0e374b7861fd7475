// Command demo runs rsched on a laptop-sized stack: a local kube-apiserver and etcd with the CRDs,
// a Vault dev server, a throw-away PostgreSQL and the operator (bin/manager). It provisions what
// the samples refer to (the database URL Secret, the Vault KV secrets), applies config/samples,
// prints `kubectl get si,krp -A`, and keeps everything running until Ctrl-C or `make demo-down`,
// then tears it all down.
//
// State lives in bin/demo/: kubeconfig (export KUBECONFIG=bin/demo/kubeconfig to use kubectl),
// manager.log, and demo.pid. Run it through `make demo` (hack/demo.sh), which finds or builds the
// components first.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/controllers"
	"github.com/rsched/rsched/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func run() error {
	root := testenv.RepoRoot()
	state := filepath.Join(root, "bin", "demo")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	pidFile := filepath.Join(state, "demo.pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
		return err
	}
	defer os.Remove(pidFile)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ok, why := realClusterPossible()
	if ok {
		step("running on a real single-node cluster (RSCHED_DEMO=envtest runs it on envtest + kwok instead)")
		return runReal(ctx, root, state)
	}
	step("running on envtest + kwok (a real cluster needs Linux and root; here: %s)", why)
	return runEnvtest(ctx, root, state)
}

// runEnvtest is the tour on envtest + kwok: the components on this host, the operator from its
// Helm chart, and the real manager on the host as the chart's ServiceAccount.
func runEnvtest(ctx context.Context, root, state string) error {
	env, err := startEnvtest(state)
	defer env.stop()
	if err != nil {
		return err
	}
	step("provisioning what the samples refer to")
	if err := provisionWithDatabases(ctx, env.kube, env.vault, env.pg); err != nil {
		return err
	}
	// The operator comes from its Helm chart here too. kwok's pods run no container, so the
	// chart's manager pod is a stand-in; the real manager (bin/manager) runs on this host with
	// the chart's ServiceAccount, so it has exactly the chart's permissions.
	if err := helmInstall(root, env.kube, env.kubeconfig, "--set", "crds.enabled=false"); err != nil {
		return err
	}
	saConfig := filepath.Join(state, "operator.kubeconfig")
	if err := env.kube.ServiceAccountKubeconfig(ctx, "rsched-system", "rsched-manager", saConfig, 24*time.Hour); err != nil {
		return err
	}
	step("starting the operator (bin/manager) as the chart's ServiceAccount rsched-system/rsched-manager; log in bin/demo/manager.log")
	mgr, err := startManager(root, state, saConfig)
	if err != nil {
		return err
	}
	defer mgr.stop()

	if err := tour(ctx, env.kube, env.vault, ""); err != nil {
		return err
	}
	if err := showPlugin(root, env.kube); err != nil {
		return err
	}
	fmt.Printf(`
rsched demo is running.
  kubectl:   export KUBECONFIG=%s; %s get si,krp -A
  operator:  tail -f %s
  Vault:     %s (dev server; token in the demo process only)
Stop with Ctrl-C here or 'make demo-down'.
`, env.kubeconfig, filepath.Join(env.kube.Assets, "kubectl"), filepath.Join(state, "manager.log"), env.vault.Addr)

	select {
	case <-ctx.Done():
		fmt.Println()
		return nil
	case err := <-mgr.exited:
		mgr.exited <- err // for the deferred stop
		return fmt.Errorf("the operator exited unexpectedly (%v); see %s", err, filepath.Join(state, "manager.log"))
	}
}

// envtestStack is what runEnvtest starts on this host; stop stops what was started, last first.
type envtestStack struct {
	kube       *testenv.Kube
	workloads  *testenv.Workloads
	vault      *testenv.Vault
	pg         *testenv.Postgres
	kubeconfig string
	stops      []func()
}

func (e *envtestStack) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

// startEnvtest starts kube-apiserver and etcd, the workload controllers and kwok, Vault and
// PostgreSQL. Components start in their own process groups with a parent-death signal, so even
// a kill -9 of the demo leaves nothing running (internal/testenv tests exactly that). On an
// error, what started is still in stops.
func startEnvtest(state string) (*envtestStack, error) {
	e := &envtestStack{}
	var err error
	step("starting kube-apiserver and etcd (CRDs installed)")
	if e.kube, err = testenv.NewKube(); err != nil {
		return e, err
	}
	e.stops = append(e.stops, func() { step("stopping kube-apiserver and etcd"); _ = e.kube.Stop() })
	e.kubeconfig = filepath.Join(state, "kubeconfig")
	b, err := os.ReadFile(e.kube.Kubeconfig)
	if err != nil {
		return e, err
	}
	if err := os.WriteFile(e.kubeconfig, b, 0o600); err != nil {
		return e, err
	}
	e.stops = append(e.stops, func() { _ = os.Remove(e.kubeconfig) })

	step("starting kube-controller-manager, kube-scheduler and kwok (a fake node: pods run without containers)")
	if e.workloads, err = testenv.NewWorkloads(e.kube); err != nil {
		return e, err
	}
	e.stops = append(e.stops, func() { step("stopping the controller-manager, scheduler and kwok"); _ = e.workloads.Stop() })
	step("starting a Vault dev server")
	if e.vault, err = testenv.NewVault(); err != nil {
		return e, err
	}
	e.stops = append(e.stops, func() { step("stopping Vault"); _ = e.vault.Stop() })
	step("starting PostgreSQL")
	if e.pg, err = testenv.NewPostgres(); err != nil {
		return e, err
	}
	e.stops = append(e.stops, func() { step("stopping PostgreSQL"); _ = e.pg.Stop() })
	return e, nil
}

// tour applies config/samples (pointing the full sample at the demo's Vault, and at image when
// set), waits for the instances, shows them and their objects, and shows key rotation.
func tour(ctx context.Context, kube *testenv.Kube, vault *testenv.Vault, image string) error {
	step("applying config/samples")
	out, err := kube.Kubectl("apply", "-n", "demo", "-k", filepath.Join(testenv.RepoRoot(), "config", "samples"))
	fmt.Print(out)
	if err != nil {
		return err
	}

	// The full sample names the Vault of a real cluster; point it at the demo's Vault, which
	// provision configured for kubernetes auth of the instance's ServiceAccount.
	patch := fmt.Sprintf(`{"spec":{"vault":{"address":%q,"insecureAllowHTTP":true,"caBundleSecretRef":null}}}`, vault.Addr)
	if image != "" {
		patch = fmt.Sprintf(`{"spec":{"image":%q,"vault":{"address":%q,"insecureAllowHTTP":true,"caBundleSecretRef":null}}}`, image, vault.Addr)
		if out, err := kube.Kubectl("patch", "si", "minimal", "-n", "demo", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"image":%q}}`, image)); err != nil {
			fmt.Print(out)
			return err
		}
	}
	if out, err := kube.Kubectl("patch", "si", "residency", "-n", "demo", "--type=merge", "-p", patch); err != nil {
		fmt.Print(out)
		return err
	}
	// The demo's PostgreSQL on this host speaks plain TCP (its URLs say sslmode=disable), which
	// the samples' default database.tls (verify-full) refuses: both take the documented opt-out
	// for a database on the same node of a test cluster.
	step("database.tls of both samples: mode disable with insecureAllowUnverified (the demo's PostgreSQL has no TLS)")
	for _, si := range []string{"minimal", "residency"} {
		if out, err := kube.Kubectl("patch", "si", si, "-n", "demo", "--type=merge", "-p", `{"spec":{"database":{"tls":{"mode":"disable","insecureAllowUnverified":true}}}}`); err != nil {
			fmt.Print(out)
			return err
		}
	}

	step("waiting for both instances to be Ready (up to 2 min)")
	out, err = kube.Kubectl("wait", "si", "--all", "-n", "demo", "--for=condition=Ready", "--timeout=120s")
	fmt.Print(out)
	if err != nil {
		fmt.Println("    not Ready yet; the conditions below say why")
	}

	step("kubectl get si,krp -A")
	out, _ = kube.Kubectl("get", "si,krp", "-A")
	fmt.Print(out)
	step("kubectl get deploy,svc,netpol,pdb,secret,pods -n demo")
	out, _ = kube.Kubectl("get", "deploy,svc,netpol,pdb,secret,pods", "-n", "demo")
	fmt.Print(out)

	return showRotation(ctx, kube)
}

// provisionWithDatabases gives each sample instance its own database, then provisions.
func provisionWithDatabases(ctx context.Context, kube *testenv.Kube, vault *testenv.Vault, pg *testenv.Postgres) error {
	minimal, err := pg.CreateDatabase("minimal")
	if err != nil {
		return err
	}
	residency, err := pg.CreateDatabase("residency")
	if err != nil {
		return err
	}
	return provision(ctx, kube, vault, minimal, residency)
}

// provision creates the demo namespace, the Secret holding the minimal sample's database URL,
// and the Vault KV secrets the full sample reads. Values are never printed.
func provision(ctx context.Context, kube *testenv.Kube, vault *testenv.Vault, minimalURL, residencyURL string) error {
	c := kube.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	// The operator only reads Secrets labelled as its own or named by a spec; the URL Secret is
	// the user's, referenced by spec.database.urlSecretRef.
	dbSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "minimal-db"},
		StringData: map[string]string{"url": minimalURL},
	}
	if err := c.Create(ctx, dbSecret); err != nil {
		return err
	}
	fmt.Println("    Secret demo/minimal-db (key url): the PostgreSQL connection URL")

	kv := vault.Client.KVv2("secret")
	if _, err := kv.Put(ctx, "rsched/residency/database", map[string]any{"url": residencyURL}); err != nil {
		return fmt.Errorf("writing the database URL to Vault: %w", err)
	}
	appSecret, err := randomHex(32)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, "rsched/residency/app", map[string]any{"webhook_secret": appSecret}); err != nil {
		return fmt.Errorf("writing the app secrets to Vault: %w", err)
	}
	if err := vaultKubernetesAuth(ctx, kube, vault); err != nil {
		return err
	}
	u, _ := url.Parse(residencyURL)
	fmt.Printf("    Vault secret/rsched/residency/database (key url) and secret/rsched/residency/app\n")
	fmt.Printf("    PostgreSQL listening on %s (one database per instance)\n", u.Host)
	return nil
}

// vaultKubernetesAuth configures Vault's kubernetes auth method against the demo API server, with
// a role for the full sample's ServiceAccount (residency-scheduler in demo, audience "vault").
func vaultKubernetesAuth(ctx context.Context, kube *testenv.Kube, vault *testenv.Vault) error {
	c := kube.Client
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer", Namespace: "demo"}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "demo-vault-reviewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vault-reviewer", Namespace: "demo"}}}); err != nil {
		return err
	}
	reviewer, err := controllers.TokenSource(c)(ctx, "demo/vault-reviewer", nil)
	if err != nil {
		return err
	}
	if err := vault.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "kubernetes", &vaultapi.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		return err
	}
	if err := vault.Client.Sys().PutPolicyWithContext(ctx, "rsched-residency", `path "secret/data/rsched/residency/*" { capabilities = ["read"] }
path "secret/data/rsched/residency/keys" { capabilities = ["create", "read", "update"] }`); err != nil {
		return err
	}
	for path, body := range map[string]map[string]any{
		"auth/kubernetes/config": {"kubernetes_host": kube.Config.Host, "kubernetes_ca_cert": string(kube.Config.CAData), "token_reviewer_jwt": reviewer},
		"auth/kubernetes/role/rsched-residency": {"bound_service_account_names": "residency-scheduler", "bound_service_account_namespaces": "demo",
			"audience": "vault", "token_policies": "rsched-residency", "token_ttl": "20m"},
	} {
		if _, err := vault.Client.Logical().WriteWithContext(ctx, path, body); err != nil {
			return fmt.Errorf("configuring Vault (%s): %w", path, err)
		}
	}
	fmt.Println("    Vault kubernetes auth: role rsched-residency for demo/residency-scheduler (audience vault)")
	return nil
}

// showRotation gives the minimal policy a one-minute schedule, asks the full one for a manual
// rotation (it restarts its pods, RollingRestart), and streams `kubectl get krp -w` while the
// versions tick.
func showRotation(ctx context.Context, kube *testenv.Kube) error {
	step("key rotation: minimal-keys every 1m, residency-keys rotated by hand; kubectl get krp -n demo -w for 80s")
	if out, err := kube.Kubectl("patch", "krp", "minimal-keys", "-n", "demo", "--type=merge", "-p", `{"spec":{"schedule":{"every":"1m"}}}`); err != nil {
		fmt.Print(out)
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 80*time.Second)
	defer cancel()
	watch := exec.CommandContext(wctx, filepath.Join(kube.Assets, "kubectl"), "--kubeconfig", kube.Kubeconfig, "get", "krp", "-n", "demo", "-w")
	watch.Stdout, watch.Stderr = os.Stdout, os.Stderr
	if err := watch.Start(); err != nil {
		return err
	}
	// Two manual rotations, 30 s apart; the first minute of the schedule passes meanwhile.
	for i, wait := range []time.Duration{5 * time.Second, 30 * time.Second} {
		select {
		case <-wctx.Done():
		case <-time.After(wait):
			value := fmt.Sprintf("demo-%d", i+1)
			if out, err := kube.Kubectl("annotate", "krp", "residency-keys", "-n", "demo", "--overwrite", rschedv1.RotateAnnotation+"="+value); err != nil {
				fmt.Print(out)
			}
		}
	}
	_ = watch.Wait() // ends with the timeout
	step("kubectl describe krp residency-keys -n demo (versions and events)")
	out, _ := kube.Kubectl("describe", "krp", "residency-keys", "-n", "demo")
	fmt.Print(out)
	return nil
}

// managerProcess is the operator running on this host. One goroutine waits for it; everything
// else reads its result from exited.
type managerProcess struct {
	cmd    *exec.Cmd
	exited chan error
}

// stop sends SIGTERM and kills the operator if it has not exited 15 s later.
func (m *managerProcess) stop() {
	step("stopping the operator")
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

func startManager(root, state, kubeconfig string) (*managerProcess, error) {
	bin := filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("bin/manager is missing: run `make build` (make demo does)")
	}
	logf, err := os.OpenFile(filepath.Join(state, "manager.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--kubeconfig", kubeconfig,
		"--leader-elect=true", "--leader-election-namespace", "rsched-system",
		"--health-probe-bind-address", "127.0.0.1:0",
		"--metrics-bind-address", "0",
		// kwok's pods have no metrics endpoint to show which keyring they loaded: a staged key
		// is activated after this time (the minimum; real clusters need the kubelet's sync).
		"--key-propagation-timeout", "10s",
		"--zap-encoder", "console")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &managerProcess{cmd: cmd, exited: make(chan error, 1)}
	go func() { m.exited <- cmd.Wait() }()
	return m, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// helmInstall installs the operator's chart (charts/rsched-operator) as release rsched in
// rsched-system, a namespace enforcing the restricted Pod Security Standard, with the local
// images, and waits for it.
func helmInstall(root string, kube *testenv.Kube, kubeconfig string, extra ...string) error {
	step("installing the operator from its Helm chart: helm install rsched charts/rsched-operator -n rsched-system")
	if out, err := kube.Kubectl("create", "namespace", "rsched-system"); err != nil {
		fmt.Print(out)
		return err
	}
	if out, err := kube.Kubectl("label", "namespace", "rsched-system", "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"); err != nil {
		fmt.Print(out)
		return err
	}
	helmBin := os.Getenv("RSCHED_HELM_BIN")
	if helmBin == "" {
		return errors.New("RSCHED_HELM_BIN is not set: run the demo through make demo, which builds helm")
	}
	args := append([]string{"install", "rsched", filepath.Join(root, "charts", "rsched-operator"), "--kubeconfig", kubeconfig,
		"--namespace", "rsched-system", "--wait", "--timeout", "3m",
		"--set", "image.repository=localhost/rsched/manager", "--set", "image.tag=dev",
		"--set", "schedulerImage.repository=localhost/rsched/scheduler", "--set", "schedulerImage.tag=dev"}, extra...)
	helm := exec.Command(helmBin, args...)
	helm.Dir, helm.Stdout, helm.Stderr = root, os.Stdout, os.Stderr
	if err := helm.Run(); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	return nil
}

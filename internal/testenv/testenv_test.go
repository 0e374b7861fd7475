package testenv_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rsched/rsched/internal/testenv"
)

// gone reports whether no process of group pgid is alive, waiting briefly for the kernel.
func gone(pgid int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if len(testenv.ProcessGroupAlive(pgid)) == 0 && syscall.Kill(pgid, 0) != nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestVaultKVv2WriteReadAndCleanStop(t *testing.T) {
	v, err := testenv.NewVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Stop() }) // for early failures; Stop is idempotent
	pid := v.Pid()
	ctx := context.Background()
	kv := v.Client.KVv2("secret")

	if _, err := kv.Put(ctx, "rsched/test", map[string]any{"url": "postgres://one"}); err != nil {
		t.Fatalf("KV v2 put: %v", err)
	}
	if _, err := kv.Put(ctx, "rsched/test", map[string]any{"url": "postgres://two"}); err != nil {
		t.Fatalf("KV v2 put v2: %v", err)
	}
	latest, err := kv.Get(ctx, "rsched/test")
	if err != nil {
		t.Fatalf("KV v2 get: %v", err)
	}
	if latest.VersionMetadata.Version != 2 || latest.Data["url"] != "postgres://two" {
		t.Errorf("latest = version %d %v, want version 2 postgres://two", latest.VersionMetadata.Version, latest.Data)
	}
	first, err := kv.GetVersion(ctx, "rsched/test", 1)
	if err != nil {
		t.Fatal(err)
	}
	if first.Data["url"] != "postgres://one" {
		t.Errorf("version 1 = %v", first.Data)
	}
	// The root token is random per server, so a wrong token is refused.
	other, err := v.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	other.SetToken("root")
	if _, err := other.KVv2("secret").Get(ctx, "rsched/test"); err == nil {
		t.Error("a read with the well-known dev token 'root' succeeded; the harness must use a random root token")
	}

	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Errorf("vault processes left after Stop: %v", testenv.ProcessGroupAlive(pid))
	}
	if _, err := kv.Get(ctx, "rsched/test"); err == nil {
		t.Error("vault still answers after Stop")
	}
}

func TestPostgresCreateInsertSelectAndCleanStop(t *testing.T) {
	p, err := testenv.NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	pid := p.Pid()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Keep a second connection open through the stop: its backend process must end too.
	idle, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE residents (id bigint PRIMARY KEY, name text NOT NULL, pgy int CHECK (pgy BETWEEN 1 AND 8))`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO residents VALUES ($1, $2, $3), ($4, $5, $6)`, 1, "Ada", 1, 2, "Grace", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO residents VALUES (3, 'Bad', 9)`); err == nil {
		t.Error("the CHECK constraint did not reject pgy 9: not a real PostgreSQL?")
	}
	var names string
	if err := conn.QueryRow(ctx, `SELECT string_agg(name, ',' ORDER BY id) FROM residents WHERE pgy >= 1`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if names != "Ada,Grace" {
		t.Errorf("select = %q, want Ada,Grace", names)
	}
	var version string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL %s on port %d", version, p.Port)
	_ = conn.Close(ctx)

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Errorf("postgres processes left after Stop: %v", testenv.ProcessGroupAlive(pid))
	}
	var one int
	if err := idle.QueryRow(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Error("a connection still answers after Stop")
	}
}

func TestPostgresClustersAreIsolated(t *testing.T) {
	a := testenv.StartPostgres(t)
	b := testenv.StartPostgres(t)
	if a.Port == b.Port || a.URL == b.URL {
		t.Fatalf("two clusters share a port or URL: %d %d", a.Port, b.Port)
	}
	ctx := context.Background()
	ca, err := pgx.Connect(ctx, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if _, err := cb.Exec(ctx, "SELECT * FROM only_in_a"); err == nil {
		t.Error("a table created in cluster a is visible in cluster b")
	}
	// The password is required: the same URL without it is refused.
	noPass := strings.Replace(a.URL, ":"+strings.SplitN(strings.TrimPrefix(a.URL, "postgres://rsched:"), "@", 2)[0]+"@", "@", 1)
	if c, err := pgx.Connect(ctx, noPass); err == nil {
		_ = c.Close(ctx)
		t.Error("connecting without the password succeeded")
	}
}

func TestKubeStartsWithCRDsAndStopsCleanly(t *testing.T) {
	k, err := testenv.NewKube()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "harness"}}
	if err := k.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	out, err := k.Kubectl("api-resources", "--api-group=scheduling.rsched.io", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"schedulerinstances.scheduling.rsched.io", "keyrotationpolicies.scheduling.rsched.io"} {
		if !strings.Contains(out, want) {
			t.Errorf("CRD %s not served; api-resources:\n%s", want, out)
		}
	}
	var started []int
	for pid, name := range childrenOf(os.Getpid()) {
		if name == "kube-apiserver" || name == "etcd" {
			started = append(started, pid)
		}
	}
	if len(started) != 2 {
		t.Fatalf("expected kube-apiserver and etcd among this test's children, found %v", childrenOf(os.Getpid()))
	}
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Kubectl("get", "ns"); err == nil {
		t.Error("the API server still answers after Stop")
	}
	for _, pid := range started {
		if testenv.ProcessAlive(pid) {
			t.Errorf("process %d outlived Stop", pid)
		}
	}
}

func TestMissingComponentFailsWithInstructions(t *testing.T) {
	t.Setenv("RSCHED_VAULT_BIN", "")
	_, err := testenv.NewVault()
	var missing *testenv.MissingComponentError
	if !errors.As(err, &missing) {
		t.Fatalf("NewVault without RSCHED_VAULT_BIN: got %v, want a MissingComponentError", err)
	}
	for _, want := range []string{"RSCHED_VAULT_BIN is not set", "make test", "hack/get-vault.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	t.Setenv("RSCHED_PG_BINDIR", t.TempDir())
	if _, err := testenv.NewPostgres(); !errors.As(err, &missing) || !strings.Contains(err.Error(), "initdb is not an executable file") {
		t.Errorf("NewPostgres with an empty bin dir: %v", err)
	}
	t.Setenv("KUBEBUILDER_ASSETS", "")
	if _, err := testenv.NewKube(); !errors.As(err, &missing) || !strings.Contains(err.Error(), "hack/envtest-assets.sh") {
		t.Errorf("NewKube without KUBEBUILDER_ASSETS: %v", err)
	}
}

// helperEnv makes this test binary, re-executed by TestComponentsDieWithTheTestProcess, start
// every component and wait to be killed.
const helperEnv = "RSCHED_TESTENV_START_ALL_AND_WAIT"

func TestStartAllAndWait(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // only meaningful as the child of TestComponentsDieWithTheTestProcess
	}
	if _, err := testenv.NewKube(); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.NewVault(); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.NewPostgres(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	select {}
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var name string
		var ppid int
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Name:\t"); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "PPid:\t"); ok {
				ppid, _ = strconv.Atoi(v)
			}
		}
		if ppid == pid {
			out[child] = name
		}
	}
	return out
}

// A test binary killed by `go test -timeout` or kill -9 runs no cleanup. The components must die
// with it anyway (parent-death signal), or they would pile up on a shared CI machine.
func TestComponentsDieWithTheTestProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestStartAllAndWait$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the helper exited before starting the components")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the helper did not start the components within 2 minutes")
	}

	children := childrenOf(cmd.Process.Pid)
	for _, want := range []string{"etcd", "kube-apiserver", "vault", "postgres"} {
		found := false
		for _, n := range children {
			// /proc's Name is the executable's name cut to 15 bytes ("vault-v1.21.0-l").
			found = found || strings.HasPrefix(n, want)
		}
		if !found {
			t.Fatalf("no %s among the helper's children %v", want, children)
		}
	}
	// The postmaster's backends are its children, not the helper's; they must go too.
	var all []int
	for pid := range children {
		all = append(all, pid)
		for gc := range childrenOf(pid) {
			all = append(all, gc)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var left []string
		for _, pid := range all {
			if testenv.ProcessAlive(pid) {
				left = append(left, fmt.Sprintf("%d(%s)", pid, children[pid]))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range all {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes outlived the killed test binary: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Extra kube-apiserver flags are name=value without dashes; anything else is refused before a
// process starts (a flag envtest would pass on verbatim would stop the API server at start).
func TestKubeFlagsMustBeNameValue(t *testing.T) {
	for _, bad := range []string{"--runtime-config=api/all=true", "runtime-config", "=x"} {
		if _, err := testenv.NewKubeWith(bad); err == nil || !strings.Contains(err.Error(), "want name=value without dashes") {
			t.Errorf("NewKubeWith(%q): %v", bad, err)
		}
	}
}

//go:build e2e

// Package e2e runs rsched on a real Kubernetes cluster: real pods of our images. By default it
// brings up the project's local single-node cluster (hack/local-cluster.sh: Linux and root),
// loads the images `make images` assembles, and tears it down afterwards, failing if anything is
// left on the host. With KUBECONFIG set and RSCHED_E2E_CLUSTER=existing it uses that cluster
// instead (a kind cluster, say), into which localhost/rsched/{manager,scheduler,e2e-client}:dev
// (go run ./hack/images -e2e-client) must have been loaded.
//
//	make test-e2e
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

var (
	root    string
	cfg     *rest.Config
	kc      client.Client
	kubectl string
	local   bool
	// hostIP is where pods reach servers the test runs on the host (PostgreSQL, Vault).
	hostIP string
)

const imageTag = "dev"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root = testenv.RepoRoot()
	kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: kubectl not found: run through `make test-e2e` (it sources hack/test-env.sh)")
		return 1
	}
	local = os.Getenv("RSCHED_E2E_CLUSTER") != "existing"
	cluster := filepath.Join(root, "hack", "local-cluster.sh")
	if local {
		if err := stream(cluster, "up"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the local cluster did not come up:", err)
			_ = stream(cluster, "down")
			return 1
		}
		out, err := exec.Command(cluster, "kubeconfig").Output()
		if err != nil {
			return fail(err)
		}
		os.Setenv("KUBECONFIG", strings.TrimSpace(string(out)))
	}
	code := func() int {
		var err error
		if cfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG")); err != nil {
			return fail(err)
		}
		scheme := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(scheme)
		_ = rschedv1.AddToScheme(scheme)
		if kc, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
			return fail(err)
		}
		if hostIP, err = nodeIP(); err != nil {
			return fail(err)
		}
		if local {
			if err := stream("go", "run", "./hack/images", "-e2e-client", "-out", "bin/images", "-tag", imageTag); err != nil {
				return fail(err)
			}
			if err := stream(cluster, "load", "bin/images/manager.tar", "bin/images/scheduler.tar", "bin/images/e2e-client.tar"); err != nil {
				return fail(err)
			}
		}
		return m.Run()
	}()
	if local && os.Getenv("RSCHED_E2E_KEEP") != "1" {
		_ = stream(cluster, "down")
		if err := stream(cluster, "leftovers"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the local cluster left something on the host (above)")
			code = 1
		}
	}
	return code
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "e2e:", err)
	return 1
}

// stream runs a command from the repository root with its output on stderr.
func stream(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// nodeIP is the InternalIP of the first node.
func nodeIP() (string, error) {
	out, err := exec.Command(kubectl, "get", "nodes", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`).Output()
	if err != nil {
		return "", fmt.Errorf("reading the node's address: %w", err)
	}
	ip := strings.TrimSpace(string(out))
	if ip == "" {
		return "", fmt.Errorf("the node has no InternalIP")
	}
	return ip, nil
}

// k runs kubectl and fails the test on error.
func k(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(kubectl, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// eventually polls cond every 250 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	last := ""
	for {
		ok, why := cond(ctx)
		if ok {
			return
		}
		last = why
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v (last: %s)", what, within, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

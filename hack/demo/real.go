package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// realClusterPossible says whether the demo can run on a real local cluster: Linux, root, and
// not asked to use the envtest control plane (RSCHED_DEMO=envtest).
func realClusterPossible() (bool, string) {
	switch {
	case os.Getenv("RSCHED_DEMO") == "envtest":
		return false, "RSCHED_DEMO=envtest"
	case runtime.GOOS != "linux":
		return false, "not Linux"
	case os.Geteuid() != 0:
		return false, "not root"
	}
	return true, ""
}

// runReal is the tour on a real single-node cluster (hack/local-cluster.sh): the operator runs as
// a pod from the Helm chart (charts/rsched-operator) with the locally built image, PostgreSQL and Vault run on the host
// where pods reach them, and the instances run real scheduler pods.
func runReal(ctx context.Context, root, state string) error {
	c := localCluster{root: root, script: filepath.Join(root, "hack", "local-cluster.sh")}
	kube, kubeconfig, err := c.up(state)
	defer c.down()
	if err != nil {
		return err
	}
	if err := c.loadImages(); err != nil {
		return err
	}
	hostIP, err := kube.Kubectl("get", "nodes", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`)
	if err != nil || hostIP == "" {
		return fmt.Errorf("reading the node's address: %v", err)
	}
	step("starting a Vault dev server and PostgreSQL on the host (%s), where pods reach them", hostIP)
	vault, err := testenv.NewVaultOn(hostIP)
	if err != nil {
		return err
	}
	defer func() { step("stopping Vault"); _ = vault.Stop() }()
	pg, err := testenv.NewPostgresOn(hostIP, "10.244.0.0/16")
	if err != nil {
		return err
	}
	defer func() { step("stopping PostgreSQL"); _ = pg.Stop() }()

	if err := helmInstall(root, kube, kubeconfig); err != nil {
		return err
	}
	step("provisioning what the samples refer to")
	if err := provisionWithDatabases(ctx, kube, vault, pg); err != nil {
		return err
	}
	if err := tour(ctx, kube, vault, "localhost/rsched/scheduler:dev"); err != nil {
		return err
	}
	if err := showScheduling(ctx, kube); err != nil {
		return err
	}
	if err := showPlugin(root, kube); err != nil {
		return err
	}
	fmt.Printf(`
rsched demo is running on a real single-node cluster.
  kubectl:   export KUBECONFIG=%s; %s get si,krp,pods -A
  operator:  kubectl -n rsched-system logs deploy/rsched-manager
  Vault:     %s (dev server; token in the demo process only)
Stop with Ctrl-C here or 'make demo-down'.
`, kubeconfig, filepath.Join(kube.Assets, "kubectl"), vault.Addr)
	<-ctx.Done()
	fmt.Println()
	return nil
}

// localCluster drives hack/local-cluster.sh.
type localCluster struct {
	root, script string
	// marker lets `make demo-down` finish the job if we are killed; empty until the cluster is up.
	marker string
}

func (c *localCluster) sh(args ...string) error {
	cmd := exec.Command(c.script, args...)
	cmd.Dir = c.root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// up starts the cluster and returns a Kube for it and its kubeconfig. down must be called
// whatever up returned.
func (c *localCluster) up(state string) (*testenv.Kube, string, error) {
	step("starting a real single-node cluster (hack/local-cluster.sh up: kubelet, containerd, kube-proxy, CoreDNS)")
	if err := c.sh("up"); err != nil {
		_ = c.sh("down")
		return nil, "", fmt.Errorf("the local cluster did not come up (RSCHED_DEMO=envtest runs the demo without it): %w", err)
	}
	marker := filepath.Join(state, "real-cluster")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		_ = c.sh("down")
		return nil, "", err
	}
	c.marker = marker
	out, err := exec.Command(c.script, "kubeconfig").Output()
	if err != nil {
		return nil, "", err
	}
	kubeconfig := strings.TrimSpace(string(out))
	kube, err := realKube(kubeconfig)
	return kube, kubeconfig, err
}

// down stops the cluster if up started it.
func (c *localCluster) down() {
	if c.marker == "" {
		return
	}
	step("stopping the cluster (hack/local-cluster.sh down)")
	if c.sh("down") == nil {
		_ = os.Remove(c.marker)
	}
}

// loadImages assembles the images (make images) and imports them into the cluster's containerd.
func (c *localCluster) loadImages() error {
	step("assembling and loading the images (make images)")
	images := exec.Command("go", "run", "./hack/images", "-out", "bin/images", "-tag", "dev")
	images.Dir, images.Stdout, images.Stderr = c.root, os.Stdout, os.Stderr
	if err := images.Run(); err != nil {
		return err
	}
	return c.sh("load", "bin/images/manager.tar", "bin/images/scheduler.tar")
}

// realKube is a testenv.Kube for an existing cluster: its client, kubeconfig and kubectl (the
// test assets' kubectl). It is never stopped through Kube.Stop.
func realKube(kubeconfig string) (*testenv.Kube, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run through make demo")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := rschedv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &testenv.Kube{Config: cfg, Client: c, Scheme: scheme, Kubeconfig: kubeconfig, Assets: assets}, nil
}

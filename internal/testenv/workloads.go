package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Workloads makes pods "run" on a Kube: kube-controller-manager (Deployments, ReplicaSets,
// garbage collection, disruption budgets), kube-scheduler, and kwok with one fake node whose pods
// kwok moves to Running and Ready. Nothing runs in the pods; their lifecycle and every status the
// controllers write are real.
type Workloads struct {
	dir   string
	procs []*process
}

// StartWorkloads starts the three on k and registers their stop with t. The binaries come from
// RSCHED_WORKLOAD_BINS (kube-controller-manager, kube-scheduler) and RSCHED_KWOK_BIN.
func StartWorkloads(t testing.TB, k *Kube) *Workloads {
	t.Helper()
	w, err := NewWorkloads(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range w.procs {
				t.Logf("%s (exited %v: %v) output (tail):\n%s", p.name, p.exited(), p.err, tail(p.out.String(), 4000))
			}
		}
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})
	return w
}

// NewWorkloads starts the three on k; Stop ends them.
func NewWorkloads(k *Kube) (*Workloads, error) {
	const script = "ENVTEST_EXTRA_BINS='kube-controller-manager kube-scheduler' hack/envtest-assets.sh"
	kcm, err := lookupExecutable("kube-controller-manager", "RSCHED_WORKLOAD_BINS", script, "kube-controller-manager")
	if err != nil {
		return nil, err
	}
	sched, err := lookupExecutable("kube-scheduler", "RSCHED_WORKLOAD_BINS", script, "kube-scheduler")
	if err != nil {
		return nil, err
	}
	kwok, err := lookupExecutable("kwok", "RSCHED_KWOK_BIN", "hack/get-kwok.sh", "")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rsched-workloads-")
	if err != nil {
		return nil, err
	}
	w := &Workloads{dir: dir}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(false); err != nil {
			return nil, err
		}
	}
	start := func(name string, args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		p, err := startProcess(name, cmd)
		if err != nil {
			return err
		}
		w.procs = append(w.procs, p)
		return nil
	}
	for _, args := range [][]string{
		{"kube-controller-manager", kcm, "--kubeconfig=" + k.Kubeconfig, "--authentication-kubeconfig=" + k.Kubeconfig,
			"--authorization-kubeconfig=" + k.Kubeconfig, "--leader-elect=false", "--use-service-account-credentials=false",
			"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,disruption-controller",
			"--bind-address=127.0.0.1", "--secure-port=" + fmt.Sprint(ports[0]), "--cert-dir=" + filepath.Join(dir, "kcm-certs"),
			"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10"},
		{"kube-scheduler", sched, "--kubeconfig=" + k.Kubeconfig, "--authentication-kubeconfig=" + k.Kubeconfig,
			"--authorization-kubeconfig=" + k.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
			"--secure-port=" + fmt.Sprint(ports[1]), "--cert-dir=" + filepath.Join(dir, "sched-certs")},
		{"kwok", kwok, "--kubeconfig=" + k.Kubeconfig, "--config=" + filepath.Join(filepath.Dir(kwok), "stages.yaml"),
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=10.244.0.0/16",
			"--node-ip=10.0.0.1", "--server-address=127.0.0.1:" + fmt.Sprint(ports[2])},
	} {
		if err := start(args[0], args[1:]...); err != nil {
			_ = w.Stop()
			return nil, err
		}
	}
	if err := w.addNode(k); err != nil {
		_ = w.Stop()
		return nil, err
	}
	return w, nil
}

// Stop ends the three processes.
func (w *Workloads) Stop() error {
	var errs []error
	for _, p := range w.procs {
		if err := p.stop(syscall.SIGTERM, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.RemoveAll(w.dir)
	return errors.Join(errs...)
}

// addNode registers the fake node, waits for kwok to report it Ready, and lifts the not-ready
// taint the API server put on it at creation (in a cluster the node lifecycle controller does).
func (w *Workloads) addNode(k *Kube) error {
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kwok-node-0", Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", "type": "kwok"}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		},
	}
	if err := k.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the kwok node: %w", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		n := &corev1.Node{}
		if err := k.Client.Get(ctx, client.ObjectKey{Name: node.Name}, n); err != nil {
			return err
		}
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		switch {
		case ready && len(n.Spec.Taints) == 0:
			return nil
		case ready:
			n.Spec.Taints = nil
			_ = k.Client.Update(ctx, n) // a conflict is retried by the loop
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the kwok node did not become Ready and schedulable within 90s")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

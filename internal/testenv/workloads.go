package testenv

import (
	"context"
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
	procs []*process
}

// StartWorkloads starts the three on k and registers their stop with t. The binaries come from
// RSCHED_WORKLOAD_BINS (kube-controller-manager, kube-scheduler) and RSCHED_KWOK_BIN.
func StartWorkloads(t testing.TB, k *Kube) *Workloads {
	t.Helper()
	kcm, err := lookupExecutable("kube-controller-manager", "RSCHED_WORKLOAD_BINS", "ENVTEST_EXTRA_BINS='kube-controller-manager kube-scheduler' hack/envtest-assets.sh", "kube-controller-manager")
	if err != nil {
		t.Fatal(err)
	}
	sched, err := lookupExecutable("kube-scheduler", "RSCHED_WORKLOAD_BINS", "ENVTEST_EXTRA_BINS='kube-controller-manager kube-scheduler' hack/envtest-assets.sh", "kube-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	kwok, err := lookupExecutable("kwok", "RSCHED_KWOK_BIN", "hack/get-kwok.sh", "")
	if err != nil {
		t.Fatal(err)
	}
	w := &Workloads{}
	t.Cleanup(func() {
		for _, p := range w.procs {
			if err := p.stop(syscall.SIGTERM, 10*time.Second); err != nil {
				t.Errorf("stopping %s: %v", p.name, err)
			}
		}
	})
	dir := t.TempDir()
	start := func(name string, args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		p, err := startProcess(name, cmd)
		if err != nil {
			t.Fatal(err)
		}
		w.procs = append(w.procs, p)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s (exited %v: %v) output (tail):\n%s", name, p.exited(), p.err, tail(p.out.String(), 4000))
			}
		})
	}
	start("kube-controller-manager", kcm, "--kubeconfig="+k.Kubeconfig, "--authentication-kubeconfig="+k.Kubeconfig,
		"--authorization-kubeconfig="+k.Kubeconfig, "--leader-elect=false", "--use-service-account-credentials=false",
		"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,disruption-controller",
		"--bind-address=127.0.0.1", "--secure-port="+fmt.Sprint(freePortOrFail(t)), "--cert-dir="+filepath.Join(dir, "kcm-certs"),
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10")
	start("kube-scheduler", sched, "--kubeconfig="+k.Kubeconfig, "--authentication-kubeconfig="+k.Kubeconfig,
		"--authorization-kubeconfig="+k.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
		"--secure-port="+fmt.Sprint(freePortOrFail(t)), "--cert-dir="+filepath.Join(dir, "sched-certs"))
	start("kwok", kwok, "--kubeconfig="+k.Kubeconfig, "--config="+filepath.Join(filepath.Dir(kwok), "stages.yaml"), "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.1", "--server-address=127.0.0.1:"+fmt.Sprint(freePortOrFail(t)))

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kwok-node-0", Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", "type": "kwok"}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		},
	}
	if err := k.Client.Create(context.Background(), node); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the kwok node: %v", err)
	}
	Eventually(t, 60*time.Second, "the kwok node is Ready", func() (bool, string) {
		n := &corev1.Node{}
		if err := k.Client.Get(context.Background(), client.ObjectKey{Name: node.Name}, n); err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, string(c.Status)
			}
		}
		return false, "no Ready condition"
	})
	// The API server taints a new node not-ready; in a cluster the node lifecycle controller lifts
	// the taint once the kubelet reports Ready. kwok reported Ready: lift it the same way.
	Eventually(t, 30*time.Second, "the kwok node is untainted", func() (bool, string) {
		n := &corev1.Node{}
		if err := k.Client.Get(context.Background(), client.ObjectKey{Name: node.Name}, n); err != nil {
			return false, err.Error()
		}
		if len(n.Spec.Taints) == 0 {
			return true, ""
		}
		n.Spec.Taints = nil
		if err := k.Client.Update(context.Background(), n); err != nil {
			return false, err.Error()
		}
		return false, "taints removed, checking"
	})
	return w
}

func freePortOrFail(t testing.TB) int {
	t.Helper()
	p, err := freePort(false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const operatorNS = "rsched-system"

// installOperator applies config/default with the locally built image, once per test binary,
// and waits until the operator is available.
func installOperator(t *testing.T) *appsv1.Deployment {
	t.Helper()
	overlay := filepath.Join(root, "bin", "e2e", "overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	kust := fmt.Sprintf(`resources:
  - ../../../config/default
images:
  - name: ghcr.io/rsched/rsched
    newName: localhost/rsched/manager
    newTag: %s
`, imageTag)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	k(t, "apply", "--server-side", "-k", overlay)
	dep := &appsv1.Deployment{}
	eventually(t, 2*time.Minute, "the operator Deployment available", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: "rsched-manager"}, dep); err != nil {
			return false, err.Error()
		}
		return dep.Status.ObservedGeneration == dep.Generation && dep.Status.AvailableReplicas == 1 && dep.Status.UpdatedReplicas == 1,
			fmt.Sprintf("available %d, updated %d", dep.Status.AvailableReplicas, dep.Status.UpdatedReplicas)
	})
	return dep
}

// operatorPod returns the running operator pod.
func operatorPod(ctx context.Context) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(operatorNS), client.MatchingLabels{"app.kubernetes.io/name": "rsched"}); err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp.IsZero() && p.Status.Phase == corev1.PodRunning {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no running operator pod among %d", len(pods.Items))
}

// Scenario 1: the operator installed from config/default runs as a pod under the restricted
// profile, becomes Ready and holds the leader-election Lease.
func TestOperatorRunsAsAPodAndLeads(t *testing.T) {
	installOperator(t)
	ctx := context.Background()
	ns := &corev1.Namespace{}
	if err := kc.Get(ctx, types.NamespacedName{Name: operatorNS}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace %s does not enforce the restricted profile: %v", operatorNS, ns.Labels)
	}
	pod, err := operatorPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, c := range pod.Status.Conditions {
		ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
	}
	if !ready {
		t.Fatalf("operator pod %s is not Ready", pod.Name)
	}
	sc := pod.Spec.Containers[0].SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
		t.Fatal("the operator pod is not read-only and non-root")
	}
	lease := &coordinationv1.Lease{}
	eventually(t, time.Minute, "the operator holds the leader Lease", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: "rsched-manager.scheduling.rsched.io"}, lease); err != nil {
			return false, err.Error()
		}
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		return strings.HasPrefix(holder, pod.Name+"_"), "holder " + holder
	})
}

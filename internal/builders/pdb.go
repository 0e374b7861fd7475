package builders

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// PodDisruptionBudget keeps all but one API server pod up through voluntary disruptions (node
// drains, cluster upgrades). It is nil for a single replica: a budget that allows no disruption
// would block every drain of that pod's node, and one that allows one protects nothing; the
// reconciler should delete a budget left from a time with more replicas.
//
// maxUnavailable (rather than minAvailable) keeps the budget right when replicas change.
// Unhealthy pods may always be evicted (AlwaysAllow): a crash-looping pod is serving nothing, and
// under the default policy it would count against the budget and block drains indefinitely.
func PodDisruptionBudget(si *rschedv1.SchedulerInstance) *policyv1.PodDisruptionBudget {
	if Replicas(si) <= 1 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      PDBName(si),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             ptr(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
			UnhealthyPodEvictionPolicy: ptr(policyv1.AlwaysAllow),
		},
	}
}

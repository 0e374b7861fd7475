package builders

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// LabelInstanceNamespace names the namespace of the instance a cluster-scoped object (a
// ClusterTrustBundle) belongs to; LabelInstance names the instance.
const LabelInstanceNamespace = "scheduling.rsched.io/instance-namespace"

// clusterTrustBundlePrefix starts the name of every ClusterTrustBundle the operator publishes.
const clusterTrustBundlePrefix = "rsched."

// ClusterTrustBundleName is the cluster-wide name of the instance's trust bundle:
// rsched.<namespace>.<instance>. A namespace holds no dot, so two instances never share it; it
// holds no colon, which a bundle without a signerName must not have; at most 7+63+1+63 = 134
// characters, within an object name's 253.
func ClusterTrustBundleName(si *rschedv1.SchedulerInstance) string {
	return clusterTrustBundlePrefix + si.Namespace + "." + si.Name
}

// ClusterTrustBundleLabels are the instance's labels and its namespace's: the object has no owner
// reference (a cluster-scoped object cannot name a namespaced owner), so the labels are how the
// operator finds it again and how a person removes them all.
func ClusterTrustBundleLabels(si *rschedv1.SchedulerInstance) map[string]string {
	l := Labels(si)
	l[LabelInstanceNamespace] = si.Namespace
	return l
}

// InstanceOfClusterTrustBundle is the instance a ClusterTrustBundle with the operator's labels
// belongs to; ok is false for any other.
func InstanceOfClusterTrustBundle(name string, labels map[string]string) (types.NamespacedName, bool) {
	key := types.NamespacedName{Namespace: labels[LabelInstanceNamespace], Name: labels[LabelInstance]}
	if labels[LabelManagedBy] != ManagedBy || labels[LabelName] != AppName || key.Namespace == "" || key.Name == "" ||
		!strings.HasPrefix(name, clusterTrustBundlePrefix) {
		return types.NamespacedName{}, false
	}
	return key, true
}

package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// Service fronts the API port only: metrics (MetricsPort) are scraped from the pods directly and
// never published through the Service clients use. The target is the container port's name, so
// the container port can change without touching the Service.
//
// Fields the API server defaults deterministically are written out (session affinity, traffic
// policies, IP family policy, node-port allocation for load balancers). The ones it allocates
// (clusterIP(s), ipFamilies, nodePort) cannot be known here: the reconciler must leave them to
// the API server and never compare them.
func Service(si *rschedv1.SchedulerInstance) *corev1.Service {
	typ := si.Spec.Service.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ServiceName(si),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(si),
			Ports: []corev1.ServicePort{{
				Name:       APIPortName,
				Port:       ServicePort(si),
				TargetPort: intstr.FromString(APIPortName),
				Protocol:   corev1.ProtocolTCP,
				// Ingress controllers and meshes read it to speak TLS to the backend.
				AppProtocol: ptr("https"),
			}},
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
		},
	}
	if typ == corev1.ServiceTypeNodePort || typ == corev1.ServiceTypeLoadBalancer {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if typ == corev1.ServiceTypeLoadBalancer {
		svc.Spec.AllocateLoadBalancerNodePorts = ptr(true)
	}
	return svc
}

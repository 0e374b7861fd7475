package builders

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

func TestService(t *testing.T) {
	base := func(typ corev1.ServiceType, port int32) corev1.ServiceSpec {
		return corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{LabelName: AppName, LabelInstance: "demo"},
			Ports: []corev1.ServicePort{{
				Name: "https", Port: port, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP, AppProtocol: ptr("https"),
			}},
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
		}
	}
	tests := []struct {
		name   string
		mutate func(*rschedv1.SchedulerInstance)
		want   func() corev1.ServiceSpec
	}{
		{"defaults to ClusterIP on 8080", func(*rschedv1.SchedulerInstance) {},
			func() corev1.ServiceSpec { return base(corev1.ServiceTypeClusterIP, 8080) }},
		{"port from the spec, target stays the named container port", func(si *rschedv1.SchedulerInstance) { si.Spec.Service.Port = 443 },
			func() corev1.ServiceSpec { return base(corev1.ServiceTypeClusterIP, 443) }},
		{"NodePort gets the external traffic policy the API server would set", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Service.Type = corev1.ServiceTypeNodePort
		}, func() corev1.ServiceSpec {
			s := base(corev1.ServiceTypeNodePort, 8080)
			s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			return s
		}},
		{"LoadBalancer also allocates node ports", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Service.Type = corev1.ServiceTypeLoadBalancer
		}, func() corev1.ServiceSpec {
			s := base(corev1.ServiceTypeLoadBalancer, 8080)
			s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.AllocateLoadBalancerNodePorts = ptr(true)
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(tt.mutate)
			svc := Service(si)
			if !equality.Semantic.DeepEqual(svc.Spec, tt.want()) {
				t.Fatalf("spec:\n got %+v\nwant %+v", svc.Spec, tt.want())
			}
			wantMeta := metav1.ObjectMeta{Name: "demo", Namespace: "sched", Labels: Labels(si)}
			if !reflect.DeepEqual(svc.ObjectMeta, wantMeta) {
				t.Fatalf("metadata = %+v", svc.ObjectMeta)
			}
		})
	}
}

func TestServiceDoesNotPublishMetrics(t *testing.T) {
	for _, p := range Service(newInstance()).Spec.Ports {
		if p.TargetPort.String() == MetricsPortName || p.TargetPort.IntValue() == MetricsPort {
			t.Fatalf("port %+v exposes metrics", p)
		}
	}
}

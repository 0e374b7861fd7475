package builders

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

func TestPodDisruptionBudget(t *testing.T) {
	tests := []struct {
		name     string
		replicas *int32
		wantPDB  bool
	}{
		{"unset replicas (2) gets a budget", nil, true},
		{"a single replica gets none", ptr(int32(1)), false},
		{"two replicas", ptr(int32(2)), true},
		{"many replicas", ptr(int32(10)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = tt.replicas })
			got := PodDisruptionBudget(si)
			if !tt.wantPDB {
				if got != nil {
					t.Fatalf("PodDisruptionBudget = %+v, want nil", got)
				}
				return
			}
			want := &policyv1.PodDisruptionBudget{
				TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
				ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "sched", Labels: Labels(si)},
				Spec: policyv1.PodDisruptionBudgetSpec{
					MaxUnavailable:             ptr(intstr.FromInt32(1)),
					Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
					UnhealthyPodEvictionPolicy: ptr(policyv1.AlwaysAllow),
				},
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("PodDisruptionBudget:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

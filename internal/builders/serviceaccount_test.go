package builders

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceAccountHasNoMountedToken(t *testing.T) {
	got := ServiceAccount(newInstance())
	want := &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "demo-scheduler",
			Namespace: "sched",
			Labels:    Labels(newInstance()),
		},
		AutomountServiceAccountToken: ptr(false),
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("ServiceAccount:\n got %+v\nwant %+v", got, want)
	}
}

package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// ServiceAccount is the identity of the instance's pods. It has no RBAC: the server never talks to
// the Kubernetes API, so its token is not mounted (AutomountServiceAccountToken false) and a
// compromised pod holds no credential. The operator still requests short-lived, audience-bound
// tokens for it through TokenRequest when Vault's kubernetes auth method logs in as the instance.
func ServiceAccount(si *rschedv1.SchedulerInstance) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ServiceAccountName(si),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		AutomountServiceAccountToken: ptr(false),
	}
}

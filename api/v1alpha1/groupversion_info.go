// Package v1alpha1 contains the rsched API: SchedulerInstance, which deploys one scheduling API
// server, and KeyRotationPolicy, which rotates its signing and encryption keys.
//
// Validation lives in the schema (OpenAPI markers and CEL rules) so that a bad spec is refused at
// admission with a message a person can act on; rsched runs no validating webhook.
//
// +kubebuilder:object:generate=true
// +groupName=scheduling.rsched.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "scheduling.rsched.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme. It comes from
	// apimachinery rather than controller-runtime so that importing the API stays cheap.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&SchedulerInstance{}, &SchedulerInstanceList{},
		&KeyRotationPolicy{}, &KeyRotationPolicyList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

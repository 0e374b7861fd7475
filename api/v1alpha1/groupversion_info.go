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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "scheduling.rsched.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

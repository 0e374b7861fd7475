// Package controllers holds one reconciler per rsched kind. Each file set is split by concern
// (<kind>_controller.go with a short Reconcile that names its steps, <kind>_status.go, ...).
//
// The SchedulerInstance and KeyRotationPolicy reconcilers are registered here by SetupWithManager
// as they are built; the manager binary (cmd/manager) calls Setup.
package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options are the operator-wide settings the reconcilers share.
type Options struct {
	// SchedulerImage is the scheduling API server image used when a SchedulerInstance names none.
	SchedulerImage string
}

// Setup registers every reconciler with the manager. No reconciler exists yet: the API
// (api/v1alpha1) is complete, and the reconcilers that implement it land one issue at a time.
func Setup(_ ctrl.Manager, _ Options) error {
	return nil
}

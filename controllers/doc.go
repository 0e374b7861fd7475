// Package controllers holds one reconciler per rsched kind. Each file set is split by concern
// (<kind>_controller.go with a short Reconcile that names its steps, <kind>_status.go, ...).
// The manager binary (cmd/manager) calls Setup.
package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/rsched/rsched/internal/vault"
)

// Options are the operator-wide settings the reconcilers share.
type Options struct {
	// SchedulerImage is the scheduling API server image used when a SchedulerInstance names none.
	SchedulerImage string
	// OperatorNamespace is where the operator runs; the instances' NetworkPolicies admit its
	// health checks.
	OperatorNamespace string
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	return (&SchedulerInstanceReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("rsched-operator"),
		Vault:     vault.NewFactory(TokenSource(mgr.GetClient()), ctrlmetrics.Registry),
		Clock:     clock.RealClock{},
		Options:   opts,
	}).SetupWithManager(mgr)
}

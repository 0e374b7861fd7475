// Package controllers holds one reconciler per rsched kind. Each file set is split by concern
// (<kind>_controller.go with a short Reconcile that names its steps, <kind>_status.go, ...).
// The manager binary (cmd/manager) calls Setup.
package controllers

import (
	"context"
	"fmt"
	"time"

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
	// KeyPropagation is how long a staged key version is given to reach every pod when the pods'
	// keyring versions cannot be read (DefaultKeyPropagation when zero).
	KeyPropagation time.Duration
	// ClusterTrustBundles also publishes each instance's trust bundle as a ClusterTrustBundle,
	// when the API server serves them (--cluster-trust-bundles; cluster-wide installs only).
	ClusterTrustBundles bool
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	vf := vault.NewFactory(TokenSource(mgr.GetClient()), ctrlmetrics.Registry)
	if err := (&SchedulerInstanceReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("rsched-operator"),
		Vault:     vf,
		Clock:     clock.RealClock{},
		Options:   opts,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := setupClusterTrustBundles(context.Background(), mgr, opts.ClusterTrustBundles); err != nil {
		return fmt.Errorf("--cluster-trust-bundles: %w", err)
	}
	return (&KeyRotationPolicyReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Scheme:      mgr.GetScheme(),
		Recorder:    mgr.GetEventRecorder("rsched-operator"),
		Vault:       vf,
		Clock:       clock.RealClock{},
		Observer:    &MetricsObserver{Reader: mgr.GetAPIReader()},
		Propagation: opts.KeyPropagation,
	}).SetupWithManager(mgr)
}

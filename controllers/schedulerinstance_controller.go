package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/vault"
)

// SchedulerInstanceReconciler turns a SchedulerInstance into a running, locked-down scheduling
// API server: its ServiceAccount, configuration, secrets (from Kubernetes Secrets or Vault),
// Deployment, Service, PodDisruptionBudget and NetworkPolicies, and reports how it stands.
type SchedulerInstanceReconciler struct {
	Client client.Client
	// APIReader reads objects the cache does not hold: Secrets the user names in a spec.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Vault     *vault.Factory
	Clock     clock.PassiveClock
	Options   Options
}

// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=schedulerinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=schedulerinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups=scheduling.rsched.io,resources=schedulerinstances/status,verbs=get;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=core,resources=configmaps;serviceaccounts;services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete

// Reconcile is level-triggered: read the instance, converge every owned object, write status.
// Every error path returns an error or a requeue: nothing stops syncing silently.
func (r *SchedulerInstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	si := &rschedv1.SchedulerInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, si); err != nil {
		if apierrors.IsNotFound(err) {
			instanceReady.DeleteLabelValues(req.Namespace, req.Name)
			secretSyncTime.DeleteLabelValues(req.Namespace, req.Name)
			recordCertificateMetrics(req.Namespace, req.Name, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !si.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector remove the rest
	}
	st := newStatusBuilder(si, r.Clock.Now())
	stepErr := r.apply(ctx, si, st)
	if stepErr != nil {
		st.reconcileError(stepErr)
	}
	if err := r.updateStatus(ctx, si, st); err != nil {
		return ctrl.Result{}, errors.Join(stepErr, err)
	}
	return outcome.Result(log.FromContext(ctx), stepErr, st.requeueAfter)
}

// apply runs the steps in their documented order. What a later step needs from an earlier one
// is an explicit value (pod: the inputs of the pod template; lastGood: the last good Secrets are
// in place); what status reports is recorded in st.
func (r *SchedulerInstanceReconciler) apply(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	pod := podInputs{image: cmp.Or(si.Spec.Image, r.Options.SchedulerImage)}
	lastGood := false
	steps := []func(context.Context) error{
		func(ctx context.Context) error {
			kr, err := r.ensureKeyring(ctx, si)
			st.keyVersion, pod.keyRollout = kr.version, kr.rollout
			return err
		},
		// The ServiceAccount comes before the secrets: Vault's kubernetes auth logs in as it.
		func(ctx context.Context) error { return r.ensureServiceAccount(ctx, si) },
		func(ctx context.Context) error {
			res, err := r.syncSecrets(ctx, si, st)
			pod.databaseRevision, lastGood = res.Revision, res.LastGood
			return err
		},
		func(ctx context.Context) error { return r.checkDatabaseTLS(ctx, si, pod.databaseRevision) },
		func(ctx context.Context) (err error) {
			pod.configHash, err = r.ensureConfigMap(ctx, si)
			return err
		},
		// The serving certificate before the pods that mount it.
		func(ctx context.Context) error { return r.ensureCertificate(ctx, si, st) },
		// Policies before pods: a new pod never runs without its isolation.
		func(ctx context.Context) (err error) {
			st.networkPolicies, err = r.ensureNetworkPolicies(ctx, si)
			return err
		},
		func(ctx context.Context) (err error) {
			st.deployment, err = r.ensureDeployment(ctx, si, pod)
			return err
		},
		func(ctx context.Context) error { return r.ensureService(ctx, si) },
		func(ctx context.Context) error { return r.ensureIngress(ctx, si) },
		func(ctx context.Context) error { return r.ensurePodDisruptionBudget(ctx, si) },
	}
	return runSteps(ctx, steps, func() bool { return lastGood })
}

// runSteps runs the steps in order. A step's outcome stops the reconcile, except when the
// last good Secrets are in place and it does not halt: the rest of the instance is still kept
// converged (spec changes, drift) while the sources are retried on time. Of the outcomes that
// let it go on, status reports the first that blocks Ready (else the last), and the reconcile
// comes back after the earliest of their waits.
func runSteps(ctx context.Context, steps []func(context.Context) error, lastGood func() bool) error {
	var deferred []*outcome.Outcome
	var stepErr error
	for _, step := range steps {
		err := step(ctx)
		if o, ok := deferrable(err); ok && lastGood() {
			deferred = append(deferred, o)
			continue
		}
		if err != nil {
			stepErr = err
			break
		}
	}
	if stepErr != nil || len(deferred) == 0 {
		return stepErr
	}
	return reportedOutcome(deferred)
}

// deferrable: err is a Wait, a Blocked or a counted Failed that does not halt: later steps may
// still run on the last good Secrets.
func deferrable(err error) (*outcome.Outcome, bool) {
	kind, o := outcome.Of(err)
	switch kind {
	case outcome.Wait, outcome.Blocked:
		return o, !o.Halt
	case outcome.Failed:
		return o, o.After > 0 && !o.Halt
	}
	return nil, false
}

// reportedOutcome is the outcome of several that status reports: the first that blocks Ready,
// else the last; it comes back after the earliest of their waits.
func reportedOutcome(deferred []*outcome.Outcome) *outcome.Outcome {
	pick := deferred[len(deferred)-1]
	for _, o := range deferred {
		if o.Kind == outcome.Blocked && o.Condition == rschedv1.ConditionReady {
			pick = o
			break
		}
	}
	after := pick.After
	for _, o := range deferred {
		if o.After > 0 && (after == 0 || o.After < after) {
			after = o.After
		}
	}
	if after == pick.After {
		return pick
	}
	reported := *pick
	reported.After = after
	return &reported
}

// SetupWithManager registers the reconciler and the kinds it owns, so that a change or deletion of
// any owned object brings its instance back to the desired state.
func (r *SchedulerInstanceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Spec and annotation changes only: the reconciler's own status writes must not trigger
		// it again, or a failing instance would retry at once instead of after its backoff.
		For(&rschedv1.SchedulerInstance{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&networkingv1.Ingress{}).
		// The serving Secret cert-manager writes (tls.issuerRef) carries the instance's labels but no
		// owner: a renewal is seen through the labels.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(instanceOfLabelledSecret)).
		Named("schedulerinstance").
		Complete(r)
}

// instanceOfLabelledSecret maps a Secret that carries the instance's labels to the instance: the
// serving Secret cert-manager writes has them but no owner (or cert-manager's Certificate as
// owner, with its --enable-certificate-owner-ref). The cache holds only Secrets with the
// operator's label; an owned one is also mapped by Owns, and the queue merges the two.
func instanceOfLabelledSecret(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[builders.LabelManagedBy] != builders.ManagedBy || l[builders.LabelName] != builders.AppName || l[builders.LabelInstance] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: l[builders.LabelInstance]}}}
}

// event records an event on the instance; messages never carry secret values.
func (r *SchedulerInstanceReconciler) event(si *rschedv1.SchedulerInstance, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(si, nil, typ, reason, action, note, args...)
	}
}

// conditionTrue reports whether the instance's condition is True.
func conditionTrue(si *rschedv1.SchedulerInstance, t string) bool {
	return meta.IsStatusConditionTrue(si.Status.Conditions, t)
}

func notFoundOrErr(err error) (bool, error) {
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading: %w", err)
	}
	return false, nil
}

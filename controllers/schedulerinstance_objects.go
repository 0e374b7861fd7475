package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
)

// converge creates obj, or makes the stored object's owned fields equal to the desired ones with
// mutate. controllerutil.CreateOrUpdate compares before writing, so an object already in the
// desired state costs no write. It records an event for a create or an update (drift corrected).
func (r *SchedulerInstanceReconciler) converge(ctx context.Context, si *rschedv1.SchedulerInstance, obj client.Object, labels map[string]string, mutate func() error) error {
	kind := fmt.Sprintf("%T", obj)
	res, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		// Never take over an object someone else made under our name: it would be overwritten
		// and, worse, deleted with the instance.
		if obj.GetResourceVersion() != "" && !metav1.IsControlledBy(obj, si) {
			return nameConflict(obj)
		}
		l := obj.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		maps.Copy(l, labels)
		obj.SetLabels(l)
		if err := controllerutil.SetControllerReference(si, obj, r.Scheme); err != nil {
			return err
		}
		return mutate()
	})
	if apierrors.IsAlreadyExists(err) {
		// The cache had no such object but the API server has one: either one the cache cannot
		// see (it holds only our labelled ConfigMaps and Secrets), or ours, created a moment ago
		// and not in the cache yet (the error stands and the reconcile is retried).
		if conflict, cerr := r.unseenConflict(ctx, si, obj, labels); cerr != nil {
			return fmt.Errorf("%s %s: %w", kindName(kind), obj.GetName(), cerr)
		} else if conflict != nil {
			err = conflict
		}
	}
	switch kind, o := outcome.Of(err); kind {
	case outcome.Blocked:
		r.event(si, corev1.EventTypeWarning, o.Reason, "Adopt", "%s", o.Message)
		return o
	case outcome.Wait:
		return o
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", kindName(kind), obj.GetName(), err)
	}
	switch res {
	case controllerutil.OperationResultCreated:
		r.event(si, corev1.EventTypeNormal, "Created", "Create", "Created %s %s", kindName(kind), obj.GetName())
	case controllerutil.OperationResultUpdated:
		r.event(si, corev1.EventTypeNormal, "Updated", "Update", "Updated %s %s to the desired state", kindName(kind), obj.GetName())
	}
	return nil
}

// nameConflict is the block of obj, which bears one of our names and is not the instance's: it
// is never taken over, and Ready says NameConflict until it is renamed or removed. The pods
// would read a ConfigMap or a Secret of that name, and would run without their isolation past a
// NetworkPolicy of that name, so such a conflict stops the reconcile before the Deployment, even
// when the last good Secrets would let the rest go on.
func nameConflict(obj client.Object) *outcome.Outcome {
	var halt bool
	switch obj.(type) {
	case *corev1.ConfigMap, *corev1.Secret, *networkingv1.NetworkPolicy:
		// The pods would read it, or run without the isolation it should give them.
		halt = true
	}
	o := secretsource.NameConflict(kindName(fmt.Sprintf("%T", obj)), obj.GetName())
	o.Halt = halt
	return o
}

// unseenConflict reads obj's metadata from the API server, past the cache, after a create found
// the name taken: a conflict when the object there is not the instance's; when it is the
// instance's but lost the labels the cache selects on (someone removed them), the labels are
// put back and the reconcile waits a moment for the cache to see it; nil when it is gone again or
// simply not in the cache yet. Only metadata is read and written, so no data of a Secret is ever
// fetched.
func (r *SchedulerInstanceReconciler) unseenConflict(ctx context.Context, si *rschedv1.SchedulerInstance, obj client.Object, labels map[string]string) (*outcome.Outcome, error) {
	gvk, err := apiutil.GVKForObject(obj, r.Scheme)
	if err != nil {
		return nil, err
	}
	there := &metav1.PartialObjectMetadata{}
	there.SetGroupVersionKind(gvk)
	err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), there)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil // gone again: the create's error stands and is retried
	case err != nil:
		return nil, fmt.Errorf("reading its metadata: %w", err)
	case !metav1.IsControlledBy(there, si):
		return nameConflict(obj), nil
	case hasLabels(there.GetLabels(), labels):
		return nil, nil // ours and labelled, created a moment ago: the cache will see it
	}
	// With the resourceVersion read: should the object be replaced by someone else's meanwhile,
	// the patch fails instead of labelling theirs.
	patch := client.MergeFromWithOptions(there.DeepCopy(), client.MergeFromWithOptimisticLock{})
	l := there.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, labels)
	there.SetLabels(l)
	if err := r.Client.Patch(ctx, there, patch); err != nil {
		return nil, fmt.Errorf("restoring its labels: %w", err)
	}
	r.event(si, corev1.EventTypeNormal, "Relabelled", "Update", "Restored the labels of %s %s, which the operator needs to see it", kindName(fmt.Sprintf("%T", obj)), obj.GetName())
	// The cache seeing the labelled object brings the next reconcile; the wait is only a fallback,
	// and keeps a tool that strips the labels again and again from making a patch a second.
	return outcome.WaitFor(retryShort, "restored the labels of "+obj.GetName()+"; waiting for the cache to see it"), nil
}

// hasLabels reports whether have holds every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func kindName(t string) string {
	switch t {
	case "*v1.Deployment":
		return "Deployment"
	case "*v1.Service":
		return "Service"
	case "*v1.ConfigMap":
		return "ConfigMap"
	case "*v1.Secret":
		return "Secret"
	case "*v1.ServiceAccount":
		return "ServiceAccount"
	case "*v1.PodDisruptionBudget":
		return "PodDisruptionBudget"
	case "*v1.NetworkPolicy":
		return "NetworkPolicy"
	case "*v1.Ingress":
		return "Ingress"
	}
	return t
}

func (r *SchedulerInstanceReconciler) ensureServiceAccount(ctx context.Context, si *rschedv1.SchedulerInstance) error {
	want := builders.ServiceAccount(si)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	return r.converge(ctx, si, sa, want.Labels, func() error {
		sa.AutomountServiceAccountToken = want.AutomountServiceAccountToken
		return nil
	})
}

// ensureConfigMap converges the server's configuration and returns its hash (the pods roll when
// it changes).
func (r *SchedulerInstanceReconciler) ensureConfigMap(ctx context.Context, si *rschedv1.SchedulerInstance) (string, error) {
	want, hash, err := builders.ConfigMap(si)
	if err != nil {
		// Admission checks shapes only (a well-formed time zone may still be missing from the
		// time-zone database). Stop here: nothing after this step may run on a configuration
		// the server would refuse, not even on the last good Secrets.
		return "", outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonInvalidConfig,
			"the server would refuse the configuration rendered from the spec: "+err.Error(), retryLong).Halting()
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	return hash, r.converge(ctx, si, cm, want.Labels, func() error {
		cm.Data = want.Data
		cm.BinaryData = nil
		return nil
	})
}

// podInputs are what the pod template is built from besides the spec, produced by earlier steps:
// a change of any of them rolls the pods.
type podInputs struct {
	image string
	// configHash is the hash of the rendered configuration.
	configHash string
	// databaseRevision is the database Secret's revision counter (the pods read the URL at start).
	databaseRevision string
	// keyRollout is the keyring version a KeyRotationPolicy with rollout RollingRestart asks the
	// pods to be restarted for: set once per rotation, so an operator restart changes nothing.
	keyRollout string
}

// ensureDeployment converges the server's Deployment and returns it as stored.
func (r *SchedulerInstanceReconciler) ensureDeployment(ctx context.Context, si *rschedv1.SchedulerInstance, in podInputs) (*appsv1.Deployment, error) {
	if in.image == "" {
		return nil, outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonImageNotSet, "No image: set spec.image or start the operator with --scheduler-image", retryLong)
	}
	want := builders.Deployment(si, in.image, in.configHash)
	if in.databaseRevision != "" {
		want.Spec.Template.Annotations[builders.DatabaseRevisionAnnotation] = in.databaseRevision
	}
	if in.keyRollout != "" {
		want.Spec.Template.Annotations[rschedv1.KeyVersionAnnotation] = in.keyRollout
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	err := r.converge(ctx, si, dep, want.Labels, func() error {
		if dep.CreationTimestamp.IsZero() {
			dep.Spec.Selector = want.Spec.Selector // immutable after creation
		}
		dep.Spec.Replicas = want.Spec.Replicas
		dep.Spec.Strategy = want.Spec.Strategy
		dep.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
		dep.Spec.ProgressDeadlineSeconds = want.Spec.ProgressDeadlineSeconds
		dep.Spec.MinReadySeconds = want.Spec.MinReadySeconds
		dep.Spec.Template = want.Spec.Template
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dep, nil
}

func (r *SchedulerInstanceReconciler) ensureService(ctx context.Context, si *rschedv1.SchedulerInstance) error {
	want := builders.Service(si)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	return r.converge(ctx, si, svc, want.Labels, func() error {
		svc.Spec.Type = want.Spec.Type
		svc.Spec.Selector = want.Spec.Selector
		// Keep what the API server assigned (nodePort) when the port itself is unchanged.
		ports := make([]corev1.ServicePort, len(want.Spec.Ports))
		copy(ports, want.Spec.Ports)
		for i := range ports {
			for _, have := range svc.Spec.Ports {
				if have.Name == ports[i].Name && ports[i].NodePort == 0 && want.Spec.Type != corev1.ServiceTypeClusterIP {
					ports[i].NodePort = have.NodePort
				}
			}
		}
		svc.Spec.Ports = ports
		applyAnnotations(svc, si.Spec.Service.Annotations)
		return nil
	})
}

// ensureIngress converges the Ingress of spec.ingress, or removes the instance's when unset.
func (r *SchedulerInstanceReconciler) ensureIngress(ctx context.Context, si *rschedv1.SchedulerInstance) error {
	want := builders.Ingress(si)
	if want == nil {
		return r.deleteOwned(ctx, si, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: builders.IngressName(si), Namespace: si.Namespace}})
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	return r.converge(ctx, si, ing, want.Labels, func() error {
		ing.Spec = want.Spec
		applyAnnotations(ing, want.Annotations)
		return nil
	})
}

// managedAnnotations lists, on an object, the annotation keys the operator set from the spec, so
// that a key removed from the spec is removed from the object while annotations others set (a
// cloud controller's, an ingress controller's) are left alone.
const managedAnnotations = "scheduling.rsched.io/managed-annotations"

// applyAnnotations makes want the annotations the operator manages on obj.
func applyAnnotations(obj metav1.Object, want map[string]string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for _, k := range strings.Split(a[managedAnnotations], ",") {
		if _, keep := want[k]; k != "" && !keep {
			delete(a, k)
		}
	}
	keys := slices.Sorted(maps.Keys(want))
	for _, k := range keys {
		a[k] = want[k]
	}
	if len(keys) > 0 {
		a[managedAnnotations] = strings.Join(keys, ",")
	} else {
		delete(a, managedAnnotations)
	}
	if len(a) == 0 {
		a = nil
	}
	obj.SetAnnotations(a)
}

func (r *SchedulerInstanceReconciler) ensurePodDisruptionBudget(ctx context.Context, si *rschedv1.SchedulerInstance) error {
	want := builders.PodDisruptionBudget(si)
	if want == nil {
		return r.deleteOwned(ctx, si, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: builders.PDBName(si), Namespace: si.Namespace}})
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: si.Namespace}}
	return r.converge(ctx, si, pdb, want.Labels, func() error {
		pdb.Spec.Selector = want.Spec.Selector
		pdb.Spec.MaxUnavailable = want.Spec.MaxUnavailable
		pdb.Spec.MinAvailable = want.Spec.MinAvailable
		pdb.Spec.UnhealthyPodEvictionPolicy = want.Spec.UnhealthyPodEvictionPolicy
		return nil
	})
}

// ensureNetworkPolicies converges the instance's NetworkPolicies and returns how many apply.
func (r *SchedulerInstanceReconciler) ensureNetworkPolicies(ctx context.Context, si *rschedv1.SchedulerInstance) (int, error) {
	want := builders.NetworkPolicies(si, r.Options.OperatorNamespace)
	keep := map[string]bool{}
	for _, w := range want {
		keep[w.Name] = true
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: si.Namespace}}
		if err := r.converge(ctx, si, np, w.Labels, func() error {
			np.Spec = w.Spec
			return nil
		}); err != nil {
			return 0, err
		}
	}
	// Remove the instance's policies that are no longer wanted (policy switched to Disabled).
	var list networkingv1.NetworkPolicyList
	if err := r.Client.List(ctx, &list, client.InNamespace(si.Namespace), client.MatchingLabels(builders.SelectorLabels(si))); err != nil {
		return 0, fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	for i := range list.Items {
		np := &list.Items[i]
		if !keep[np.Name] && metav1.IsControlledBy(np, si) {
			if err := r.deleteOwned(ctx, si, np); err != nil {
				return 0, err
			}
		}
	}
	return len(want), nil
}

// deleteOwned deletes obj if it exists and this instance controls it.
func (r *SchedulerInstanceReconciler) deleteOwned(ctx context.Context, si *rschedv1.SchedulerInstance, obj client.Object) error {
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, si) {
		return nil
	}
	if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", obj.GetName(), err)
	}
	r.event(si, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted %s %s, no longer wanted by the spec", kindName(fmt.Sprintf("%T", obj)), obj.GetName())
	return nil
}

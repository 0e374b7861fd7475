package controllers

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
)

// Events of the ClusterTrustBundle publisher (with --cluster-trust-bundles), on the instance.
// They live here rather than in api/v1alpha1 because they belong to an opt-in of the manager,
// not to the API.
const (
	EventClusterTrustBundlePublished   = "ClusterTrustBundlePublished"
	EventClusterTrustBundleRefused     = "ClusterTrustBundleRefused"
	EventClusterTrustBundleUnavailable = "ClusterTrustBundleUnavailable"
)

// clusterTrustBundleVersions are the versions of certificates.k8s.io that serve
// ClusterTrustBundles with the same fields, the preferred first. v1 is served by default from
// Kubernetes 1.37; v1beta1 (1.33–1.36) only with --runtime-config=certificates.k8s.io/v1beta1=true.
// v1alpha1 (1.27–1.32) is not used.
var clusterTrustBundleVersions = []string{"v1", "v1beta1"}

// clusterTrustBundleVerbs are what the publisher does with ClusterTrustBundles. There is no
// +kubebuilder:rbac marker for them on purpose: a cluster-scoped write is a privilege a platform
// team opts into, so config/rbac/role.yaml (the kustomize install) does not grant it, and the
// chart grants it only with clusterTrustBundles.enabled (templates/cluster-trust-bundles-rbac.yaml).
var clusterTrustBundleVerbs = []string{"get", "list", "watch", "create", "update", "delete"}

// conflictRecheck is how often a bundle name taken by an object that is not the instance's is
// looked at again (that object is outside the publisher's cache, so its removal brings no event).
const conflictRecheck = 5 * time.Minute

// ClusterTrustBundleReconciler publishes each instance's trust bundle (the ConfigMap
// <instance>-ca, key ca.crt) as a ClusterTrustBundle rsched.<namespace>.<instance>, without a
// signerName, so that pods anywhere can mount it with a clusterTrustBundle projected volume. The
// bundle has no owner reference (a cluster-scoped object cannot name a namespaced owner) and the
// instance no finalizer (one would block namespace deletion once the operator is gone): a bundle
// whose instance or ConfigMap is gone is deleted when that is seen, and the informer's first list
// brings every labelled bundle here at start, which sweeps those left while the operator was away.
type ClusterTrustBundleReconciler struct {
	// Client writes bundles and reads instances and ConfigMaps (the manager's cache).
	Client client.Client
	// Bundles reads the ClusterTrustBundles that carry the operator's label (a cache of their own).
	Bundles  client.Reader
	Recorder events.EventRecorder
	// GVK is the served ClusterTrustBundle kind (certificates.k8s.io/v1 or v1beta1).
	GVK schema.GroupVersionKind
}

// bundleInputs is what one reconcile reads.
type bundleInputs struct {
	key      types.NamespacedName
	instance *rschedv1.SchedulerInstance // nil: gone
	caMap    *corev1.ConfigMap           // nil: gone
	existing *unstructured.Unstructured  // nil: none under the name
}

type bundleAction string

const (
	bundleNothing bundleAction = "Nothing"
	bundleCreate  bundleAction = "Create"
	bundleUpdate  bundleAction = "Update"
	bundleDelete  bundleAction = "Delete"
	// bundleLeave: the name is taken by an object that is not the instance's, never touched.
	bundleLeave bundleAction = "Leave"
)

// bundleDecision is what to do, and the bundle's content when it is written.
type bundleDecision struct {
	action      bundleAction
	trustBundle string
	// problem says why the instance has no bundle although it has a trust bundle (a Warning event).
	problem string
}

// Reconcile: gather, decide, act, report.
func (r *ClusterTrustBundleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	in, err := r.gather(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := decideClusterTrustBundle(in)
	if err := r.act(ctx, in, &d); err != nil {
		return ctrl.Result{}, err
	}
	r.report(in, d)
	if d.action == bundleLeave {
		return ctrl.Result{RequeueAfter: conflictRecheck}, nil
	}
	return ctrl.Result{}, nil
}

func (r *ClusterTrustBundleReconciler) gather(ctx context.Context, key types.NamespacedName) (bundleInputs, error) {
	in := bundleInputs{key: key}
	ref := instanceRef(key)
	si := &rschedv1.SchedulerInstance{}
	if err := r.Client.Get(ctx, key, si); err == nil {
		in.instance = si
	} else if !apierrors.IsNotFound(err) {
		return in, fmt.Errorf("reading SchedulerInstance %s: %w", key, err)
	}
	cm := &corev1.ConfigMap{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: builders.CABundleName(ref)}, cm); err == nil {
		in.caMap = cm
	} else if !apierrors.IsNotFound(err) {
		return in, fmt.Errorf("reading ConfigMap %s: %w", builders.CABundleName(ref), err)
	}
	b := r.newBundle()
	if err := r.Bundles.Get(ctx, client.ObjectKey{Name: builders.ClusterTrustBundleName(ref)}, b); err == nil {
		in.existing = b
	} else if !apierrors.IsNotFound(err) {
		return in, fmt.Errorf("reading ClusterTrustBundle %s: %w", builders.ClusterTrustBundleName(ref), err)
	}
	return in, nil
}

// instanceRef stands for the instance named by key, which may be gone: names and labels derive
// from the namespace and name alone.
func instanceRef(key types.NamespacedName) *rschedv1.SchedulerInstance {
	return &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
}

func (r *ClusterTrustBundleReconciler) newBundle() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.GVK)
	return u
}

// decideClusterTrustBundle is the bundle an instance should have against the one it has: the
// ConfigMap's certificates while the instance and the ConfigMap it controls exist, none otherwise.
// A bundle under the name that is not the instance's is never written or deleted.
func decideClusterTrustBundle(in bundleInputs) bundleDecision {
	ref := instanceRef(in.key)
	if in.existing != nil && !ownBundle(in.existing, in.key) {
		return nameTaken(in)
	}
	want, problem := desiredTrustBundle(in.instance, in.caMap)
	switch {
	case want == "" && in.existing == nil:
		return bundleDecision{action: bundleNothing, problem: problem}
	case want == "":
		return bundleDecision{action: bundleDelete, problem: problem}
	case in.existing == nil:
		return bundleDecision{action: bundleCreate, trustBundle: want}
	}
	have, _, _ := unstructured.NestedString(in.existing.Object, "spec", "trustBundle")
	if have != want || !hasLabels(in.existing.GetLabels(), builders.ClusterTrustBundleLabels(ref)) {
		return bundleDecision{action: bundleUpdate, trustBundle: want}
	}
	return bundleDecision{action: bundleNothing}
}

// nameTaken: the bundle's name is another's; said to the instance while it wants a bundle.
func nameTaken(in bundleInputs) bundleDecision {
	d := bundleDecision{action: bundleLeave}
	if in.instance != nil && in.instance.DeletionTimestamp.IsZero() {
		ref := instanceRef(in.key)
		d.problem = fmt.Sprintf("ClusterTrustBundle %s exists and is not this instance's: it is left alone and the trust bundle is published in ConfigMap %s only",
			builders.ClusterTrustBundleName(ref), builders.CABundleName(ref))
	}
	return d
}

// ownBundle: b carries the labels of the instance key and no signer (the operator never sets one).
func ownBundle(b *unstructured.Unstructured, key types.NamespacedName) bool {
	owner, ok := builders.InstanceOfClusterTrustBundle(b.GetName(), b.GetLabels())
	signer, _, _ := unstructured.NestedString(b.Object, "spec", "signerName")
	return ok && owner == key && signer == ""
}

// desiredTrustBundle is the PEM the instance's bundle holds: the certificates of the ConfigMap's
// ca.crt in their order, re-encoded (a ClusterTrustBundle refuses PEM headers) and without
// duplicates (which it refuses too). "" means no bundle: the instance or its ConfigMap is gone
// (or being deleted), or ca.crt is empty; or ca.crt holds what a ClusterTrustBundle cannot, and
// problem says what (never the content).
func desiredTrustBundle(si *rschedv1.SchedulerInstance, cm *corev1.ConfigMap) (pem, problem string) {
	if si == nil || !si.DeletionTimestamp.IsZero() || cm == nil || !metav1.IsControlledBy(cm, si) {
		return "", ""
	}
	data := cm.Data[builders.CABundleKey]
	if data == "" {
		return "", ""
	}
	certs, err := pki.DecodeCertificates([]byte(data))
	if err != nil {
		return "", fmt.Sprintf("ConfigMap %s key %s holds something other than PEM certificates, which a ClusterTrustBundle cannot hold", cm.Name, builders.CABundleKey)
	}
	var unique []*x509.Certificate
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return "", fmt.Sprintf("ConfigMap %s key %s holds a certificate that is not a CA (basic constraints CA:TRUE), which a ClusterTrustBundle refuses", cm.Name, builders.CABundleKey)
		}
		if !slices.ContainsFunc(unique, func(u *x509.Certificate) bool { return bytes.Equal(u.Raw, c.Raw) }) {
			unique = append(unique, c)
		}
	}
	return string(pki.EncodeCertificates(unique...)), ""
}

// act writes the decision. Updates and deletes carry what was read (resourceVersion, UID), so a
// concurrent change makes them fail and the reconcile retries on fresh reads. A name taken
// between the read and the create (by an object outside the cache) turns into Leave.
func (r *ClusterTrustBundleReconciler) act(ctx context.Context, in bundleInputs, d *bundleDecision) error {
	ref := instanceRef(in.key)
	name := builders.ClusterTrustBundleName(ref)
	switch d.action {
	case bundleCreate:
		b := r.newBundle()
		b.SetName(name)
		b.SetLabels(builders.ClusterTrustBundleLabels(ref))
		if err := unstructured.SetNestedField(b.Object, d.trustBundle, "spec", "trustBundle"); err != nil {
			return err
		}
		err := r.Client.Create(ctx, b)
		if apierrors.IsAlreadyExists(err) {
			*d = nameTaken(in)
			return nil
		}
		return wrapBundleErr("creating", name, err)
	case bundleUpdate:
		b := in.existing.DeepCopy()
		l := b.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range builders.ClusterTrustBundleLabels(ref) {
			l[k] = v
		}
		b.SetLabels(l)
		if err := unstructured.SetNestedField(b.Object, d.trustBundle, "spec", "trustBundle"); err != nil {
			return err
		}
		return wrapBundleErr("updating", name, r.Client.Update(ctx, b))
	case bundleDelete:
		uid, rv := in.existing.GetUID(), in.existing.GetResourceVersion()
		err := r.Client.Delete(ctx, in.existing, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		return wrapBundleErr("deleting", name, client.IgnoreNotFound(err))
	}
	return nil
}

func wrapBundleErr(verb, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s ClusterTrustBundle %s: %w", verb, name, err)
}

// report tells the instance what was published, or why nothing could be.
func (r *ClusterTrustBundleReconciler) report(in bundleInputs, d bundleDecision) {
	if in.instance == nil || r.Recorder == nil {
		return
	}
	name := builders.ClusterTrustBundleName(in.instance)
	switch {
	case d.problem != "":
		r.Recorder.Eventf(in.instance, nil, corev1.EventTypeWarning, EventClusterTrustBundleRefused, string(d.action), "%s", d.problem)
	case d.action == bundleCreate || d.action == bundleUpdate:
		r.Recorder.Eventf(in.instance, nil, corev1.EventTypeNormal, EventClusterTrustBundlePublished, string(d.action),
			"Published the trust bundle %s as ClusterTrustBundle %s", builders.CABundleName(in.instance), name)
	}
}

// setupClusterTrustBundles wires the publisher when the manager runs with --cluster-trust-bundles
// (enabled). It finds the served version once, at start; when the API server serves none, or
// the manager may not use them, it says so once in the log and once per instance in a Warning
// event, and the instances carry on with their ConfigMaps: nothing fails for it.
func setupClusterTrustBundles(ctx context.Context, mgr ctrl.Manager, enabled bool) error {
	if !enabled {
		return nil
	}
	log := mgr.GetLogger().WithName("clustertrustbundles")
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return err
	}
	gvk, why, err := clusterTrustBundleSupport(ctx, dc, mgr.GetClient())
	if err != nil {
		return err
	}
	if why != "" {
		log.Info("--cluster-trust-bundles is on, but trust bundles are published in ConfigMaps only", "reason", why)
		return (&clusterTrustBundleUnavailable{Recorder: mgr.GetEventRecorder("rsched-operator"), Why: why}).SetupWithManager(mgr)
	}
	log.Info("publishing each instance's trust bundle as a ClusterTrustBundle", "apiVersion", gvk.GroupVersion().String())
	sel := labels.SelectorFromSet(labels.Set{builders.LabelManagedBy: builders.ManagedBy})
	bundles, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		// Only the operator's bundles: a cluster may hold large public CA bundles of others.
		DefaultLabelSelector: sel, DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return err
	}
	if err := mgr.Add(bundles); err != nil {
		return err
	}
	return (&ClusterTrustBundleReconciler{Client: mgr.GetClient(), Bundles: bundles,
		Recorder: mgr.GetEventRecorder("rsched-operator"), GVK: gvk}).SetupWithManager(mgr, bundles)
}

// clusterTrustBundleSupport is the served ClusterTrustBundle kind, or why the publisher cannot
// run (not served, or not permitted). An error is a discovery or review that did not answer.
func clusterTrustBundleSupport(ctx context.Context, dc discovery.DiscoveryInterface, c client.Client) (schema.GroupVersionKind, string, error) {
	gvk, served, err := servedClusterTrustBundleKind(dc)
	if err != nil || !served {
		return gvk, "the API server serves no ClusterTrustBundle API (certificates.k8s.io/v1 or v1beta1)", err
	}
	var denied []string
	for _, verb := range clusterTrustBundleVerbs {
		ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: gvk.Group, Resource: "clustertrustbundles", Verb: verb}}}
		if err := c.Create(ctx, ssar); err != nil {
			return gvk, "", fmt.Errorf("asking whether the manager may %s clustertrustbundles: %w", verb, err)
		}
		if !ssar.Status.Allowed {
			denied = append(denied, verb)
		}
	}
	if len(denied) > 0 {
		return gvk, fmt.Sprintf("the manager may not %v clustertrustbundles.certificates.k8s.io (the chart grants it with clusterTrustBundles.enabled=true)", denied), nil
	}
	return gvk, "", nil
}

// servedClusterTrustBundleKind asks discovery for the first version in
// clusterTrustBundleVersions that serves clustertrustbundles.
func servedClusterTrustBundleKind(dc discovery.DiscoveryInterface) (schema.GroupVersionKind, bool, error) {
	for _, v := range clusterTrustBundleVersions {
		gv := schema.GroupVersion{Group: "certificates.k8s.io", Version: v}
		list, err := dc.ServerResourcesForGroupVersion(gv.String())
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return schema.GroupVersionKind{}, false, fmt.Errorf("discovering %s: %w", gv, err)
		}
		for _, res := range list.APIResources {
			if res.Name == "clustertrustbundles" {
				return gv.WithKind("ClusterTrustBundle"), true, nil
			}
		}
	}
	return schema.GroupVersionKind{}, false, nil
}

// SetupWithManager: an instance is reconciled when it is created or deleted, when its bundle
// ConfigMap changes, and when a bundle with its labels changes (or is listed at start).
func (r *ClusterTrustBundleReconciler) SetupWithManager(mgr ctrl.Manager, bundles cache.Cache) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&rschedv1.SchedulerInstance{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(instanceOfBundleConfigMap)).
		WatchesRawSource(source.Kind(bundles, client.Object(r.newBundle()), handler.EnqueueRequestsFromMapFunc(instanceOfClusterTrustBundle))).
		Named("clustertrustbundle").
		Complete(r)
}

// instanceOfBundleConfigMap maps the ConfigMap <instance>-ca (with the instance's labels) to its
// instance; the instance's other ConfigMaps are of no concern here.
func instanceOfBundleConfigMap(ctx context.Context, obj client.Object) []reconcile.Request {
	reqs := instanceOfLabelledSecret(ctx, obj)
	if len(reqs) == 1 && obj.GetName() != builders.CABundleName(instanceRef(reqs[0].NamespacedName)) {
		return nil
	}
	return reqs
}

func instanceOfClusterTrustBundle(_ context.Context, obj client.Object) []reconcile.Request {
	key, ok := builders.InstanceOfClusterTrustBundle(obj.GetName(), obj.GetLabels())
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// clusterTrustBundleUnavailable tells each instance, once per start of the manager, that its
// trust bundle is not published as a ClusterTrustBundle and why: a Warning event rather than a
// condition, which the SchedulerInstance reconciler owns.
type clusterTrustBundleUnavailable struct {
	Recorder events.EventRecorder
	Why      string
	Reader   client.Reader
}

func (r *clusterTrustBundleUnavailable) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	si := &rschedv1.SchedulerInstance{}
	if err := r.Reader.Get(ctx, req.NamespacedName, si); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(si, nil, corev1.EventTypeWarning, EventClusterTrustBundleUnavailable, "Publish",
		"The trust bundle is published in ConfigMap %s only, not as a ClusterTrustBundle: %s", builders.CABundleName(si), r.Why)
	return ctrl.Result{}, nil
}

// SetupWithManager: create events only, which the informer's first list delivers once per
// instance at start (and once for each new instance).
func (r *clusterTrustBundleUnavailable) SetupWithManager(mgr ctrl.Manager) error {
	r.Reader = mgr.GetClient()
	createOnly := predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rschedv1.SchedulerInstance{}, builder.WithPredicates(createOnly)).
		Named("clustertrustbundle-unavailable").
		Complete(r)
}

package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlcfg "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

// testCAs are CA certificates for bundles, and a leaf that is not a CA.
func testCAs(t *testing.T) (a, b, leaf []byte) {
	t.Helper()
	now := time.Now()
	ca1, err := pki.NewCA("ctb test CA 1", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := pki.NewCA("ctb test CA 2", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := pki.NewLeaf(ca1, []string{"x.example.org"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pki.EncodeCertificates(ca1.Cert), pki.EncodeCertificates(ca2.Cert), pki.EncodeCertificates(l.Cert)
}

// The decision is a pure function of the instance, its ConfigMap and the bundle under its name.
func TestDecideClusterTrustBundle(t *testing.T) {
	caA, caB, leaf := testCAs(t)
	key := types.NamespacedName{Namespace: "team", Name: "sched"}
	si := instance(key.Namespace, key.Name, nil)
	si.UID = "uid-1"
	deleting := si.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	cm := func(owner *rschedv1.SchedulerInstance, data string) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sched-ca", Namespace: "team"}, Data: map[string]string{"ca.crt": data}}
		if owner != nil {
			c.OwnerReferences = []metav1.OwnerReference{{APIVersion: rschedv1.GroupVersion.String(), Kind: "SchedulerInstance", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}
		}
		return c
	}
	bundle := func(lbls map[string]string, pem, signer string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"trustBundle": pem}}}
		if signer != "" {
			_ = unstructured.SetNestedField(u.Object, signer, "spec", "signerName")
		}
		u.SetName("rsched.team.sched")
		u.SetLabels(lbls)
		return u
	}
	ours := builders.ClusterTrustBundleLabels(si)
	withExtra := builders.ClusterTrustBundleLabels(si)
	withExtra["example.org/team"] = "platform"
	both := string(caA) + string(caB)
	for name, tt := range map[string]struct {
		in          bundleInputs
		want        bundleAction
		wantPEM     string
		wantProblem string
	}{
		"new instance":                    {bundleInputs{key, si, cm(si, string(caA)), nil}, bundleCreate, string(caA), ""},
		"the same":                        {bundleInputs{key, si, cm(si, string(caA)), bundle(ours, string(caA), "")}, bundleNothing, "", ""},
		"labels others added stay":        {bundleInputs{key, si, cm(si, string(caA)), bundle(withExtra, string(caA), "")}, bundleNothing, "", ""},
		"both CAs during a replacement":   {bundleInputs{key, si, cm(si, both), bundle(ours, string(caA), "")}, bundleUpdate, both, ""},
		"a label removed":                 {bundleInputs{key, si, cm(si, string(caA)), bundle(map[string]string{builders.LabelManagedBy: "rsched", builders.LabelName: builders.AppName, builders.LabelInstance: "sched", builders.LabelInstanceNamespace: "team"}, string(caA), "")}, bundleUpdate, string(caA), ""},
		"duplicates dropped":              {bundleInputs{key, si, cm(si, string(caA)+"\n"+string(caA)), nil}, bundleCreate, string(caA), ""},
		"instance gone":                   {bundleInputs{key, nil, cm(si, string(caA)), bundle(ours, string(caA), "")}, bundleDelete, "", ""},
		"instance being deleted":          {bundleInputs{key, deleting, cm(si, string(caA)), bundle(ours, string(caA), "")}, bundleDelete, "", ""},
		"ConfigMap gone":                  {bundleInputs{key, si, nil, bundle(ours, string(caA), "")}, bundleDelete, "", ""},
		"ConfigMap not the instance's":    {bundleInputs{key, si, cm(nil, string(caA)), bundle(ours, string(caA), "")}, bundleDelete, "", ""},
		"ca.crt emptied":                  {bundleInputs{key, si, cm(si, ""), bundle(ours, string(caA), "")}, bundleDelete, "", ""},
		"nothing to publish, none there":  {bundleInputs{key, si, nil, nil}, bundleNothing, "", ""},
		"a certificate that is no CA":     {bundleInputs{key, si, cm(si, string(caA)+string(leaf)), bundle(ours, string(caA), "")}, bundleDelete, "", "holds a certificate that is not a CA"},
		"not PEM":                         {bundleInputs{key, si, cm(si, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil}, bundleNothing, "", "holds something other than PEM certificates"},
		"someone else's under the name":   {bundleInputs{key, si, cm(si, string(caA)), bundle(map[string]string{"owner": "them"}, string(caB), "")}, bundleLeave, "", "is not this instance's"},
		"another instance's labels":       {bundleInputs{key, si, cm(si, string(caA)), bundle(map[string]string{builders.LabelManagedBy: "rsched", builders.LabelName: builders.AppName, builders.LabelInstance: "other", builders.LabelInstanceNamespace: "team"}, string(caB), "")}, bundleLeave, "", "is not this instance's"},
		"ours by label but with a signer": {bundleInputs{key, si, cm(si, string(caA)), bundle(ours, string(caA), "example.org/signer")}, bundleLeave, "", "is not this instance's"},
		"someone else's, instance gone":   {bundleInputs{key, nil, nil, bundle(map[string]string{"owner": "them"}, string(caB), "")}, bundleLeave, "", ""},
	} {
		d := decideClusterTrustBundle(tt.in)
		if d.action != tt.want || d.trustBundle != tt.wantPEM || (tt.wantProblem == "") != (d.problem == "") || !strings.Contains(d.problem, tt.wantProblem) {
			t.Errorf("%s: %s %q problem %q, want %s %q problem containing %q", name, d.action, d.trustBundle, d.problem, tt.want, tt.wantPEM, tt.wantProblem)
		}
		if strings.Contains(d.problem, "BEGIN") {
			t.Errorf("%s: the problem quotes the data: %q", name, d.problem)
		}
	}
}

// bundleOperator is a manager against k with the SchedulerInstance reconciler and, through the
// wiring --cluster-trust-bundles uses, the ClusterTrustBundle publisher when enabled.
type bundleOperator struct {
	logs   *syncBuffer
	writes *writes
	stop   func()
}

func startBundleOperator(t *testing.T, k *testenv.Kube, enabled bool) *bundleOperator {
	t.Helper()
	ours, err := labels.Parse(builders.LabelManagedBy + "=" + builders.ManagedBy)
	if err != nil {
		t.Fatal(err)
	}
	op := &bundleOperator{logs: &syncBuffer{}, writes: &writes{}}
	mgr, err := ctrl.NewManager(k.Config, ctrl.Options{
		// Every write of the manager's client is counted, the publisher's included.
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, op.writes.funcs()), nil
		},
		Scheme:     k.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     zap.New(zap.WriteTo(op.logs), zap.UseDevMode(false)),
		Controller: ctrlcfg.Controller{SkipNameValidation: &skipNameValidation},
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: ours}, &corev1.ConfigMap{}: {Label: ours}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &SchedulerInstanceReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("rsched-operator"),
		Vault:    vault.NewFactory(TokenSource(mgr.GetClient()), nil),
		Clock:    clock.RealClock{},
		Options:  Options{SchedulerImage: testImage, OperatorNamespace: "rsched-system"},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	op.stop = runManager(t, mgr, func(ctx context.Context) error { return setupClusterTrustBundles(ctx, mgr, enabled) })
	return op
}

// caBundleOf is the instance's ConfigMap ca.crt ("" while there is none).
func caBundleOf(t *testing.T, c client.Client, si *rschedv1.SchedulerInstance) string {
	t.Helper()
	var cm corev1.ConfigMap
	err := c.Get(context.Background(), types.NamespacedName{Namespace: si.Namespace, Name: builders.CABundleName(si)}, &cm)
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[builders.CABundleKey]
}

// waitBundleFollows waits until the instance's v1 ClusterTrustBundle holds exactly the
// ConfigMap's ca.crt with n certificates, and returns it.
func waitBundleFollows(t *testing.T, si *rschedv1.SchedulerInstance, n int, within time.Duration) *certificatesv1.ClusterTrustBundle {
	t.Helper()
	ctb := &certificatesv1.ClusterTrustBundle{}
	testenv.Eventually(t, within, "ClusterTrustBundle with the ConfigMap's "+string(rune('0'+n))+" CA(s)", func() (bool, string) {
		if err := kube.Client.Get(context.Background(), client.ObjectKey{Name: builders.ClusterTrustBundleName(si)}, ctb); err != nil {
			return false, err.Error()
		}
		want := caBundleOf(t, kube.Client, si)
		certs, err := pki.DecodeCertificates([]byte(ctb.Spec.TrustBundle))
		if err != nil {
			return false, err.Error()
		}
		return ctb.Spec.TrustBundle == want && len(certs) == n, "bundle differs from the ConfigMap or holds another count"
	})
	return ctb
}

// The ClusterTrustBundle follows the instance's trust bundle on an API server that serves
// certificates.k8s.io/v1 (the default of Kubernetes 1.37): it appears with the instance's CA,
// holds both CAs during a CA key replacement and then only the new one, makes no write in a
// steady state, and goes with the instance; a labelled bundle whose instance is gone is swept at
// start, and a bundle of someone else's under an instance's name is left alone and reported.
func TestClusterTrustBundleFollowsTheInstanceCA(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	caA, _, _ := testCAs(t)
	stale := &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: "rsched." + ns + ".gone", Labels: builders.ClusterTrustBundleLabels(instance(ns, "gone", nil))},
		Spec:       certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(caA)}}
	theirs := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "rsched." + ns + ".taken", Labels: map[string]string{"owner": "them"}},
		Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(caA)}}
	create(t, stale)
	create(t, theirs)

	op := startBundleOperator(t, kube, true)
	testenv.Eventually(t, 30*time.Second, "the stale bundle swept", func() (bool, string) {
		err := kube.Client.Get(ctx, client.ObjectKey{Name: stale.Name}, &certificatesv1.ClusterTrustBundle{})
		return apierrors.IsNotFound(err), "still there"
	})

	userSecret(t, ns, "trust-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "trust", func(si *rschedv1.SchedulerInstance) {
		si.Spec.TLS.TrustPropagation, si.Spec.TLS.Overlap = "10s", "10s"
	})
	create(t, si)
	first := waitBundleFollows(t, si, 1, 30*time.Second)
	if first.Spec.SignerName != "" || !hasLabels(first.Labels, builders.ClusterTrustBundleLabels(si)) || len(first.OwnerReferences) != 0 {
		t.Fatalf("bundle signer %q labels %v owners %v", first.Spec.SignerName, first.Labels, first.OwnerReferences)
	}
	if !warnedAbout(t, kube.Client, ns, "trust", corev1.EventTypeNormal, EventClusterTrustBundlePublished) {
		t.Error("no ClusterTrustBundlePublished event")
	}

	// Steady state: reconciles brought by changes of the ConfigMap that leave ca.crt alone write
	// nothing to the bundle.
	before := int(op.writes.n.Load())
	for i := range 3 {
		cur := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: builders.CABundleName(si), Namespace: ns}}
		patch := []byte(`{"metadata":{"annotations":{"poke":"` + string(rune('a'+i)) + `"}}}`)
		if err := kube.Client.Patch(ctx, cur, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, w := range op.writes.since(before) {
		if strings.HasSuffix(w, " "+first.Name) {
			t.Fatalf("the bundle was written in a steady state: %v", op.writes.since(before))
		}
	}

	// A CA key replacement: both CAs while it propagates, then only the new one.
	cur := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "trust", Namespace: ns}}
	patch := []byte(`{"metadata":{"annotations":{"` + rschedv1.ReplaceCAAnnotation + `":"ctb-1"}}}`)
	if err := kube.Client.Patch(ctx, cur, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	during := waitBundleFollows(t, si, 2, 30*time.Second)
	if !strings.HasPrefix(during.Spec.TrustBundle, first.Spec.TrustBundle) {
		t.Fatal("the bundle during the replacement lacks the first CA")
	}
	after := waitBundleFollows(t, si, 1, 60*time.Second)
	if after.Spec.TrustBundle == first.Spec.TrustBundle || !strings.Contains(during.Spec.TrustBundle, after.Spec.TrustBundle) {
		t.Fatal("after the replacement the bundle does not hold the new CA alone")
	}

	// Someone else's bundle under an instance's name is reported and never touched.
	userSecret(t, ns, "taken-db-source", map[string]string{"url": dbURL})
	create(t, instance(ns, "taken", nil))
	testenv.Eventually(t, 30*time.Second, "ClusterTrustBundleRefused event", func() (bool, string) {
		return warnedAbout(t, kube.Client, ns, "taken", corev1.EventTypeWarning, EventClusterTrustBundleRefused), "none"
	})
	got := &certificatesv1.ClusterTrustBundle{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Name: theirs.Name}, got); err != nil || got.ResourceVersion != theirs.ResourceVersion {
		t.Fatalf("someone else's bundle was changed: %v", err)
	}

	// Deleting the instance deletes its bundle (envtest runs no garbage collector: the ConfigMap
	// stays, so this is the publisher's own doing).
	if err := kube.Client.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the bundle deleted with its instance", func() (bool, string) {
		err := kube.Client.Get(ctx, client.ObjectKey{Name: first.Name}, &certificatesv1.ClusterTrustBundle{})
		return apierrors.IsNotFound(err), "still there"
	})
}

// warnedAbout reports whether the namespace holds an event of type and reason about the object.
func warnedAbout(t *testing.T, c client.Client, ns, name, typ, reason string) bool {
	t.Helper()
	var evs eventsv1.EventList
	if err := c.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Type == typ && e.Reason == reason && e.Regarding.Name == name {
			return true
		}
	}
	return false
}

// With the flag off the publisher is not wired: an instance's trust bundle, once published in
// its ConfigMap, never appears as a ClusterTrustBundle.
func TestClusterTrustBundlesOffPublishNone(t *testing.T) {
	ns := namespace(t, nil)
	startBundleOperator(t, kube, false)
	userSecret(t, ns, "off-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "off", nil)
	create(t, si)
	testenv.Eventually(t, 30*time.Second, "the ConfigMap's trust bundle", func() (bool, string) {
		return caBundleOf(t, kube.Client, si) != "", "none yet"
	})
	// With the flag on, the bundle follows within a second of the ConfigMap (see above).
	time.Sleep(3 * time.Second)
	var list certificatesv1.ClusterTrustBundleList
	if err := kube.Client.List(context.Background(), &list, client.MatchingLabels{builders.LabelInstanceNamespace: ns}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("with --cluster-trust-bundles off, %d ClusterTrustBundles were created: %s", len(list.Items), list.Items[0].Name)
	}
}

// servedKind is what discovery finds on k, checked before a test relies on it.
func servedKind(t *testing.T, k *testenv.Kube) (string, bool) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvk, served, err := servedClusterTrustBundleKind(dc)
	if err != nil {
		t.Fatal(err)
	}
	return gvk.Version, served
}

// An API server that serves ClusterTrustBundles in certificates.k8s.io/v1beta1 only (1.33–1.36
// with the beta API enabled) gets the bundle in v1beta1.
func TestClusterTrustBundleFallsBackToV1beta1(t *testing.T) {
	k := testenv.StartKubeWith(t, "runtime-config=certificates.k8s.io/v1beta1=true,certificates.k8s.io/v1/clustertrustbundles=false")
	if v, served := servedKind(t, k); !served || v != "v1beta1" {
		t.Fatalf("the API server serves ClusterTrustBundles in %q (served %v), want v1beta1 only", v, served)
	}
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "beta"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b-db-source", Namespace: "beta"}, StringData: map[string]string{"url": dbURL}}); err != nil {
		t.Fatal(err)
	}
	startBundleOperator(t, k, true)
	si := instance("beta", "b", nil)
	if err := k.Client.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "a v1beta1 ClusterTrustBundle with the ConfigMap's CA", func() (bool, string) {
		ctb := &certificatesv1beta1.ClusterTrustBundle{}
		if err := k.Client.Get(ctx, client.ObjectKey{Name: builders.ClusterTrustBundleName(si)}, ctb); err != nil {
			return false, err.Error()
		}
		want := caBundleOf(t, k.Client, si)
		return want != "" && ctb.Spec.TrustBundle == want, "differs from the ConfigMap"
	})
}

// An API server that does not serve ClusterTrustBundles: with the flag on, the operator says so
// once in its log and in a Warning event per instance, and the instance still becomes Ready
// with its pods running.
func TestClusterTrustBundleNotServedLeavesInstancesReady(t *testing.T) {
	k := testenv.StartKubeWith(t, "runtime-config=certificates.k8s.io/v1/clustertrustbundles=false")
	if v, served := servedKind(t, k); served {
		t.Fatalf("the API server still serves ClusterTrustBundles (%s)", v)
	}
	testenv.StartWorkloads(t, k)
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "p-db-source", Namespace: "plain"}, StringData: map[string]string{"url": dbURL}}); err != nil {
		t.Fatal(err)
	}
	op := startBundleOperator(t, k, true)
	si := instance("plain", "p", func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr.To[int32](1) })
	if err := k.Client.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	got := &rschedv1.SchedulerInstance{}
	testenv.Eventually(t, 90*time.Second, "Ready=True", func() (bool, string) {
		if err := k.Client.Get(ctx, client.ObjectKeyFromObject(si), got); err != nil {
			return false, err.Error()
		}
		return conditionTrue(got, rschedv1.ConditionReady), statusSummary(got)
	})
	if !warnedAbout(t, k.Client, "plain", "p", corev1.EventTypeWarning, EventClusterTrustBundleUnavailable) {
		t.Error("no ClusterTrustBundleUnavailable event on the instance")
	}
	if n := strings.Count(op.logs.String(), "trust bundles are published in ConfigMaps only"); n != 1 {
		t.Errorf("the operator logged the missing API %d times, want once:\n%s", n, op.logs.String())
	}
	for _, line := range strings.Split(op.logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(strings.ToLower(line), "clustertrustbundle") {
			t.Errorf("the operator logged an error about ClusterTrustBundles: %s", line)
		}
	}
}

func statusSummary(si *rschedv1.SchedulerInstance) string {
	var b strings.Builder
	for _, c := range si.Status.Conditions {
		b.WriteString(c.Type + "=" + string(c.Status) + "/" + c.Reason + " ")
	}
	return b.String()
}

// A manager without the RBAC for ClusterTrustBundles (the kustomize install, or the chart with
// clusterTrustBundles.enabled=false, and the flag set by hand) is told why before it starts, and
// runs on without them; with the permission the served kind is found.
func TestClusterTrustBundleSupportNeedsThePermission(t *testing.T) {
	ctx := context.Background()
	dc, err := discovery.NewDiscoveryClientForConfig(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(kube.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "rsched-ctb-nobody"}
	nobody, err := client.New(cfg, client.Options{Scheme: kube.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	_, why, err := clusterTrustBundleSupport(ctx, dc, nobody)
	if err != nil || !strings.Contains(why, "may not [get list watch create update delete] clustertrustbundles") || !strings.Contains(why, "clusterTrustBundles.enabled=true") {
		t.Fatalf("without the permission: %q, %v", why, err)
	}
	gvk, why, err := clusterTrustBundleSupport(ctx, dc, kube.Client)
	if err != nil || why != "" || gvk.GroupVersion().String() != "certificates.k8s.io/v1" || gvk.Kind != "ClusterTrustBundle" {
		t.Fatalf("as a cluster administrator: %v %q %v", gvk, why, err)
	}
}

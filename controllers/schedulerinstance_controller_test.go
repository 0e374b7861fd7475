package controllers

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

const dbURL = "postgres://rsched:Db-Canary-7c1e93@db.example.org:5432/rsched?sslmode=verify-full"

func userSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	if err := kube.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// A spec that passes admission but renders a configuration the server would refuse (a time zone
// missing from the time-zone database) is Ready=False InvalidConfig, and nothing is deployed
// with it; fixing the spec deploys.
func TestInvalidConfigIsReportedAndNeverDeployed(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "tz-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "tz", func(si *rschedv1.SchedulerInstance) { si.Spec.Scheduling.TimeZone = "Mars/Olympus_Mons" })
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonInvalidConfig)
	if c := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady); !strings.Contains(c.Message, "scheduling.time_zone") {
		t.Fatalf("message %q", c.Message)
	}
	var dep appsv1.Deployment
	if err := get(t, ns, builders.DeploymentName(got), &dep); !apierrors.IsNotFound(err) {
		t.Fatalf("a Deployment exists for an invalid configuration: %v", err)
	}
	got.Spec.Scheduling.TimeZone = "America/Chicago"
	if err := kube.Client.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the Deployment", func() (bool, string) {
		err := get(t, ns, builders.DeploymentName(got), &dep)
		return err == nil, fmt.Sprint(err)
	})
	var cm corev1.ConfigMap
	if err := get(t, ns, builders.ConfigMapName(got), &cm); err != nil || !strings.Contains(cm.Data[builders.ConfigFile], "time_zone: America/Chicago") {
		t.Fatalf("config %v: %q", err, cm.Data[builders.ConfigFile])
	}
}

func instance(ns, name string, mutate func(*rschedv1.SchedulerInstance)) *rschedv1.SchedulerInstance {
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: rschedv1.SchedulerInstanceSpec{Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: name + "-db-source", Key: "url"}}}}
	if mutate != nil {
		mutate(si)
	}
	return si
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := kube.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return kube.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
}

// waitCondition waits until the instance's condition has status and reason.
func waitCondition(t *testing.T, si *rschedv1.SchedulerInstance, typ string, status metav1.ConditionStatus, reason string) *rschedv1.SchedulerInstance {
	t.Helper()
	return waitConditionWithin(t, si, typ, status, reason, 30*time.Second)
}

func waitConditionWithin(t *testing.T, si *rschedv1.SchedulerInstance, typ string, status metav1.ConditionStatus, reason string, within time.Duration) *rschedv1.SchedulerInstance {
	t.Helper()
	out := &rschedv1.SchedulerInstance{}
	testenv.Eventually(t, within, typ+"="+string(status)+"/"+reason, func() (bool, string) {
		if err := get(t, si.Namespace, si.Name, out); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(out.Status.Conditions, typ)
		if c == nil {
			return false, "no condition"
		}
		return c.Status == status && c.Reason == reason && c.ObservedGeneration == out.Generation, c.Reason + ": " + c.Message
	})
	return out
}

func TestInstanceConvergesToHardenedOwnedObjects(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "res-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "res", func(si *rschedv1.SchedulerInstance) {
		si.Spec.Replicas = ptr.To[int32](3)
		si.Spec.Network.IngressFrom = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress"}}}}
	})
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	if got.Status.Endpoint != "https://res."+ns+".svc:8080" || got.Status.KeyVersion != 1 {
		t.Fatalf("status %+v", got.Status)
	}

	var dep appsv1.Deployment
	testenv.Eventually(t, 20*time.Second, "deployment", func() (bool, string) {
		err := get(t, ns, "res", &dep)
		return err == nil, "missing"
	})
	if *dep.Spec.Replicas != 3 || dep.Spec.Template.Spec.Containers[0].Image != testImage ||
		dep.Spec.Template.Annotations[builders.ConfigHashAnnotation] == "" || !metav1.IsControlledBy(&dep, got) {
		t.Fatalf("deployment %+v", dep.Spec)
	}
	for name, obj := range map[string]client.Object{
		"res":                 &corev1.Service{},
		"res-config":          &corev1.ConfigMap{},
		"res-scheduler":       &corev1.ServiceAccount{},
		"res-database":        &corev1.Secret{},
		"res-keyring":         &corev1.Secret{},
		"res-tls":             &corev1.Secret{},
		"res-tls-ca":          &corev1.Secret{},
		"res-ca":              &corev1.ConfigMap{},
		"res-default-deny":    &networkingv1.NetworkPolicy{},
		"res-api":             &networkingv1.NetworkPolicy{},
		builders.PDBName(got): &policyv1.PodDisruptionBudget{},
	} {
		if err := get(t, ns, name, obj); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !metav1.IsControlledBy(obj, got) || obj.GetLabels()[builders.LabelManagedBy] != builders.ManagedBy {
			t.Errorf("%s: owner %v labels %v", name, obj.GetOwnerReferences(), obj.GetLabels())
		}
	}
	var db, kr corev1.Secret
	_ = get(t, ns, "res-database", &db)
	_ = get(t, ns, "res-keyring", &kr)
	if string(db.Data["url"]) != dbURL {
		t.Fatal("database URL not copied")
	}
	if k, err := keyring.Parse(kr.Data["keyring.json"]); err != nil || k.Version != 1 {
		t.Fatalf("keyring: %v", err)
	}
	checkServingCertificate(t, got)

	// The pod template is admitted under restricted Pod Security.
	restricted := namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: restricted}})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "from-template", Namespace: restricted, Labels: dep.Spec.Template.Labels}, Spec: dep.Spec.Template.Spec}
	if err := kube.Client.Create(context.Background(), pod); err != nil {
		t.Fatalf("the pod template is refused under restricted Pod Security: %v", err)
	}
}

func TestSteadyStateMakesZeroWrites(t *testing.T) {
	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "calm-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "calm", nil)
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	// Let it settle, then poke it: a metadata change triggers a reconcile that must write nothing.
	time.Sleep(2 * time.Second)
	before := int(op.writes.n.Load())
	statusBefore := statusJSON(t, ns, "calm")
	for i := range 3 {
		cur := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "calm", Namespace: ns}}
		patch := []byte(`{"metadata":{"annotations":{"poke":"` + string(rune('a'+i)) + `"}}}`)
		if err := kube.Client.Patch(context.Background(), cur, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	if w := op.writes.sinceIn(before, ns); len(w) != 0 {
		t.Fatalf("%d writes while reconciling an unchanged instance three times: %v\nbefore %s\nafter  %s", len(w), w, statusBefore, statusJSON(t, ns, "calm"))
	}
}

func TestDriftIsUndone(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "drift-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "drift", nil)
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	ctx := context.Background()
	var svc corev1.Service
	testenv.Eventually(t, 20*time.Second, "service", func() (bool, string) { return get(t, ns, "drift", &svc) == nil, "" })
	if err := kube.Client.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	_ = get(t, ns, "drift", &dep)
	dep.Spec.Replicas = ptr.To[int32](7)
	dep.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
	if err := kube.Client.Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	var db corev1.Secret
	_ = get(t, ns, "drift-database", &db)
	db.Data["url"] = []byte("postgres://attacker@evil.example/x?sslmode=verify-full")
	if err := kube.Client.Update(ctx, &db); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "drift undone", func() (bool, string) {
		var s corev1.Service
		var d appsv1.Deployment
		var sec corev1.Secret
		if get(t, ns, "drift", &s) != nil || get(t, ns, "drift", &d) != nil || get(t, ns, "drift-database", &sec) != nil {
			return false, "missing"
		}
		ok := *d.Spec.Replicas == 2 && *d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem
		return ok, "deployment not restored"
	})
	// The database Secret is re-copied from its source on the next sync; the drift was recorded.
	var evs eventsv1.EventList
	testenv.Eventually(t, 10*time.Second, "update events", func() (bool, string) {
		_ = kube.Client.List(ctx, &evs, client.InNamespace(ns))
		for _, e := range evs.Items {
			if e.Reason == "Updated" && strings.Contains(e.Note, "Deployment drift") {
				return true, ""
			}
		}
		return false, "no Updated event for the Deployment"
	})
}

func TestMissingSecretOrKeyIsReportedAndRecovers(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	si := instance(ns, "miss", nil)
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionFalse, rschedv1.ReasonSecretNotFound)
	c := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionSecretsSynced)
	if !strings.Contains(c.Message, `"miss-db-source"`) || !strings.Contains(c.Message, "spec.database.urlSecretRef") {
		t.Fatalf("message %q", c.Message)
	}
	userSecret(t, ns, "miss-db-source", map[string]string{"wrong": "x"})
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionFalse, rschedv1.ReasonSecretKeyMissing)
	var src corev1.Secret
	_ = get(t, ns, "miss-db-source", &src)
	src.StringData = map[string]string{"url": dbURL}
	if err := kube.Client.Update(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	var evs eventsv1.EventList
	_ = kube.Client.List(context.Background(), &evs, client.InNamespace(ns))
	warned := false
	for _, e := range evs.Items {
		warned = warned || (e.Type == corev1.EventTypeWarning && e.Reason == rschedv1.ReasonSecretNotFound)
	}
	if !warned {
		t.Fatal("no warning event for the missing Secret")
	}
}

func TestDeletingTheInstanceLeavesOthersAlone(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "gone-db-source", map[string]string{"url": dbURL})
	userSecret(t, ns, "unrelated", map[string]string{"k": "v"})
	si := instance(ns, "gone", nil)
	create(t, si)
	waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	if err := kube.Client.Delete(context.Background(), si); err != nil {
		t.Fatal(err)
	}
	// envtest runs no garbage collector: the owner references are what the cluster's collector
	// follows, so check that every owned object points at the instance with blockOwnerDeletion
	// and that nothing else (the user's Secrets) does.
	testenv.Eventually(t, 10*time.Second, "instance gone", func() (bool, string) {
		return apierrors.IsNotFound(get(t, ns, "gone", &rschedv1.SchedulerInstance{})), ""
	})
	var list corev1.SecretList
	_ = kube.Client.List(context.Background(), &list, client.InNamespace(ns))
	for _, s := range list.Items {
		owned := len(s.OwnerReferences) > 0
		if (s.Name == "unrelated" || s.Name == "gone-db-source") == owned {
			t.Errorf("Secret %s: owner references %v", s.Name, s.OwnerReferences)
		}
		for _, o := range s.OwnerReferences {
			if o.BlockOwnerDeletion == nil || !*o.BlockOwnerDeletion || o.Controller == nil || !*o.Controller {
				t.Errorf("Secret %s: owner reference %+v", s.Name, o)
			}
		}
	}
}

// statusJSON is the instance's status as text, for secret-leak checks.
func statusJSON(t *testing.T, ns, name string) string {
	var si rschedv1.SchedulerInstance
	if err := get(t, ns, name, &si); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(si.Status)
	return string(b)
}

// With a controller-manager, a scheduler and a kwok node the Deployment's pods run: the instance
// becomes Ready with readyReplicas = replicas, and deleting it lets the garbage collector remove
// everything it owns and nothing else.
func TestInstanceBecomesReadyWithRunningPodsAndIsCollected(t *testing.T) {
	testenv.StartWorkloads(t, kube)
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "live-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "live", func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr.To[int32](2) })
	create(t, si)
	got := waitConditionWithin(t, si, rschedv1.ConditionReady, metav1.ConditionTrue, rschedv1.ReasonAvailable, 90*time.Second)
	if got.Status.ReadyReplicas != 2 || got.Status.Replicas != 2 || got.Status.ReplicaSummary != "2/2" {
		t.Fatalf("status %+v", got.Status)
	}
	if v := testutil.ToFloat64(instanceReady.WithLabelValues(ns, "live")); v != 1 {
		t.Fatalf("rsched_instance_ready = %v, want 1", v)
	}
	if v := testutil.ToFloat64(secretSyncTime.WithLabelValues(ns, "live")); v < float64(got.CreationTimestamp.Unix()) {
		t.Fatalf("rsched_secret_sync_timestamp_seconds = %v", v)
	}
	if err := kube.Client.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "owned objects collected", func() (bool, string) {
		for name, obj := range map[string]client.Object{"live": &appsv1.Deployment{}, "live-config": &corev1.ConfigMap{}, "live-database": &corev1.Secret{}} {
			if err := get(t, ns, name, obj); !apierrors.IsNotFound(err) {
				return false, name + " still exists"
			}
		}
		return true, ""
	})
	if err := get(t, ns, "live-db-source", &corev1.Secret{}); err != nil {
		t.Fatalf("the user's Secret was deleted too: %v", err)
	}
}

// An object of the user's that happens to have one of our names is never taken over.
func TestAnUnownedObjectWithOurNameIsNotAdopted(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "clash-db-source", map[string]string{"url": dbURL})
	theirs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "clash", Namespace: ns, Labels: map[string]string{"owner": "someone"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 1234}}}}
	create(t, theirs)
	si := instance(ns, "clash", nil)
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonNameConflict)
	if c := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady); !strings.Contains(c.Message, `Service "clash"`) {
		t.Fatalf("message %q", c.Message)
	}
	var svc corev1.Service
	_ = get(t, ns, "clash", &svc)
	if len(svc.OwnerReferences) != 0 || svc.Spec.Ports[0].Port != 1234 {
		t.Fatalf("the user's Service was changed: %+v", svc)
	}
}

// checkServingCertificate: the serving certificate the pods mount verifies, for the endpoint's
// host, against the published bundle alone, and status.tls and CertificateReady describe it.
func checkServingCertificate(t *testing.T, si *rschedv1.SchedulerInstance) {
	t.Helper()
	got := waitCondition(t, si, rschedv1.ConditionCertificateReady, metav1.ConditionTrue, rschedv1.ReasonCertificateValid)
	var leafSec corev1.Secret
	var bundle corev1.ConfigMap
	if err := get(t, si.Namespace, si.Name+"-tls", &leafSec); err != nil {
		t.Fatal(err)
	}
	if err := get(t, si.Namespace, si.Name+"-ca", &bundle); err != nil {
		t.Fatal(err)
	}
	if leafSec.Type != corev1.SecretTypeTLS || strings.Contains(bundle.Data["ca.crt"], "PRIVATE") {
		t.Fatalf("leaf Secret type %s; bundle holds a key: %v", leafSec.Type, strings.Contains(bundle.Data["ca.crt"], "PRIVATE"))
	}
	leaf, err := pki.DecodeCertificates(leafSec.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(bundle.Data["ca.crt"]))
	u, _ := url.Parse(got.Status.Endpoint)
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: u.Hostname()}); err != nil {
		t.Fatalf("the serving certificate does not verify for %s against the bundle: %v", u.Hostname(), err)
	}
	s := got.Status.TLS
	if s == nil || s.Mode != rschedv1.TLSOperatorManaged || s.SecretName != si.Name+"-tls" || s.NotAfter == nil || !s.NotAfter.Time.Equal(leaf[0].NotAfter) ||
		s.RenewalTime == nil || s.CANotAfter == nil || s.SerialNumber == "" || s.CAReplacementPhase != "" {
		t.Fatalf("status.tls %+v", s)
	}
}

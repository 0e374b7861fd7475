package controllers

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// warned reports whether the namespace holds a Warning event with reason about the object name.
func warned(t *testing.T, ns, name, reason string) bool {
	t.Helper()
	var evs eventsv1.EventList
	if err := kube.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Type == corev1.EventTypeWarning && e.Reason == reason && e.Regarding.Name == name {
			return true
		}
	}
	return false
}

// A user's ConfigMap or Secret without our labels that bears one of the instance's names is
// invisible to the operator's cache (it holds only our labelled ones), so only the create finds
// the name taken. It is reported like any other name conflict: Ready=False NameConflict naming
// it, a Warning event, the object left alone, nothing deployed that would mount it, and the
// create retried after a wait rather than in a hot loop.
func TestAnUnlabelledConfigMapOrSecretWithOurNameIsANameConflict(t *testing.T) {
	ns := namespace(t, nil)
	op := startOperator(t)
	theirs := map[string]client.Object{
		"cmclash": &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cmclash-config", Namespace: ns, Labels: map[string]string{"owner": "someone"}},
			Data: map[string]string{"theirs": "yes"}},
		"secclash": &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secclash-database", Namespace: ns, Labels: map[string]string{"owner": "someone"}},
			Data: map[string][]byte{"theirs": []byte("yes")}},
	}
	kinds := map[string]string{"cmclash": `ConfigMap "cmclash-config"`, "secclash": `Secret "secclash-database"`}
	for name, obj := range theirs {
		create(t, obj)
		userSecret(t, ns, name+"-db-source", map[string]string{"url": dbURL})
		create(t, instance(ns, name, nil))
	}
	for name := range theirs {
		got := waitCondition(t, instance(ns, name, nil), rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonNameConflict)
		if c := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady); !strings.Contains(c.Message, kinds[name]) {
			t.Errorf("%s: message %q does not name %s", name, c.Message, kinds[name])
		}
		testenv.Eventually(t, 10*time.Second, name+": a Warning event", func() (bool, string) {
			return warned(t, ns, name, rschedv1.ReasonNameConflict), "no Warning NameConflict event"
		})
	}

	// No hot retry: within a few seconds, at most one more attempt at each create.
	start := len(op.writes.since(0))
	time.Sleep(6 * time.Second)
	creates := map[string]int{}
	for _, w := range op.writes.sinceIn(start, ns) {
		for name, obj := range theirs {
			if strings.HasPrefix(w, "create ") && strings.HasSuffix(w, " "+obj.GetName()) {
				creates[name]++
			}
		}
	}
	for name, n := range creates {
		if n > 1 {
			t.Errorf("%s: %d creates of %s in 6 s: retried in a hot loop", name, n, theirs[name].GetName())
		}
	}

	for name, obj := range theirs {
		fresh := obj.DeepCopyObject().(client.Object)
		if err := get(t, ns, obj.GetName(), fresh); err != nil {
			t.Fatal(err)
		}
		if len(fresh.GetOwnerReferences()) != 0 || len(fresh.GetLabels()) != 1 || fresh.GetLabels()["owner"] != "someone" {
			t.Errorf("%s: the user's object was taken over: %+v", name, fresh)
		}
		switch o := fresh.(type) {
		case *corev1.ConfigMap:
			if len(o.Data) != 1 || o.Data["theirs"] != "yes" {
				t.Errorf("the user's ConfigMap was changed: %v", o.Data)
			}
		case *corev1.Secret:
			if len(o.Data) != 1 || string(o.Data["theirs"]) != "yes" {
				t.Error("the user's Secret was changed")
			}
		}
		// The pods would mount it: nothing is deployed while the name is someone else's.
		if err := get(t, ns, name, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: a Deployment exists while its %s is someone else's: %v", name, kinds[name], err)
		}
	}
}

// An object of the instance's whose labels someone removed is out of the operator's
// label-selected cache: the create finds the name taken by an object the instance controls. The
// operator puts the labels back (metadata only) and carries on; it does not loop on
// ReconcileError, and the object's data is left as it was.
func TestOurObjectThatLostItsLabelsIsRelabelled(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "relabel-db-source", map[string]string{"url": dbURL})
	create(t, instance(ns, "relabel", nil))
	cm := &corev1.ConfigMap{}
	testenv.Eventually(t, 30*time.Second, "the instance's ConfigMap", func() (bool, string) {
		err := get(t, ns, "relabel-config", cm)
		return err == nil, "not yet created"
	})
	want := cm.DeepCopy()
	stripped := cm.DeepCopy()
	stripped.Labels = map[string]string{"someone": "tidied"}
	if err := kube.Client.Update(context.Background(), stripped); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the labels put back", func() (bool, string) {
		if err := get(t, ns, "relabel-config", cm); err != nil {
			return false, err.Error()
		}
		for k, v := range want.Labels {
			if cm.Labels[k] != v {
				return false, "labels " + strings.Join(mapKeys(cm.Labels), ",")
			}
		}
		return true, ""
	})
	if cm.Labels["someone"] != "tidied" || !maps.Equal(cm.Data, want.Data) || len(want.Data) == 0 || len(cm.OwnerReferences) != 1 {
		t.Errorf("relabelling changed more than the labels: %+v", cm)
	}
	var evs eventsv1.EventList
	if err := kube.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	relabelled := false
	for _, e := range evs.Items {
		relabelled = relabelled || e.Reason == "Relabelled" && e.Type == corev1.EventTypeNormal
	}
	if !relabelled {
		t.Error("no Normal Relabelled event")
	}
	// Once the cache sees it again, the instance does not report ReconcileError.
	testenv.Eventually(t, 20*time.Second, "Ready without ReconcileError", func() (bool, string) {
		si := instance(ns, "relabel", nil)
		if err := get(t, ns, "relabel", si); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionReady)
		if c == nil {
			return false, "no Ready yet"
		}
		return c.Reason != rschedv1.ReasonReconcileError, "Ready " + c.Reason + ": " + c.Message
	})
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A NetworkPolicy of someone else's under one of the instance's policy names means the
// instance's isolation cannot be applied as designed (that one may allow everything): like a
// ConfigMap or Secret conflict, it stops the reconcile before the Deployment, even once the
// database Secret is in place, so a pod never runs without its isolation.
func TestALookAlikeNetworkPolicyStopsTheDeployment(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "npclash-db-source", map[string]string{"url": dbURL})
	allowAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "npclash-api", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	create(t, allowAll)
	create(t, instance(ns, "npclash", nil))
	waitCondition(t, instance(ns, "npclash", nil), rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonNameConflict)
	// The database Secret is written in the same reconcile, so the last good Secrets are in
	// place: later reconciles must still not deploy.
	testenv.Eventually(t, 20*time.Second, "the database Secret", func() (bool, string) {
		err := get(t, ns, "npclash-database", &corev1.Secret{})
		return err == nil, fmt.Sprint(err)
	})
	time.Sleep(3 * time.Second)
	if err := get(t, ns, "npclash", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a Deployment exists while NetworkPolicy npclash-api is someone else's: %v", err)
	}
}

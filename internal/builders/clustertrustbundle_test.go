package builders

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// A bundle's name is rsched.<namespace>.<instance> (a namespace holds no dot, so no two instances
// share one) and a valid object name without a colon (which a bundle without a signerName must
// not have), even for the longest namespace and instance name.
func TestClusterTrustBundleNameIsValidAndUnique(t *testing.T) {
	if got := ClusterTrustBundleName(newInstance()); got != "rsched.sched.demo" {
		t.Errorf("ClusterTrustBundleName = %q, want rsched.sched.demo", got)
	}
	long := with(func(si *rschedv1.SchedulerInstance) {
		si.Namespace, si.Name = strings.Repeat("n", 63), strings.Repeat("i", 63)
	})
	name := ClusterTrustBundleName(long)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || strings.Contains(name, ":") || len(name) != 134 {
		t.Errorf("the longest name %q (%d characters): %v", name, len(name), errs)
	}
}

// The labels lead back to the instance; a bundle without all of them, or under a name the
// operator never gives, is not the operator's.
func TestInstanceOfClusterTrustBundle(t *testing.T) {
	si := newInstance()
	ours := ClusterTrustBundleLabels(si)
	if ours[LabelInstanceNamespace] != "sched" || ours[LabelInstance] != "demo" || ours[LabelManagedBy] != ManagedBy {
		t.Fatalf("ClusterTrustBundleLabels = %v", ours)
	}
	if _, ok := Labels(si)[LabelInstanceNamespace]; ok {
		t.Fatal("ClusterTrustBundleLabels changed the instance's own labels")
	}
	without := func(key string) map[string]string {
		l := ClusterTrustBundleLabels(si)
		delete(l, key)
		return l
	}
	changed := func(key, value string) map[string]string {
		l := ClusterTrustBundleLabels(si)
		l[key] = value
		return l
	}
	for name, tt := range map[string]struct {
		name   string
		labels map[string]string
		want   types.NamespacedName
		ok     bool
	}{
		"ours":                     {"rsched.sched.demo", ours, types.NamespacedName{Namespace: "sched", Name: "demo"}, true},
		"no labels":                {"rsched.sched.demo", nil, types.NamespacedName{}, false},
		"another manager":          {"rsched.sched.demo", changed(LabelManagedBy, "helm"), types.NamespacedName{}, false},
		"another app":              {"rsched.sched.demo", changed(LabelName, "other"), types.NamespacedName{}, false},
		"no instance namespace":    {"rsched.sched.demo", without(LabelInstanceNamespace), types.NamespacedName{}, false},
		"empty instance":           {"rsched.sched.demo", changed(LabelInstance, ""), types.NamespacedName{}, false},
		"a name we never give":     {"example.sched.demo", ours, types.NamespacedName{}, false},
		"labels name the instance": {"rsched.other.name", changed(LabelInstanceNamespace, "other"), types.NamespacedName{Namespace: "other", Name: "demo"}, true},
	} {
		got, ok := InstanceOfClusterTrustBundle(tt.name, tt.labels)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %v %v, want %v %v", name, got, ok, tt.want, tt.ok)
		}
	}
}

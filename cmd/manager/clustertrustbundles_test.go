package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// Publishing trust bundles as ClusterTrustBundles is an opt-in of the install: the chart renders
// neither the flag nor any rule on clustertrustbundles by default; clusterTrustBundles.enabled
// adds the flag and a ClusterRole with exactly that rule, and is refused in namespaced mode, as
// the binary refuses the flag with --watch-namespaces. With the chart's RBAC, the real manager,
// run with the Deployment's arguments as the chart's ServiceAccount, publishes an instance's
// trust bundle.
func TestChartClusterTrustBundlesAreOptIn(t *testing.T) {
	h := newHelm(t)
	def := decodeManifest(t, h.template(t))
	if kindNames(def)["ClusterRole/rsched-cluster-trust-bundles"] != nil {
		t.Error("the default render grants ClusterTrustBundles")
	}
	for _, o := range def {
		if (o.GetKind() == "ClusterRole" || o.GetKind() == "Role") && strings.Contains(fmtRules(o.Object["rules"]), "clustertrustbundles") {
			t.Errorf("the default render's %s %s has a rule on clustertrustbundles", o.GetKind(), o.GetName())
		}
	}
	if args := managerContainer(t, renderedDeployment(t, def)).Args; slices.Contains(args, "--cluster-trust-bundles=true") {
		t.Errorf("the default render passes --cluster-trust-bundles: %v", args)
	}

	on := h.template(t, "--set", "clusterTrustBundles.enabled=true")
	objs := kindNames(decodeManifest(t, on))
	cr, crb := objs["ClusterRole/rsched-cluster-trust-bundles"], objs["ClusterRoleBinding/rsched-cluster-trust-bundles"]
	if cr == nil || crb == nil {
		t.Fatal("clusterTrustBundles.enabled renders no ClusterRole and ClusterRoleBinding rsched-cluster-trust-bundles")
	}
	if want := clusterTrustBundleRules(); !reflect.DeepEqual(cr.Object["rules"], want) {
		t.Errorf("ClusterRole rules %v, want %v", cr.Object["rules"], want)
	}
	if subj := fmtRules(crb.Object["subjects"]); !strings.Contains(subj, "name:rsched-manager") || !strings.Contains(subj, "namespace:"+chartNamespace) {
		t.Errorf("ClusterRoleBinding subjects %s", subj)
	}
	if _, err := h.run("template", "rsched", h.chart, "--namespace", chartNamespace, "--set", "clusterTrustBundles.enabled=true", "--set", "watchNamespaces={team-a}"); err == nil ||
		!strings.Contains(err.Error(), "clusterTrustBundles.enabled needs a cluster-wide install") {
		t.Errorf("clusterTrustBundles.enabled with watchNamespaces: %v", err)
	}
	if out, err := exec.Command(managerBin, "--cluster-trust-bundles", "--watch-namespaces", "team-a").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "--cluster-trust-bundles writes cluster-scoped objects") {
		t.Errorf("manager --cluster-trust-bundles --watch-namespaces: %v %s", err, out)
	}

	k := testenv.StartKube(t)
	ctx := context.Background()
	for _, ns := range []string{chartNamespace, "ward"} {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	applyManifest(t, k, on)
	d := &appsv1.Deployment{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-manager"}, d); err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", saKubeconfig(t, k, chartNamespace, d.Spec.Template.Spec.ServiceAccountName)}
	for _, a := range managerContainer(t, d).Args {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="), strings.HasPrefix(a, "--metrics-bind-address="):
		case strings.HasPrefix(a, "--metrics-cert-dir="):
			args = append(args, "--metrics-cert-dir="+t.TempDir())
		default:
			args = append(args, a)
		}
	}
	if !slices.Contains(args, "--cluster-trust-bundles=true") {
		t.Fatalf("the Deployment's arguments lack --cluster-trust-bundles=true: %v", args)
	}
	m := startManager(t, managerBin, k, chartNamespace, args...)

	const dbURL = "postgres://rsched:Ctb-Canary-41d2@db.example.org:5432/rsched?sslmode=verify-full"
	if err := k.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ward-db", Namespace: "ward"}, StringData: map[string]string{"url": dbURL}}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "ward", Namespace: "ward"},
		Spec: rschedv1.SchedulerInstanceSpec{Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "ward-db", Key: "url"}}}}
	if err := k.Client.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "ClusterTrustBundle rsched.ward.ward with the instance's ca.crt", func() (bool, string) {
		var cm corev1.ConfigMap
		var ctb certificatesv1.ClusterTrustBundle
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: "ward", Name: "ward-ca"}, &cm); err != nil {
			return false, err.Error()
		}
		if err := k.Client.Get(ctx, client.ObjectKey{Name: "rsched.ward.ward"}, &ctb); err != nil {
			return false, err.Error()
		}
		return cm.Data["ca.crt"] != "" && ctb.Spec.TrustBundle == cm.Data["ca.crt"], "differs from the ConfigMap"
	})
	m.stop(t)
	out := m.out.String()
	if strings.Contains(out, "forbidden") || !strings.Contains(out, "publishing each instance's trust bundle as a ClusterTrustBundle") {
		t.Errorf("manager output:\n%s", out)
	}
}

// clusterTrustBundleRules is the one rule both installs grant with the opt-in, as rendered.
func clusterTrustBundleRules() []any {
	return []any{map[string]any{"apiGroups": []any{"certificates.k8s.io"}, "resources": []any{"clustertrustbundles"},
		"verbs": []any{"get", "list", "watch", "create", "update", "delete"}}}
}

// The kustomize install leaves ClusterTrustBundles off: config/default lets the manager write none
// (reading them is every authenticated user's) and passes no flag. The component config/components/cluster-trust-bundles, added to an
// overlay of config/default and applied to a real API server, grants the manager's ServiceAccount
// exactly the chart's rule, cluster-wide, and adds --cluster-trust-bundles=true to its Deployment.
func TestKustomizeClusterTrustBundlesComponentIsOptIn(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	root := testenv.RepoRoot()
	mayManageBundles := func(verb string) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:rsched-system:rsched-manager",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:rsched-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: "certificates.k8s.io", Resource: "clustertrustbundles",
				Name: "rsched.ward.ward"},
		}}
		if err := k.Client.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	managerArgs := func() []string {
		t.Helper()
		d := &appsv1.Deployment{}
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: "rsched-system", Name: "rsched-manager"}, d); err != nil {
			t.Fatal(err)
		}
		return managerContainer(t, d).Args
	}
	verbs := []string{"get", "list", "watch", "create", "update", "delete"}

	if out, err := k.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "config", "default")); err != nil {
		t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
	}
	// Reading is every authenticated user's (the built-in ClusterRole
	// system:cluster-trust-bundle-discovery): bundles hold public certificates only.
	for _, verb := range verbs {
		if want := verb == "get" || verb == "list" || verb == "watch"; mayManageBundles(verb) != want {
			t.Errorf("config/default: the manager may %s clustertrustbundles: %v, want %v", verb, !want, want)
		}
	}
	if args := managerArgs(); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--cluster-trust-bundles") }) {
		t.Errorf("config/default passes --cluster-trust-bundles: %v", args)
	}

	overlay := t.TempDir()
	def, err := filepath.Rel(overlay, filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	comp, err := filepath.Rel(overlay, filepath.Join(root, "config", "components", "cluster-trust-bundles"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "resources:\n  - " + def + "\ncomponents:\n  - " + comp + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := k.Kubectl("apply", "--server-side", "-k", overlay)
	if err != nil {
		t.Fatalf("kubectl apply -k config/default + components/cluster-trust-bundles: %v\n%s", err, out)
	}
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("apply printed warnings:\n%s", out)
	}
	for _, verb := range verbs {
		if !mayManageBundles(verb) {
			t.Errorf("with the component the manager may not %s clustertrustbundles", verb)
		}
	}
	cr := &unstructured.Unstructured{}
	cr.SetGroupVersionKind(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"})
	if err := k.Client.Get(ctx, client.ObjectKey{Name: "rsched-cluster-trust-bundles"}, cr); err != nil {
		t.Fatal(err)
	}
	if want := clusterTrustBundleRules(); !reflect.DeepEqual(cr.Object["rules"], want) {
		t.Errorf("the component's ClusterRole rules %v, want the chart's %v", cr.Object["rules"], want)
	}
	args := managerArgs()
	if !slices.Contains(args, "--cluster-trust-bundles=true") || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--watch-namespaces") }) {
		t.Errorf("with the component the manager's arguments are %v, want --cluster-trust-bundles=true and no --watch-namespaces", args)
	}
}

// fmtRules flattens rendered rules or subjects into "key:value" words for a contains check.
func fmtRules(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok {
					b.WriteString(k + ":" + s + " ")
					continue
				}
				walk(e)
			}
		case string:
			b.WriteString(x + " ")
		}
	}
	walk(v)
	return b.String()
}

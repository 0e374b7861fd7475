package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
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

// RBAC cannot limit create by name, so the opt-in role alone would let the manager write every
// ClusterTrustBundle without a signer: other tools' trust anchors. A ValidatingAdmissionPolicy
// installed with the role keeps the manager's ServiceAccount to bundles named rsched.* without a
// signerName. Checked on a real API server, as the manager's ServiceAccount (a token of it) and as
// other users, for the chart and for the kustomize component.
func TestManagerMayWriteOnlyItsOwnClusterTrustBundles(t *testing.T) {
	h := newHelm(t)
	if kindNames(decodeManifest(t, h.template(t)))["ValidatingAdmissionPolicy/rsched-cluster-trust-bundles.rsched-system"] != nil {
		t.Error("the default render has the ClusterTrustBundle admission policy")
	}
	t.Run("chart clusterTrustBundles.enabled", func(t *testing.T) {
		k := clusterTrustBundlePolicyCluster(t)
		applyManifest(t, k, h.template(t, "--set", "clusterTrustBundles.enabled=true"))
		checkClusterTrustBundlePolicy(t, k)
	})
	t.Run("kustomize config/default with the cluster-trust-bundles component", func(t *testing.T) {
		k := clusterTrustBundlePolicyCluster(t)
		if out, err := k.Kubectl("apply", "--server-side", "-k", componentOverlay(t, "cluster-trust-bundles")); err != nil {
			t.Fatalf("kubectl apply -k: %v\n%s", err, out)
		}
		checkClusterTrustBundlePolicy(t, k)
	})
}

// clusterTrustBundlePolicyCluster starts an API server with the install's namespace.
func clusterTrustBundlePolicyCluster(t *testing.T) *testenv.Kube {
	t.Helper()
	k := testenv.StartKube(t)
	if err := k.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}}); err != nil {
		t.Fatal(err)
	}
	return k
}

// componentOverlay writes a kustomization of config/default with config/components/<name>.
func componentOverlay(t *testing.T, name string) string {
	t.Helper()
	overlay := t.TempDir()
	root := testenv.RepoRoot()
	def, err := filepath.Rel(overlay, filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	comp, err := filepath.Rel(overlay, filepath.Join(root, "config", "components", name))
	if err != nil {
		t.Fatal(err)
	}
	kust := "resources:\n  - " + def + "\ncomponents:\n  - " + comp + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	return overlay
}

// checkClusterTrustBundlePolicy: the manager creates, updates and deletes a bundle rsched.*
// without a signer; every write of a bundle named otherwise, or with a signerName (whose attest
// permission the test grants, so that the policy is what decides), is refused with the policy's
// message; other users, another ServiceAccount of the install's namespace with the same role
// included, are not affected.
func checkClusterTrustBundlePolicy(t *testing.T, k *testenv.Kube) {
	t.Helper()
	ctx := context.Background()
	const signer = "rsched.evil/x"
	attest := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "attest-rsched-evil"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{signer}, Verbs: []string{"attest"}}}}
	if err := k.Client.Create(ctx, attest); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"rsched-manager", "other"} {
		bindClusterRole(t, k, "attest-rsched-evil-"+sa, attest.Name, sa)
	}
	if err := k.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: chartNamespace, Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	bindClusterRole(t, k, "ctb-write-other", "rsched-cluster-trust-bundles", "other")
	mgr := managerTokenClient(t, k)
	otherCfg, err := clientcmd.BuildConfigFromFlags("", saKubeconfig(t, k, chartNamespace, "other"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := client.New(otherCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pemCA := selfSignedCAPEM(t)
	bundle := func(name, signerName string) *certificatesv1.ClusterTrustBundle {
		return &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signerName, TrustBundle: pemCA}}
	}
	relabel := func(c client.Client, name string) error {
		var b certificatesv1.ClusterTrustBundle
		if err := k.Client.Get(ctx, client.ObjectKey{Name: name}, &b); err != nil {
			return err
		}
		b.Labels = map[string]string{"touched": strconv.FormatInt(time.Now().UnixNano(), 10)}
		return c.Update(ctx, &b)
	}
	for _, b := range []*certificatesv1.ClusterTrustBundle{bundle("other.bundle", ""), bundle("rsched.evil:x:bundle", signer)} {
		if err := k.Client.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	// The policy is enforced once the API server has compiled it and seen its binding: the first
	// refusal may take a moment, and until it comes nothing else is checked.
	const notOwn, withSigner = "only its own ClusterTrustBundles (named rsched.<namespace>.<instance>)", "only ClusterTrustBundles without a signerName"
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := mgr.Create(ctx, bundle("other.probe", ""))
		if err != nil && strings.Contains(err.Error(), notOwn) {
			break
		}
		if err == nil {
			if err := k.Client.Delete(ctx, bundle("other.probe", "")); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy is not enforced after 30 s: the manager's create of other.probe: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, c := range []struct {
		what  string
		write func() error
		want  string
	}{
		{"create other.bundle2", func() error { return mgr.Create(ctx, bundle("other.bundle2", "")) }, "may create " + notOwn + ", not other.bundle2"},
		{"update other.bundle", func() error { return relabel(mgr, "other.bundle") }, "may update " + notOwn + ", not other.bundle"},
		{"delete other.bundle", func() error { return mgr.Delete(ctx, bundle("other.bundle", "")) }, "may delete " + notOwn + ", not other.bundle"},
		{"create a bundle with a signerName", func() error { return mgr.Create(ctx, bundle("rsched.evil:x:bundle2", signer)) },
			"may create " + withSigner + ", not rsched.evil:x:bundle2 (signer rsched.evil/x)"},
		{"update a bundle with a signerName", func() error { return relabel(mgr, "rsched.evil:x:bundle") }, "may update " + withSigner},
		{"delete a bundle with a signerName", func() error { return mgr.Delete(ctx, bundle("rsched.evil:x:bundle", signer)) }, "may delete " + withSigner},
	} {
		if err := c.write(); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("the manager's %s: %v, want 403 Forbidden mentioning %q", c.what, err, c.want)
		}
	}
	for _, name := range []string{"other.bundle", "rsched.evil:x:bundle"} {
		if err := k.Client.Get(ctx, client.ObjectKey{Name: name}, &certificatesv1.ClusterTrustBundle{}); err != nil {
			t.Errorf("%s after the manager's refused writes: %v", name, err)
		}
	}

	// Its own bundles: created, updated and deleted as the manager does.
	if err := mgr.Create(ctx, bundle("rsched.ward.ward", "")); err != nil {
		t.Errorf("the manager's create of rsched.ward.ward: %v", err)
	}
	if err := relabel(mgr, "rsched.ward.ward"); err != nil {
		t.Errorf("the manager's update of rsched.ward.ward: %v", err)
	}
	if err := mgr.Delete(ctx, bundle("rsched.ward.ward", "")); err != nil {
		t.Errorf("the manager's delete of rsched.ward.ward: %v", err)
	}

	// The policy binds the manager only: another ServiceAccount with the same role, and the
	// administrator, still write any bundle.
	for _, u := range []struct {
		who string
		c   client.Client
	}{{"rsched-system/other", other}, {"the administrator", k.Client}} {
		for _, b := range []*certificatesv1.ClusterTrustBundle{bundle("other.bundle3", ""), bundle("rsched.evil:x:bundle3", signer)} {
			if err := u.c.Create(ctx, b); err != nil {
				t.Errorf("%s: create %s: %v", u.who, b.Name, err)
				continue
			}
			if err := relabel(u.c, b.Name); err != nil {
				t.Errorf("%s: update %s: %v", u.who, b.Name, err)
			}
			if err := u.c.Delete(ctx, b); err != nil {
				t.Errorf("%s: delete %s: %v", u.who, b.Name, err)
			}
		}
	}
}

// bindClusterRole binds ClusterRole role to ServiceAccount sa of the install's namespace.
func bindClusterRole(t *testing.T, k *testenv.Kube, name, role, sa string) {
	t.Helper()
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: chartNamespace, Name: sa}}}
	if err := k.Client.Create(context.Background(), crb); err != nil {
		t.Fatal(err)
	}
}

// selfSignedCAPEM is a CA certificate (CA:TRUE), which a ClusterTrustBundle accepts.
func selfSignedCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	sigsyaml "sigs.k8s.io/yaml"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/internal/testenv"
)

// The Helm chart in charts/rsched-operator, checked with the real helm binary (built by `make test` or
// `make helm-lint` into the tool cache) and applied to a real API server.

const chartNamespace = "rsched-system"

// chartAllFeatures turns on every optional feature of the chart except the ServiceMonitor, whose
// CRD the test API server does not have (TestChartLintAndRender checks it separately).
const chartAllFeatures = `
replicaCount: 2
image:
  tag: v9.9.9
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: Always
imagePullSecrets: [{name: regcred}]
schedulerImage: {repository: registry.example.com/rsched/scheduler, tag: v9.9.9}
watchNamespaces: [team-a, team-b]
logLevel: 3
extraArgs: ["--enable-http2=false"]
serviceAccount:
  annotations: {example.com/owner: platform}
rbac:
  extraRules:
    - apiGroups: [""]
      resources: [pods]
      verbs: [get, list, watch]
networkPolicy:
  enabled: true
podAnnotations: {example.com/team: platform}
podLabels: {example.com/tier: control-plane}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: control, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/component: manager}}
topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}
priorityClassName: system-cluster-critical
`

type helmCLI struct {
	bin   string
	chart string
	env   []string
}

// newHelm finds the helm binary named by RSCHED_HELM_BIN. It never skips: a chart that is not
// tested is a chart that breaks unnoticed.
func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	const how = "run `make test` (it builds helm into the tool cache and exports RSCHED_HELM_BIN), " +
		"or `make helm-lint` and then `export RSCHED_HELM_BIN=$HOME/.cache/rsched/tools/helm-<HELM_VERSION>`"
	bin := os.Getenv("RSCHED_HELM_BIN")
	if bin == "" {
		t.Fatalf("RSCHED_HELM_BIN is not set: %s", how)
	}
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("RSCHED_HELM_BIN=%s is not an executable file (%v): %s", bin, err, how)
	}
	// Keep helm away from the user's repositories, plugins and caches.
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	return &helmCLI{bin: bin, chart: filepath.Join(testenv.RepoRoot(), "charts", "rsched-operator"), env: env}
}

// run runs helm and returns its standard output; stderr is returned in the error.
func (h *helmCLI) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// template renders the chart as release rsched in rsched-system with the given extra arguments.
func (h *helmCLI) template(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.run(append([]string{"template", "rsched", h.chart, "--namespace", chartNamespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func valuesFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// decodeManifest splits a multi-document YAML stream into objects.
func decodeManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, manifest)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// kindNames maps "Kind/name" of every object to the object.
func kindNames(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = o
	}
	return out
}

func renderedDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatal("no Deployment rendered")
	return nil
}

func managerContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return corev1.Container{}
}

func TestChartLintAndRender(t *testing.T) {
	h := newHelm(t)
	allFeatures := valuesFile(t, chartAllFeatures)

	for _, args := range [][]string{
		{"lint", "--strict", h.chart},
		{"lint", "--strict", h.chart, "-f", allFeatures, "--set", "metrics.serviceMonitor.enabled=true"},
	} {
		out, err := h.run(args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm %v:\n%s", args, out)
		}
	}

	// The chart's CRDs are `make manifests`' copies of config/crd/bases, rendered as templates.
	bases, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	chartCRDs, _ := filepath.Glob(filepath.Join(h.chart, "files", "crds", "*.yaml"))
	if len(chartCRDs) != len(bases) {
		t.Errorf("charts/rsched-operator/files/crds has %d files, config/crd/bases %d: run `make manifests`", len(chartCRDs), len(bases))
	}
	for _, b := range bases {
		want, _ := os.ReadFile(b)
		got, err := os.ReadFile(filepath.Join(h.chart, "files", "crds", filepath.Base(b)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/rsched-operator/files/crds/%s differs from config/crd/bases (%v): run `make manifests`", filepath.Base(b), err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.chart, "crds")); !os.IsNotExist(err) {
		t.Errorf("the chart has a crds/ folder, which Helm never upgrades: the CRDs belong in files/crds (%v)", err)
	}

	// Defaults: what config/default installs, named as kustomize names it for release "rsched".
	def := kindNames(decodeManifest(t, h.template(t)))
	for _, want := range []string{
		"ServiceAccount/rsched-manager", "Deployment/rsched-manager", "Service/rsched-manager-metrics",
		"Role/rsched-leader-election", "RoleBinding/rsched-leader-election",
		"ClusterRole/rsched-metrics-auth", "ClusterRoleBinding/rsched-metrics-auth", "ClusterRole/rsched-metrics-reader",
		"ClusterRole/rsched-schedulerinstance-editor", "ClusterRole/rsched-schedulerinstance-viewer",
		"ClusterRole/rsched-keyrotationpolicy-editor", "ClusterRole/rsched-keyrotationpolicy-viewer",
		"ClusterRole/rsched-manager", "ClusterRoleBinding/rsched-manager",
		"CustomResourceDefinition/schedulerinstances.scheduling.rsched.io", "CustomResourceDefinition/keyrotationpolicies.scheduling.rsched.io",
	} {
		if def[want] == nil {
			t.Errorf("default render lacks %s", want)
		}
	}
	// The rendered CRDs are config/crd/bases' schemas, kept on uninstall by default.
	for _, b := range bases {
		raw, _ := os.ReadFile(b)
		var base map[string]any
		if err := sigsyaml.Unmarshal(raw, &base); err != nil {
			t.Fatal(err)
		}
		name, _, _ := unstructured.NestedString(base, "metadata", "name")
		crd := def["CustomResourceDefinition/"+name]
		if crd == nil {
			continue
		}
		if !reflect.DeepEqual(crd.Object["spec"], base["spec"]) {
			t.Errorf("the rendered CRD %s differs from %s", name, b)
		}
		if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" || crd.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("CRD %s: annotations %v labels %v", name, crd.GetAnnotations(), crd.GetLabels())
		}
	}
	for _, o := range decodeManifest(t, h.template(t, "--set", "crds.keep=false")) {
		if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "" {
			t.Errorf("crds.keep=false: %s is still kept", o.GetName())
		}
	}
	for _, o := range decodeManifest(t, h.template(t, "--set", "crds.enabled=false")) {
		if o.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.enabled=false renders %s", o.GetName())
		}
	}

	// watchNamespaces: the manager's rules become a Role in each watched namespace (names quoted,
	// so a namespace called "on" stays a string), and nothing of the manager is cluster-wide.
	scoped := decodeManifest(t, h.template(t, "--set", "watchNamespaces={team-a,on}"))
	roles := map[string]bool{}
	for _, o := range scoped {
		if o.GetName() != "rsched-manager" {
			continue
		}
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("watchNamespaces still renders %s/%s", o.GetKind(), o.GetName())
		case "Role":
			roles[o.GetNamespace()] = true
			if !reflect.DeepEqual(o.Object["rules"], kustomizeRoleRules(t)) {
				t.Errorf("Role in %s: rules differ from config/rbac/role.yaml", o.GetNamespace())
			}
		case "RoleBinding":
			roles[o.GetNamespace()+"/binding"] = true
		}
	}
	if len(roles) != 4 || !roles["team-a"] || !roles["on"] || !roles["team-a/binding"] || !roles["on/binding"] {
		t.Errorf("watchNamespaces={team-a,on}: Roles and RoleBindings %v", roles)
	}
	// The manager's rules are exactly those controller-gen generated from the reconcilers' markers.
	if cr := def["ClusterRole/rsched-manager"]; cr != nil && !reflect.DeepEqual(cr.Object["rules"], kustomizeRoleRules(t)) {
		t.Errorf("chart manager rules differ from config/rbac/role.yaml:\nchart: %v\nrole.yaml: %v", cr.Object["rules"], kustomizeRoleRules(t))
	}
	for _, unwanted := range []string{"NetworkPolicy/rsched-manager", "ServiceMonitor/rsched-manager-metrics"} {
		if def[unwanted] != nil {
			t.Errorf("default render has %s, which should be opt-in", unwanted)
		}
	}

	// Metrics off: the manager serves none, and no Service or metrics RBAC is created.
	noMetrics := decodeManifest(t, h.template(t, "--set", "metrics.enabled=false"))
	c := managerContainer(t, renderedDeployment(t, noMetrics))
	if !slices.Contains(c.Args, "--metrics-bind-address=0") {
		t.Errorf("metrics.enabled=false: args %v lack --metrics-bind-address=0", c.Args)
	}
	for _, unwanted := range []string{"Service/rsched-manager-metrics", "ClusterRole/rsched-metrics-auth", "ClusterRole/rsched-metrics-reader"} {
		if kindNames(noMetrics)[unwanted] != nil {
			t.Errorf("metrics.enabled=false still renders %s", unwanted)
		}
	}

	// The ServiceMonitor scrapes over HTTPS with the scraper's token; its tlsConfig can be replaced.
	sm := kindNames(decodeManifest(t, h.template(t, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.labels.release=prometheus")))["ServiceMonitor/rsched-manager-metrics"]
	if sm == nil {
		t.Fatal("metrics.serviceMonitor.enabled=true renders no ServiceMonitor")
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["scheme"] != "https" || ep["port"] != "https" || ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("ServiceMonitor endpoint: %v", ep)
	}
	if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); !skip {
		t.Errorf("ServiceMonitor tlsConfig: %v, want insecureSkipVerify (self-signed certificate)", ep["tlsConfig"])
	}
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack metrics.serviceMonitor.labels", sm.GetLabels())
	}
	sm = kindNames(decodeManifest(t, h.template(t, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.tlsConfig.insecureSkipVerify=false",
		"--set", "metrics.serviceMonitor.tlsConfig.serverName=rsched-manager-metrics.rsched-system.svc")))["ServiceMonitor/rsched-manager-metrics"]
	endpoints, _, _ = unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if tc := endpoints[0].(map[string]any)["tlsConfig"]; fmt.Sprint(tc) != "map[insecureSkipVerify:false serverName:rsched-manager-metrics.rsched-system.svc]" {
		t.Errorf("overridden tlsConfig renders as %v", tc)
	}
	// With a certificate of its own (here from cert-manager) the manager mounts and serves it,
	// and the ServiceMonitor verifies it against the Secret's CA for the Service's name.
	withCertObjs := decodeManifest(t, h.template(t, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.certificate.certManager.enabled=true", "--set", "metrics.certificate.certManager.issuerRef.name=platform-ca"))
	withCert := kindNames(withCertObjs)
	endpoints, _, _ = unstructured.NestedSlice(withCert["ServiceMonitor/rsched-manager-metrics"].Object, "spec", "endpoints")
	if tc := endpoints[0].(map[string]any)["tlsConfig"]; fmt.Sprint(tc) != "map[ca:map[secret:map[key:ca.crt name:rsched-metrics-tls]] serverName:rsched-manager-metrics.rsched-system.svc]" {
		t.Errorf("tlsConfig with a metrics certificate renders as %v", tc)
	}
	crt := withCert["Certificate/rsched-metrics"]
	if crt == nil {
		t.Fatal("metrics.certificate.certManager.enabled renders no Certificate")
	}
	if names, _, _ := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames"); len(names) != 2 || names[0] != "rsched-manager-metrics.rsched-system.svc" {
		t.Errorf("metrics Certificate names %v", names)
	}
	if c := managerContainer(t, renderedDeployment(t, withCertObjs)); !slices.Contains(c.Args, "--metrics-cert-dir=/etc/rsched/metrics-tls") {
		t.Errorf("with a metrics certificate, args %v lack --metrics-cert-dir", c.Args)
	}

	// Two releases never share a cluster-scoped object, the CRDs aside: there is one set per
	// cluster, and a second release (another team's operator in namespaced mode) installs with
	// crds.enabled=false.
	other, err := h.run("template", "other", h.chart, "--namespace", "other-system", "--set", "crds.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range decodeManifest(t, other) {
		if o.GetNamespace() == "" && def[o.GetKind()+"/"+o.GetName()] != nil {
			t.Errorf("releases rsched and other both create %s %s", o.GetKind(), o.GetName())
		}
	}

	// Wrong values fail before anything reaches the cluster.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "replicaCuont=2"}, "additional properties 'replicaCuont' not allowed"},
		{[]string{"--set", "logLevel=verbose"}, "/logLevel"},
		{[]string{"--set", "image.digest=latest"}, "/image/digest"},
		{[]string{"--set", "watchNamespaces[0]=Team_A"}, "/watchNamespaces/0"},
		{[]string{"--set", "replicaCount=2", "--set", "leaderElection.enabled=false"}, "replicaCount > 1 needs leaderElection.enabled=true"},
		{[]string{"--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"}, "metrics.serviceMonitor.enabled needs metrics.enabled=true"},
		{[]string{"--set", "crds.keep=maybe"}, "/crds/keep"},
		{[]string{"--set", "metrics.certificate.certManager.enabled=true"}, "metrics.certificate.certManager.enabled needs metrics.certificate.certManager.issuerRef.name"},
		{[]string{"--set", "watchNamespaces={a}", "--set", "rbac.extraRules[0].nonResourceURLs[0]=/healthz", "--set", "rbac.extraRules[0].verbs[0]=get"}, "nonResourceURLs need a ClusterRole"},
	} {
		_, err := h.run(append([]string{"template", "rsched", h.chart, "--namespace", chartNamespace}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template %v: %v, want a failure mentioning %q", c.args, err, c.want)
		}
	}
}

// kustomizeRoleRules are the rules controller-gen wrote into config/rbac/role.yaml.
func kustomizeRoleRules(t *testing.T) any {
	t.Helper()
	generated, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role map[string]any
	if err := sigsyaml.Unmarshal(generated, &role); err != nil {
		t.Fatal(err)
	}
	return role["rules"]
}

// saKubeconfig writes a kubeconfig that authenticates as ServiceAccount ns/name, so that a process
// using it has exactly the permissions the chart's RBAC grants.
func saKubeconfig(t *testing.T, k *testenv.Kube, ns, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.ServiceAccountKubeconfig(context.Background(), ns, name, path, time.Hour); err != nil {
		t.Fatal(err)
	}
	return path
}

func applyManifest(t *testing.T, k *testenv.Kube, manifest string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := k.Kubectl("apply", "--server-side", "-f", f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl apply --server-side:\n%s", out)
	// The namespace's pod-security.kubernetes.io/warn=restricted label makes the API server warn
	// about any pod template that breaks the restricted profile; deprecations warn too.
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("apply printed warnings:\n%s", out)
	}
	return out
}

func TestChartInstallsUnderRestrictedPodSecurity(t *testing.T) {
	h := newHelm(t)
	k := testenv.StartKube(t)
	ctx := context.Background()

	// Render for the version of this API server, as `helm install` does.
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	kubeVersion := "--kube-version=" + sv.GitVersion

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := k.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	// 1. The default install.
	out := applyManifest(t, k, h.template(t, kubeVersion))
	for _, want := range []string{
		"serviceaccount/rsched-manager serverside-applied",
		"deployment.apps/rsched-manager serverside-applied",
		"service/rsched-manager-metrics serverside-applied",
		"role.rbac.authorization.k8s.io/rsched-leader-election serverside-applied",
		"rolebinding.rbac.authorization.k8s.io/rsched-leader-election serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-metrics-auth serverside-applied",
		"clusterrolebinding.rbac.authorization.k8s.io/rsched-metrics-auth serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-metrics-reader serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-schedulerinstance-editor serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-schedulerinstance-viewer serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-keyrotationpolicy-editor serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/rsched-keyrotationpolicy-viewer serverside-applied",
		"customresourcedefinition.apiextensions.k8s.io/schedulerinstances.scheduling.rsched.io serverside-applied",
		"customresourcedefinition.apiextensions.k8s.io/keyrotationpolicies.scheduling.rsched.io serverside-applied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q", want)
		}
	}

	d := &appsv1.Deployment{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-manager"}, d); err != nil {
		t.Fatal(err)
	}
	c := managerContainer(t, d)
	for _, want := range []string{
		"--leader-elect=true",
		"--leader-election-namespace=" + chartNamespace,
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
		"--scheduler-image=ghcr.io/rsched/scheduler:v0.1.0",
		"--zap-encoder=json",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("manager args %v lack %q", c.Args, want)
		}
	}
	if c.Image != "ghcr.io/rsched/rsched:v0.1.0" || !slices.Equal(c.Command, []string{"/manager"}) {
		t.Errorf("manager image %q command %v", c.Image, c.Command)
	}
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 ||
		psc.FSGroup == nil || *psc.FSGroup != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: %+v", psc)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext: %+v", sc)
	}
	if pod.ServiceAccountName != "rsched-manager" || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("serviceAccountName %q automountServiceAccountToken %v", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].EmptyDir == nil || pod.Volumes[0].EmptyDir.SizeLimit == nil ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" {
		t.Errorf("volumes %+v mounts %+v, want a size-limited emptyDir on /tmp", pod.Volumes, c.VolumeMounts)
	}
	if got := c.Resources.Requests.Cpu().String() + "/" + c.Resources.Requests.Memory().String() + "/" + c.Resources.Limits.Memory().String(); got != "50m/64Mi/256Mi" {
		t.Errorf("resources requests cpu/memory, limit memory: %s", got)
	}

	// 2. The real manager, run with the Deployment's arguments as the chart's ServiceAccount: the
	// binary accepts every flag the chart renders, and the chart's RBAC is enough for leader
	// election and for authenticating metrics scrapers.
	var managerArgs []string
	for _, a := range c.Args {
		// Keep the test's own free ports instead of the container's fixed ones.
		if !strings.HasPrefix(a, "--health-probe-bind-address=") && !strings.HasPrefix(a, "--metrics-bind-address=") {
			managerArgs = append(managerArgs, a)
		}
	}
	kubeconfig := saKubeconfig(t, k, chartNamespace, pod.ServiceAccountName)
	m := startManager(t, managerBin, k, chartNamespace, append([]string{"--kubeconfig", kubeconfig}, managerArgs...)...)
	testenv.Eventually(t, 30*time.Second, "the manager, as the chart's ServiceAccount, holds the leader Lease", func() (bool, string) {
		holder := leaseHolder(ctx, k.Client, chartNamespace)
		return holder != "", "holder=" + holder
	})
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the manager's self-signed certificate; this checks authn/authz
	}}
	metricsURL := "https://" + m.metrics + "/metrics"
	// Two ServiceAccounts: the metrics filter caches a refusal for 30 s, so the one that gets the
	// role must not have been refused before.
	stranger := serviceAccountToken(t, k, chartNamespace, "stranger")
	testenv.Eventually(t, 30*time.Second, "a scraper without the metrics-reader role is refused", func() (bool, string) {
		code, _, err := httpStatus(insecure, metricsURL, stranger)
		return code == http.StatusForbidden, fmt.Sprint(code, " ", err)
	})
	scraper := serviceAccountToken(t, k, chartNamespace, "prometheus")
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-rsched-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "rsched-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: chartNamespace, Name: "prometheus"}}}
	if err := k.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "a scraper bound to the chart's metrics-reader ClusterRole reads metrics", func() (bool, string) {
		code, _, err := httpStatus(insecure, metricsURL, scraper)
		return code == http.StatusOK, fmt.Sprint(code, " ", err)
	})
	m.stop(t)
	if out := m.out.String(); strings.Contains(out, "forbidden") {
		t.Errorf("the manager was refused something with the chart's RBAC:\n%s", out)
	}

	// 3. An upgrade to every optional feature (ServiceMonitor aside: no CRD for it here), with
	// watchNamespaces: the manager's cluster-wide role goes (as helm upgrade removes what it no
	// longer renders) and Roles in the watched namespaces take its place.
	for _, name := range []string{"team-a", "team-b"} {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Client.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rsched-manager"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "rsched-manager"}}); err != nil {
		t.Fatal(err)
	}
	out = applyManifest(t, k, h.template(t, kubeVersion, "-f", valuesFile(t, chartAllFeatures)))
	for _, want := range []string{
		"deployment.apps/rsched-manager serverside-applied",
		"networkpolicy.networking.k8s.io/rsched-manager serverside-applied",
		"role.rbac.authorization.k8s.io/rsched-manager serverside-applied",
		"rolebinding.rbac.authorization.k8s.io/rsched-manager serverside-applied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q", want)
		}
	}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-manager"}, d); err != nil {
		t.Fatal(err)
	}
	c = managerContainer(t, d)
	for _, want := range []string{
		"--leader-elect=true",
		"--leader-election-namespace=" + chartNamespace,
		"--scheduler-image=registry.example.com/rsched/scheduler:v9.9.9",
		"--watch-namespaces=team-a,team-b",
		"--zap-log-level=3",
		"--enable-http2=false",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("manager args %v lack %q", c.Args, want)
		}
	}
	if want := "ghcr.io/rsched/rsched@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || d.Spec.Template.Labels["example.com/tier"] != "control-plane" ||
		d.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"] != "manager" ||
		len(d.Spec.Template.Spec.TopologySpreadConstraints) != 1 || d.Spec.Template.Spec.TopologySpreadConstraints[0].LabelSelector == nil {
		t.Errorf("replicas %v, pod template %+v", d.Spec.Replicas, d.Spec.Template.ObjectMeta)
	}
	// The manager binary accepts the full set of flags too (--version stops after parsing them).
	if out, err := exec.Command(managerBin, append(slices.Clone(c.Args), "--version")...).CombinedOutput(); err != nil {
		t.Errorf("manager %v --version: %v\n%s", c.Args, err, out)
	}
	// The extra rules reach the manager's ServiceAccount.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + chartNamespace + ":rsched-manager",
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "team-a", Verb: "list", Resource: "pods",
		},
	}}
	if err := k.Client.Create(ctx, sar); err != nil {
		t.Fatal(err)
	}
	if !sar.Status.Allowed {
		t.Errorf("rbac.extraRules: the manager may not list pods: %+v", sar.Status)
	}
	// In a watched namespace it may do its work; outside the watched namespaces, nothing.
	for _, c := range []struct {
		ns, verb, group, resource string
		allowed                   bool
	}{
		{"team-b", "create", "apps", "deployments", true},
		{"team-b", "list", "", "secrets", true},
		{"team-b", "patch", "scheduling.rsched.io", "schedulerinstances/status", true},
		{"default", "list", "", "secrets", false},
		{"default", "create", "apps", "deployments", false},
		{"kube-system", "create", "", "serviceaccounts/token", false},
		{"", "list", "scheduling.rsched.io", "schedulerinstances", false},
	} {
		resource, sub, _ := strings.Cut(c.resource, "/")
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + chartNamespace + ":rsched-manager",
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.ns, Verb: c.verb, Group: c.group, Resource: resource, Subresource: sub,
			},
		}}
		if err := k.Client.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.allowed {
			t.Errorf("watchNamespaces: %s %s in %q allowed=%v, want %v", c.verb, c.resource, c.ns, sar.Status.Allowed, c.allowed)
		}
	}
}

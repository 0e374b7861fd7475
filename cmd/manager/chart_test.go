package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
  egress:
    enabled: true
    apiServer: {cidrs: [10.0.0.10/32]}
    extraEgress: [{to: [{ipBlock: {cidr: 10.0.5.0/24}}], ports: [{port: 8200, protocol: TCP}]}]
podDisruptionBudget: {enabled: true, minAvailable: 1}
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

	// By default the manager keeps its own metrics certificate: the flags that name its Secret,
	// ConfigMap and Service, an in-memory emptyDir for the files, and a Role for exactly those two
	// objects in the release namespace.
	defObjs := decodeManifest(t, h.template(t))
	c = managerContainer(t, renderedDeployment(t, defObjs))
	for _, want := range []string{"--metrics-cert-dir=/etc/rsched/metrics-tls", "--metrics-cert-secret=rsched-metrics-certs",
		"--metrics-ca-configmap=rsched-metrics-ca", "--metrics-service=rsched-manager-metrics",
		"--metrics-cert-lifetime=168h", "--metrics-ca-lifetime=8760h"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("default args %v lack %s", c.Args, want)
		}
	}
	role := def["Role/rsched-metrics-cert"]
	if role == nil || def["RoleBinding/rsched-metrics-cert"] == nil {
		t.Fatal("the default render has no Role rsched-metrics-cert and its binding")
	}
	wantRules := []any{
		map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "resourceNames": []any{"rsched-metrics-certs"}, "verbs": []any{"get", "update"}},
		map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "resourceNames": []any{"rsched-metrics-ca"}, "verbs": []any{"get", "update"}},
	}
	if !reflect.DeepEqual(role.Object["rules"], wantRules) || role.GetNamespace() != chartNamespace {
		t.Errorf("Role rsched-metrics-cert in %q: %v", role.GetNamespace(), role.Object["rules"])
	}
	// No create in that Role: the chart creates the two objects, empty, for the manager to fill.
	sec, cm := def["Secret/rsched-metrics-certs"], def["ConfigMap/rsched-metrics-ca"]
	if sec == nil || cm == nil || sec.Object["data"] != nil || sec.Object["type"] != "Opaque" || cm.Object["data"] != nil ||
		sec.GetNamespace() != chartNamespace || cm.GetNamespace() != chartNamespace {
		// Names and shapes only: a Secret is never printed.
		t.Errorf("the default render lacks the empty metrics Secret and ConfigMap in %s (Secret rendered %v, with data %v; ConfigMap rendered %v)",
			chartNamespace, sec != nil, sec != nil && sec.Object["data"] != nil, cm != nil)
	}
	// The kustomize install grants the same, and its ServiceMonitor verifies the same way.
	if got := kustomizeFile(t, "rbac", "metrics_cert_role.yaml")["rules"]; !reflect.DeepEqual(got, wantRules) {
		t.Errorf("config/rbac/metrics_cert_role.yaml rules %v differ from the chart's", got)
	}
	kustomizeEP, _, _ := unstructured.NestedSlice(kustomizeFile(t, "prometheus", "monitor.yaml"), "spec", "endpoints")
	if ep := kustomizeEP[0].(map[string]any); !scrapesSafely(ep) ||
		fmt.Sprint(ep["tlsConfig"]) != "map[ca:map[configMap:map[key:ca.crt name:rsched-metrics-ca]] serverName:rsched-manager-metrics.rsched-system.svc]" ||
		fmt.Sprint(ep["authorization"]) != "map[credentials:map[key:token name:rsched-metrics-scraper-token] type:Bearer]" {
		t.Errorf("config/prometheus/monitor.yaml endpoint: %v", ep)
	}

	// The ServiceMonitor always verifies the certificate: the manager's own CA by default, the
	// Secret's ca.crt with metrics.certificate; for the Service's name; honorLabels false; the
	// token of the chart's scraper ServiceAccount or of the Secret the values name, and nothing
	// deprecated.
	monitor := func(args ...string) (map[string]*unstructured.Unstructured, *unstructured.Unstructured, map[string]any) {
		t.Helper()
		objs := kindNames(decodeManifest(t, h.template(t, append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, args...)...)))
		sm := objs["ServiceMonitor/rsched-manager-metrics"]
		if sm == nil {
			t.Fatal("metrics.serviceMonitor.enabled=true renders no ServiceMonitor")
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("ServiceMonitor endpoints: %v", endpoints)
		}
		ep := endpoints[0].(map[string]any)
		if ep["scheme"] != "https" || ep["port"] != "https" || !scrapesSafely(ep) {
			t.Errorf("ServiceMonitor endpoint: %v", ep)
		}
		return objs, sm, ep
	}
	objs, sm, ep := monitor("--set", "metrics.serviceMonitor.labels.release=prometheus")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack metrics.serviceMonitor.labels", sm.GetLabels())
	}
	if tc := ep["tlsConfig"]; fmt.Sprint(tc) != "map[ca:map[configMap:map[key:ca.crt name:rsched-metrics-ca]] serverName:rsched-manager-metrics.rsched-system.svc]" {
		t.Errorf("default tlsConfig renders as %v", tc)
	}
	// By default the token of a scraper ServiceAccount the chart creates, allowed only to read
	// the metrics of the release namespace's manager, kept by Kubernetes in a
	// service-account-token Secret.
	if a := ep["authorization"]; fmt.Sprint(a) != "map[credentials:map[key:token name:rsched-metrics-scraper-token] type:Bearer]" {
		t.Errorf("default authorization renders as %v", a)
	}
	scraperSecret, scraperBinding := objs["Secret/rsched-metrics-scraper-token"], objs["RoleBinding/rsched-metrics-scraper"]
	if objs["ServiceAccount/rsched-metrics-scraper"] == nil || scraperSecret == nil || scraperBinding == nil {
		t.Fatal("metrics.serviceMonitor.enabled=true renders no scraper ServiceAccount, token Secret and binding")
	}
	if scraperSecret.Object["type"] != "kubernetes.io/service-account-token" || scraperSecret.GetNamespace() != chartNamespace ||
		scraperSecret.GetAnnotations()["kubernetes.io/service-account.name"] != "rsched-metrics-scraper" {
		// Its metadata only: a token Secret's data is never printed, rendered empty or not.
		t.Errorf("scraper token Secret: type %v, namespace %q, annotations %v",
			scraperSecret.Object["type"], scraperSecret.GetNamespace(), scraperSecret.GetAnnotations())
	}
	if scraperBinding.GetNamespace() != chartNamespace ||
		fmt.Sprint(scraperBinding.Object["roleRef"], scraperBinding.Object["subjects"]) !=
			"map[apiGroup:rbac.authorization.k8s.io kind:ClusterRole name:rsched-metrics-reader] [map[kind:ServiceAccount name:rsched-metrics-scraper namespace:rsched-system]]" {
		t.Errorf("scraper binding: %v %v", scraperBinding.Object["roleRef"], scraperBinding.Object["subjects"])
	}
	objs, _, ep = monitor("--set", "metrics.serviceMonitor.authorization.secretName=prometheus-token")
	if a := ep["authorization"]; fmt.Sprint(a) != "map[credentials:map[key:token name:prometheus-token] type:Bearer]" {
		t.Errorf("authorization renders as %v", a)
	}
	for _, unwanted := range []string{"ServiceAccount/rsched-metrics-scraper", "Secret/rsched-metrics-scraper-token", "RoleBinding/rsched-metrics-scraper"} {
		if objs[unwanted] != nil {
			t.Errorf("with metrics.serviceMonitor.authorization.secretName the chart still renders %s", unwanted)
		}
	}
	// With a certificate of its own (here from cert-manager) the manager mounts and serves it,
	// and the ServiceMonitor verifies it against the Secret's CA for the Service's name; the
	// manager keeps no certificate of its own then, and gets no Role for it.
	withCertObjs := decodeManifest(t, h.template(t, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.certificate.certManager.enabled=true", "--set", "metrics.certificate.certManager.issuerRef.name=platform-ca"))
	withCert := kindNames(withCertObjs)
	endpoints, _, _ := unstructured.NestedSlice(withCert["ServiceMonitor/rsched-manager-metrics"].Object, "spec", "endpoints")
	if tc := endpoints[0].(map[string]any)["tlsConfig"]; fmt.Sprint(tc) != "map[ca:map[secret:map[key:ca.crt name:rsched-metrics-tls]] serverName:rsched-manager-metrics.rsched-system.svc]" {
		t.Errorf("tlsConfig with a metrics certificate renders as %v", tc)
	}
	if withCert["Role/rsched-metrics-cert"] != nil || slices.ContainsFunc(managerContainer(t, renderedDeployment(t, withCertObjs)).Args,
		func(a string) bool { return strings.HasPrefix(a, "--metrics-cert-secret") }) {
		t.Error("with metrics.certificate the manager still keeps a certificate of its own")
	}
	_, _, ep = monitor("--set", "metrics.certificate.secretName=my-metrics-tls")
	if tc := ep["tlsConfig"]; fmt.Sprint(tc) != "map[ca:map[secret:map[key:ca.crt name:my-metrics-tls]] serverName:rsched-manager-metrics.rsched-system.svc]" {
		t.Errorf("tlsConfig with metrics.certificate.secretName renders as %v", tc)
	}
	if kindNames(noMetrics)["Role/rsched-metrics-cert"] != nil {
		t.Error("metrics.enabled=false still renders the metrics certificate Role")
	}
	// No configuration skips verification.
	for _, args := range [][]string{
		{"--set", "metrics.serviceMonitor.enabled=true"},
		{"--set", "metrics.serviceMonitor.enabled=true", "-f", allFeatures},
		{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.certificate.secretName=my-metrics-tls"},
		{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.certificate.certManager.enabled=true", "--set", "metrics.certificate.certManager.issuerRef.name=ca"},
	} {
		if out := strings.ToLower(h.template(t, args...)); strings.Contains(out, "insecureskipverify:") ||
			strings.Contains(out, "bearertokenfile:") || !strings.Contains(out, "honorlabels: false") {
			t.Errorf("helm template %v: insecureSkipVerify or bearerTokenFile rendered, or honorLabels: false missing", args)
		}
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
		{[]string{"--set", "metrics.serviceMonitor.tlsConfig.insecureSkipVerify=true"}, "additional properties 'tlsConfig' not allowed"},
		{[]string{"--set", "metrics.certificate.certManager.enabled=true"}, "metrics.certificate.certManager.enabled needs metrics.certificate.certManager.issuerRef.name"},
		{[]string{"--set", "watchNamespaces={a}", "--set", "rbac.extraRules[0].nonResourceURLs[0]=/healthz", "--set", "rbac.extraRules[0].verbs[0]=get"}, "nonResourceURLs need a ClusterRole"},
	} {
		_, err := h.run(append([]string{"template", "rsched", h.chart, "--namespace", chartNamespace}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template %v: %v, want a failure mentioning %q", c.args, err, c.want)
		}
	}
}

// scrapesSafely: a ServiceMonitor endpoint that presents its token through authorization (not the
// deprecated bearerTokenFile), keeps the target's labels over the scraped ones (honorLabels
// false) except an instance's namespace, which it restores from exported_namespace, and never
// skips verifying the certificate.
func scrapesSafely(ep map[string]any) bool {
	const relabel = "[map[action:replace regex:(.+) replacement:$1 sourceLabels:[exported_namespace] targetLabel:namespace] map[action:labeldrop regex:exported_namespace]]"
	skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
	return ep["honorLabels"] == false && ep["bearerTokenFile"] == nil && ep["authorization"] != nil && !skip &&
		fmt.Sprint(ep["metricRelabelings"]) == relabel
}

// kustomizeFile is one object of config/<dir>/<name>.
func kustomizeFile(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := sigsyaml.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
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
	// Two size-limited emptyDirs: the metrics certificate the manager writes (in memory, so its
	// key never reaches the node's disk) and /tmp.
	vols, mounts := map[string]*corev1.EmptyDirVolumeSource{}, map[string]string{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			vols[v.Name] = v.EmptyDir
		}
	}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	if len(pod.Volumes) != 2 || len(vols) != 2 || vols["metrics-tls"] == nil || vols["metrics-tls"].Medium != corev1.StorageMediumMemory ||
		!reflect.DeepEqual(mounts, map[string]string{"metrics-tls": "/etc/rsched/metrics-tls", "tmp": "/tmp"}) {
		t.Errorf("volumes %+v mounts %+v, want a memory emptyDir for the metrics certificate and a size-limited emptyDir on /tmp", pod.Volumes, c.VolumeMounts)
	}
	metricsCertDirIsWritable(t, d)
	if got := c.Resources.Requests.Cpu().String() + "/" + c.Resources.Requests.Memory().String() + "/" + c.Resources.Limits.Memory().String(); got != "50m/64Mi/256Mi" {
		t.Errorf("resources requests cpu/memory, limit memory: %s", got)
	}

	// 2. The real manager, run with the Deployment's arguments as the chart's ServiceAccount: the
	// binary accepts every flag the chart renders, and the chart's RBAC is enough for leader
	// election and for authenticating metrics scrapers.
	kubeconfig := saKubeconfig(t, k, chartNamespace, pod.ServiceAccountName)
	m := startChartManager(t, k, kubeconfig, c.Args)
	testenv.Eventually(t, 30*time.Second, "the manager, as the chart's ServiceAccount, holds the leader Lease", func() (bool, string) {
		holder := leaseHolder(ctx, k.Client, chartNamespace)
		return holder != "", "holder=" + holder
	})
	// The scraper trusts only the CA the manager published and checks the Service's name, as
	// the chart's ServiceMonitor does.
	verified := metricsClientTrustingConfigMap(t, k)
	metricsURL := "https://" + m.metrics + "/metrics"
	// Two ServiceAccounts: the metrics filter caches a refusal for 30 s, so the one that gets the
	// role must not have been refused before.
	stranger := serviceAccountToken(t, k, chartNamespace, "stranger")
	testenv.Eventually(t, 30*time.Second, "a scraper without the metrics-reader role is refused", func() (bool, string) {
		code, _, err := httpStatus(verified, metricsURL, stranger)
		return code == http.StatusForbidden, fmt.Sprint(code, " ", err)
	})
	// The ServiceMonitor's identity: the scraper ServiceAccount, token Secret and binding the chart
	// renders with it, applied without the ServiceMonitor itself (envtest has no such CRD).
	applyManifest(t, k, scraperObjects(t, h, kubeVersion))
	scraper := accountToken(t, k, chartNamespace, "rsched-metrics-scraper")
	testenv.Eventually(t, 15*time.Second, "the chart's scraper ServiceAccount reads metrics, verified", func() (bool, string) {
		code, _, err := httpStatus(verified, metricsURL, scraper)
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
		"networkpolicy.networking.k8s.io/rsched-manager-egress serverside-applied",
		"poddisruptionbudget.policy/rsched-manager serverside-applied",
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
	// Namespaced, nothing cluster-wide grants Secrets or ConfigMaps in the release namespace: the
	// metrics-cert Role alone (get and update by name, no create) lets the manager fill the empty
	// Secret and ConfigMap a fresh install renders with a new CA and certificate, and the scraper
	// verifies the new CA.
	metricsCertObjectsStartEmpty(ctx, t, k)
	m = startChartManager(t, k, kubeconfig, c.Args)
	verified = metricsClientTrustingConfigMap(t, k)
	testenv.Eventually(t, 15*time.Second, "namespaced: a verified scrape of the manager's new certificate", func() (bool, string) {
		code, _, err := httpStatus(verified, "https://"+m.metrics+"/metrics", scraper)
		return code == http.StatusOK, fmt.Sprint(code, " ", err)
	})
	m.stop(t)
	if out := m.out.String(); strings.Contains(out, "forbidden") {
		t.Errorf("namespaced, the manager was refused something with the chart's RBAC:\n%s", out)
	}
	metricsCertObjectsKeepTheInstallsLabels(ctx, t, k)
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
		// The release namespace: its own metrics certificate's two objects, by name, and no more
		// (not even create: the chart creates them).
		{chartNamespace, "get", "", "secrets:rsched-metrics-certs", true},
		{chartNamespace, "update", "", "configmaps:rsched-metrics-ca", true},
		{chartNamespace, "create", "", "secrets", false},
		{chartNamespace, "create", "", "configmaps", false},
		{chartNamespace, "get", "", "secrets:other", false},
		{chartNamespace, "update", "", "configmaps:other", false},
		{chartNamespace, "list", "", "secrets", false},
		{chartNamespace, "delete", "", "secrets:rsched-metrics-certs", false},
	} {
		resource, name, _ := strings.Cut(c.resource, ":")
		resource, sub, _ := strings.Cut(resource, "/")
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + chartNamespace + ":rsched-manager",
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.ns, Verb: c.verb, Group: c.group, Resource: resource, Subresource: sub, Name: name,
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

// scraperObjects is what the chart renders with metrics.serviceMonitor.enabled=true besides the
// ServiceMonitor: the scraper ServiceAccount, its token Secret and its RoleBinding.
func scraperObjects(t *testing.T, h *helmCLI, args ...string) string {
	t.Helper()
	var docs []string
	for _, o := range decodeManifest(t, h.template(t, append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, args...)...)) {
		if !strings.Contains(o.GetName(), "metrics-scraper") {
			continue
		}
		raw, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(raw))
	}
	if len(docs) != 3 {
		t.Fatalf("metrics.serviceMonitor.enabled=true renders %d scraper objects, want 3:\n%s", len(docs), strings.Join(docs, "---\n"))
	}
	return strings.Join(docs, "---\n")
}

// startChartManager runs the real manager with a Deployment's arguments as the chart's
// ServiceAccount, with the test's own free ports and a temporary directory for the metrics
// certificate instead of the container's.
func startChartManager(t *testing.T, k *testenv.Kube, kubeconfig string, deploymentArgs []string) *managerProc {
	t.Helper()
	args := []string{"--kubeconfig", kubeconfig}
	for _, a := range deploymentArgs {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="), strings.HasPrefix(a, "--metrics-bind-address="):
		case strings.HasPrefix(a, "--metrics-cert-dir="):
			args = append(args, "--metrics-cert-dir="+t.TempDir())
		default:
			args = append(args, a)
		}
	}
	return startManager(t, managerBin, k, chartNamespace, args...)
}

// metricsClientTrustingConfigMap is a scraper that trusts only the CA in the ConfigMap the
// manager publishes (once it is there) and checks the metrics Service's name.
func metricsClientTrustingConfigMap(t *testing.T, k *testenv.Kube) *http.Client {
	t.Helper()
	cm := &corev1.ConfigMap{}
	testenv.Eventually(t, 30*time.Second, "the manager's metrics CA in ConfigMap rsched-metrics-ca", func() (bool, string) {
		err := k.Client.Get(context.Background(), client.ObjectKey{Namespace: chartNamespace, Name: "rsched-metrics-ca"}, cm)
		return err == nil && cm.Data["ca.crt"] != "", fmt.Sprint(err)
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cm.Data["ca.crt"])) {
		t.Fatal("ConfigMap rsched-metrics-ca holds no certificate")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: "rsched-manager-metrics." + chartNamespace + ".svc", MinVersion: tls.VersionTLS12,
	}}}
}

// metricsCertDirIsWritable: the directory --metrics-cert-dir names, where the manager writes its
// own certificate, is a writable mount of an in-memory, size-limited emptyDir, while the root file
// system stays read-only (a read-only directory, or none, and the manager cannot start).
func metricsCertDirIsWritable(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	c := managerContainer(t, d)
	dir := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--metrics-cert-dir="); ok {
			dir = v
		}
	}
	if dir == "" || !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--metrics-cert-secret=") }) {
		t.Fatalf("%s: args %v do not keep the manager's own metrics certificate", d.Name, c.Args)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: the root file system is not read-only", d.Name)
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir })
	if i < 0 || c.VolumeMounts[i].ReadOnly || c.VolumeMounts[i].SubPath != "" {
		t.Fatalf("%s: mounts %+v, want a writable volume at --metrics-cert-dir %s", d.Name, c.VolumeMounts, dir)
	}
	j := slices.IndexFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	if j < 0 {
		t.Fatalf("%s: no volume %s", d.Name, c.VolumeMounts[i].Name)
	}
	if ed := d.Spec.Template.Spec.Volumes[j].EmptyDir; ed == nil || ed.Medium != corev1.StorageMediumMemory || ed.SizeLimit == nil {
		t.Errorf("%s: volume %+v at %s, want an in-memory, size-limited emptyDir", d.Name, d.Spec.Template.Spec.Volumes[j], dir)
	}
}

// kustomizeMetricsNamesAgree: config/prometheus, rendered as config/default would include it,
// verifies the certificate the installed manager keeps (args): its serverName is the Service
// --metrics-service names, which exists and which the ServiceMonitor selects by a port named
// https, and its CA is the ConfigMap --metrics-ca-configmap names; it scrapes safely
// (scrapesSafely) with the token Secret of config/prometheus's scraper ServiceAccount, which is
// bound to the installed metrics-reader ClusterRole in that namespace. It returns config/prometheus's objects
// other than the ServiceMonitor (the scraper's), to apply.
func kustomizeMetricsNamesAgree(t *testing.T, k *testenv.Kube, args []string) string {
	t.Helper()
	const ns = "rsched-system" // config/default's
	flags := map[string]string{}
	for _, a := range args {
		if name, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok {
			flags[name] = v
		}
	}
	svc := &corev1.Service{}
	if err := k.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: flags["metrics-service"]}, svc); err != nil {
		t.Fatalf("the Service --metrics-service names: %v", err)
	}
	overlay := t.TempDir()
	rel, err := filepath.Rel(overlay, filepath.Join(testenv.RepoRoot(), "config", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "namespace: " + ns + "\nnamePrefix: rsched-\nresources:\n  - " + rel + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := k.Kubectl("kustomize", overlay)
	if err != nil {
		t.Fatalf("kubectl kustomize config/prometheus: %v\n%s", err, out)
	}
	sm := kindNames(decodeManifest(t, out))["ServiceMonitor/rsched-manager-metrics"]
	if sm == nil {
		t.Fatalf("config/prometheus renders no ServiceMonitor rsched-manager-metrics:\n%s", out)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	caName, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "configMap", "name")
	serverName, _, _ := unstructured.NestedString(ep, "tlsConfig", "serverName")
	if caName != flags["metrics-ca-configmap"] || serverName != svc.Name+"."+svc.Namespace+".svc" || !scrapesSafely(ep) {
		t.Errorf("ServiceMonitor endpoint %v does not verify the manager's own certificate (flags %v)", ep, flags)
	}
	objs := kindNames(decodeManifest(t, out))
	tokenSecret, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name")
	secret, sa, binding := objs["Secret/"+tokenSecret], objs["ServiceAccount/rsched-metrics-scraper"], objs["RoleBinding/rsched-metrics-scraper"]
	if secret == nil || sa == nil || binding == nil || secret.GetNamespace() != ns || sa.GetNamespace() != ns || binding.GetNamespace() != ns ||
		secret.Object["type"] != "kubernetes.io/service-account-token" || secret.GetAnnotations()["kubernetes.io/service-account.name"] != sa.GetName() {
		t.Fatalf("config/prometheus: the token Secret %q of a scraper ServiceAccount in %s:\n%s", tokenSecret, ns, out)
	}
	roleName, _, _ := unstructured.NestedString(binding.Object, "roleRef", "name")
	if err := k.Client.Get(context.Background(), client.ObjectKey{Name: roleName}, &rbacv1.ClusterRole{}); err != nil || roleName != "rsched-metrics-reader" ||
		fmt.Sprint(binding.Object["subjects"]) != "[map[kind:ServiceAccount name:"+sa.GetName()+" namespace:"+ns+"]]" {
		t.Errorf("config/prometheus binds %v to ClusterRole %q (%v)", binding.Object["subjects"], roleName, err)
	}
	var scraper []string
	for _, o := range []*unstructured.Unstructured{sa, secret, binding} {
		raw, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		scraper = append(scraper, string(raw))
	}
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for key, v := range selector {
		if svc.Labels[key] != v {
			t.Errorf("the ServiceMonitor selects %v; the Service %s is labelled %v", selector, svc.Name, svc.Labels)
		}
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep["port"] }) {
		t.Errorf("the Service %s has no port named %v", svc.Name, ep["port"])
	}
	return strings.Join(scraper, "---\n")
}

// metricsCertObjectsStartEmpty puts the manager's metrics certificate Secret and CA ConfigMap back
// to what a fresh install renders (no data).
func metricsCertObjectsStartEmpty(ctx context.Context, t *testing.T, k *testenv.Kube) {
	t.Helper()
	sec := &corev1.Secret{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-metrics-certs"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = nil
	cm := &corev1.ConfigMap{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "rsched-metrics-ca"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data = nil
	for _, o := range []client.Object{sec, cm} {
		if err := k.Client.Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// metricsCertObjectsKeepTheInstallsLabels: the manager filled the chart's Secret and ConfigMap
// without taking them over (app.kubernetes.io/managed-by stays Helm).
func metricsCertObjectsKeepTheInstallsLabels(ctx context.Context, t *testing.T, k *testenv.Kube) {
	t.Helper()
	sec, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	for name, o := range map[string]client.Object{"rsched-metrics-certs": sec, "rsched-metrics-ca": cm} {
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: name}, o); err != nil {
			t.Fatal(err)
		}
		if by := o.GetLabels()["app.kubernetes.io/managed-by"]; by != "Helm" {
			t.Errorf("%s is labelled managed-by %q after the manager wrote it, want the chart's Helm", name, by)
		}
	}
	if len(sec.Data["tls.crt"]) == 0 || len(sec.Data["ca.key"]) == 0 || cm.Data["ca.crt"] == "" {
		t.Errorf("the manager did not fill the chart's metrics Secret (%d keys) and ConfigMap (%d keys)", len(sec.Data), len(cm.Data))
	}
}

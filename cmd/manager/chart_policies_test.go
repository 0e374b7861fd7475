package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/testenv"
)

// What platform teams expect around the manager Deployment: a PodDisruptionBudget, a spread of
// several replicas, a NetworkPolicy for its egress, and NOTES that say what was installed.

// chartEgress turns on the egress NetworkPolicy with a Vault rule.
const chartEgress = `
networkPolicy:
  enabled: true
  egress:
    enabled: true
    apiServer:
      cidrs: [10.0.0.10/32, "fd00::10/128"]
    extraEgress:
      - to: [{ipBlock: {cidr: 10.0.5.0/24}}]
        ports: [{port: 8200, protocol: TCP}]
`

func fromUnstructured[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("no %T rendered", new(T))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChartDisruptionBudgetAndSpread(t *testing.T) {
	h := newHelm(t)
	def := decodeManifest(t, h.template(t))
	if kindNames(def)["PodDisruptionBudget/rsched-manager"] != nil {
		t.Error("the default render has a PodDisruptionBudget, which should be opt-in")
	}
	if tsc := renderedDeployment(t, def).Spec.Template.Spec.TopologySpreadConstraints; tsc != nil {
		t.Errorf("one replica: topologySpreadConstraints %v, want none", tsc)
	}

	// Several replicas and no constraints: a soft spread over nodes and zones, selecting the
	// manager pods exactly as the Deployment does.
	two := decodeManifest(t, h.template(t, "--set", "replicaCount=2"))
	d := renderedDeployment(t, two)
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 2 || tsc[0].TopologyKey != "kubernetes.io/hostname" || tsc[1].TopologyKey != "topology.kubernetes.io/zone" {
		t.Fatalf("replicaCount=2: topologySpreadConstraints %+v", tsc)
	}
	for _, c := range tsc {
		if c.MaxSkew != 1 || c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.LabelSelector == nil ||
			!reflect.DeepEqual(c.LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("replicaCount=2: constraint %+v, want maxSkew 1, ScheduleAnyway, the Deployment's selector %v", c, d.Spec.Selector.MatchLabels)
		}
	}
	// The user's constraints replace it.
	own := renderedDeployment(t, decodeManifest(t, h.template(t, "-f", valuesFile(t, chartAllFeatures)))).Spec.Template.Spec.TopologySpreadConstraints
	if len(own) != 1 || own[0].TopologyKey != "topology.kubernetes.io/zone" || own[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("with topologySpreadConstraints of the user's: %+v", own)
	}

	// The PodDisruptionBudget: maxUnavailable 1 unless told otherwise, over the Deployment's pods,
	// and a pod that is not Ready may always be evicted.
	pdb := func(args ...string) *policyv1.PodDisruptionBudget {
		t.Helper()
		objs := decodeManifest(t, h.template(t, append([]string{"--set", "podDisruptionBudget.enabled=true"}, args...)...))
		p := fromUnstructured[policyv1.PodDisruptionBudget](t, kindNames(objs)["PodDisruptionBudget/rsched-manager"])
		if p.Namespace != chartNamespace || p.Spec.Selector == nil || !reflect.DeepEqual(p.Spec.Selector.MatchLabels, renderedDeployment(t, objs).Spec.Selector.MatchLabels) ||
			p.Spec.UnhealthyPodEvictionPolicy == nil || *p.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
			t.Errorf("PodDisruptionBudget %v: %+v", args, p)
		}
		return p
	}
	for _, c := range []struct {
		args     []string
		min, max *intstr.IntOrString
	}{
		{nil, nil, ptr(intstr.FromInt32(1))},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=1"}, ptr(intstr.FromInt32(1)), nil},
		{[]string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=50%"}, ptr(intstr.FromString("50%")), nil},
		{[]string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.maxUnavailable=2"}, nil, ptr(intstr.FromInt32(2))},
		{[]string{"--set", "podDisruptionBudget.maxUnavailable=100%"}, nil, ptr(intstr.FromString("100%"))},
		// Percentages are rounded up (pkg/controller/disruption): 50% of 2 keeps 1 pod, 66% of 3
		// keeps 2, 75% of 4 keeps 3, 0% keeps none; a maxUnavailable of 1% of 2 allows 1 eviction.
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=50%"}, ptr(intstr.FromString("50%")), nil},
		{[]string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=66%"}, ptr(intstr.FromString("66%")), nil},
		{[]string{"--set", "replicaCount=4", "--set", "podDisruptionBudget.minAvailable=75%"}, ptr(intstr.FromString("75%")), nil},
		{[]string{"--set", "podDisruptionBudget.minAvailable=0%"}, ptr(intstr.FromString("0%")), nil},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.maxUnavailable=1%"}, nil, ptr(intstr.FromString("1%"))},
	} {
		p := pdb(c.args...)
		if !reflect.DeepEqual(p.Spec.MinAvailable, c.min) || !reflect.DeepEqual(p.Spec.MaxUnavailable, c.max) {
			t.Errorf("PodDisruptionBudget %v: minAvailable %v maxUnavailable %v, want %v %v", c.args, p.Spec.MinAvailable, p.Spec.MaxUnavailable, c.min, c.max)
		}
	}

	// Values that would block every drain, or say two things at once, fail with a message.
	const blocks = "blocks every node drain"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "podDisruptionBudget.minAvailable=1"}, "podDisruptionBudget.minAvailable=1 with replicaCount 1 " + blocks},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=2"}, "podDisruptionBudget.minAvailable=2 with replicaCount 2 " + blocks},
		{[]string{"--set", "podDisruptionBudget.minAvailable=50%"}, "podDisruptionBudget.minAvailable=50% with replicaCount 1 " + blocks},
		{[]string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=100%"}, "podDisruptionBudget.minAvailable=100% with replicaCount 3 " + blocks},
		// Rounded up, these keep every pod too.
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=51%"}, "podDisruptionBudget.minAvailable=51% with replicaCount 2 " + blocks + " (Kubernetes rounds a percentage up: 51% of 2 is 2,"},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=99%"}, "podDisruptionBudget.minAvailable=99% with replicaCount 2 " + blocks},
		{[]string{"--set", "replicaCount=3", "--set", "podDisruptionBudget.minAvailable=67%"}, "podDisruptionBudget.minAvailable=67% with replicaCount 3 " + blocks + " (Kubernetes rounds a percentage up: 67% of 3 is 3,"},
		{[]string{"--set", "replicaCount=4", "--set", "podDisruptionBudget.minAvailable=76%"}, "podDisruptionBudget.minAvailable=76% with replicaCount 4 " + blocks},
		{[]string{"--set", "podDisruptionBudget.minAvailable=1%"}, "podDisruptionBudget.minAvailable=1% with replicaCount 1 " + blocks},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.maxUnavailable=0"}, "podDisruptionBudget.maxUnavailable=0 " + blocks},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.maxUnavailable=0%"}, "podDisruptionBudget.maxUnavailable=0% " + blocks},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=1", "--set", "podDisruptionBudget.maxUnavailable=1"}, "set minAvailable or maxUnavailable, not both"},
		{[]string{"--set", "podDisruptionBudget.maxUnavailable=half"}, "/podDisruptionBudget/maxUnavailable"},
		{[]string{"--set", "podDisruptionBudget.minAvailble=1"}, "additional properties 'minAvailble' not allowed"},
	} {
		_, err := h.run(append([]string{"template", "rsched", h.chart, "--namespace", chartNamespace, "--set", "podDisruptionBudget.enabled=true"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template %v: %v, want a failure mentioning %q", c.args, err, c.want)
		}
	}
	// Disabled, the values are not checked against the replicas: nothing is rendered.
	if _, err := h.run("template", "rsched", h.chart, "--set", "podDisruptionBudget.minAvailable=1"); err != nil {
		t.Errorf("podDisruptionBudget.enabled=false with minAvailable=1: %v", err)
	}
}

func TestChartEgressNetworkPolicy(t *testing.T) {
	h := newHelm(t)
	if kindNames(decodeManifest(t, h.template(t, "--set", "networkPolicy.enabled=true")))["NetworkPolicy/rsched-manager-egress"] != nil {
		t.Error("networkPolicy.enabled=true alone renders the egress NetworkPolicy, which has its own opt-in")
	}

	objs := decodeManifest(t, h.template(t, "-f", valuesFile(t, chartEgress), "--set", "watchNamespaces={team-a,team-b}"))
	egress := fromUnstructured[networkingv1.NetworkPolicy](t, kindNames(objs)["NetworkPolicy/rsched-manager-egress"])
	ingress := fromUnstructured[networkingv1.NetworkPolicy](t, kindNames(objs)["NetworkPolicy/rsched-manager"])
	d := renderedDeployment(t, objs)
	if !slices.Equal(egress.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}) ||
		!reflect.DeepEqual(egress.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) || egress.Namespace != chartNamespace {
		t.Errorf("egress NetworkPolicy: policyTypes %v podSelector %v in %q", egress.Spec.PolicyTypes, egress.Spec.PodSelector, egress.Namespace)
	}
	if !slices.Equal(ingress.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("ingress NetworkPolicy policyTypes %v, want Ingress only", ingress.Spec.PolicyTypes)
	}
	rules := egress.Spec.Egress
	if len(rules) != 4 {
		t.Fatalf("egress rules %+v, want API server, DNS, scheduler metrics, Vault", rules)
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p intstr.IntOrString, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Port: &p, Protocol: &proto}
	}
	want := []networkingv1.NetworkPolicyEgressRule{
		{
			To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.10/32"}}, {IPBlock: &networkingv1.IPBlock{CIDR: "fd00::10/128"}}},
			Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(443), tcp), port(intstr.FromInt32(6443), tcp)},
		},
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(53), udp), port(intstr.FromInt32(53), tcp)},
		},
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"team-a", "team-b"},
				}}},
				PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "rsched-scheduler", "app.kubernetes.io/managed-by": "rsched"}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(builders.MetricsPort), tcp)},
		},
		{
			To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.5.0/24"}}},
			Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(8200), tcp)},
		},
	}
	if !reflect.DeepEqual(rules, want) {
		got, _ := json.Marshal(rules)
		w, _ := json.Marshal(want)
		t.Errorf("egress rules\n got %s\nwant %s", got, w)
	}
	// The scheduler rule selects the pods the operator builds and the port it scrapes during a
	// key rotation (controllers/keyrotationpolicy_rollout.go).
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "team-a"}}
	schedulerPods, _ := metav1.LabelSelectorAsSelector(rules[2].To[0].PodSelector)
	if !schedulerPods.Matches(labels.Set(builders.Labels(si))) {
		t.Errorf("the scheduler rule's podSelector %v does not select an instance's pods %v", rules[2].To[0].PodSelector, builders.Labels(si))
	}

	// Cluster-wide: the scheduler pods in every namespace. DNS and the scheduler rule can go.
	all := fromUnstructured[networkingv1.NetworkPolicy](t, kindNames(decodeManifest(t, h.template(t, "-f", valuesFile(t, chartEgress))))["NetworkPolicy/rsched-manager-egress"])
	if ns := all.Spec.Egress[2].To[0].NamespaceSelector; ns == nil || len(ns.MatchLabels)+len(ns.MatchExpressions) != 0 {
		t.Errorf("cluster-wide: the scheduler rule's namespaceSelector %v, want {} (every namespace)", ns)
	}
	fewer := fromUnstructured[networkingv1.NetworkPolicy](t, kindNames(decodeManifest(t, h.template(t, "-f", valuesFile(t, chartEgress),
		"--set", "networkPolicy.egress.dns.enabled=false", "--set", "networkPolicy.egress.schedulerMetrics=false", "--set", "networkPolicy.egress.extraEgress=null")))["NetworkPolicy/rsched-manager-egress"])
	if len(fewer.Spec.Egress) != 1 || !reflect.DeepEqual(fewer.Spec.Egress[0], want[0]) {
		t.Errorf("without DNS, scheduler metrics and extraEgress: %+v, want the API server alone", fewer.Spec.Egress)
	}

	// config/network-policy-egress is the same policy for a cluster-wide install, with a
	// documentation address in place of the API server's.
	kust := fromUnstructured[networkingv1.NetworkPolicy](t, &unstructured.Unstructured{Object: kustomizeFile(t, "network-policy-egress", "allow-manager-egress.yaml")})
	chartDefault := fromUnstructured[networkingv1.NetworkPolicy](t, kindNames(decodeManifest(t, h.template(t, "--set", "networkPolicy.egress.enabled=true",
		"--set", "networkPolicy.egress.apiServer.cidrs={192.0.2.1/32}")))["NetworkPolicy/rsched-manager-egress"])
	if !reflect.DeepEqual(kust.Spec.Egress, chartDefault.Spec.Egress) || !slices.Equal(kust.Spec.PolicyTypes, chartDefault.Spec.PolicyTypes) {
		t.Errorf("config/network-policy-egress differs from the chart's egress policy:\n%+v\n%+v", kust.Spec, chartDefault.Spec)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "networkPolicy.egress.enabled=true"}, "networkPolicy.egress.enabled needs networkPolicy.egress.apiServer.cidrs"},
		{[]string{"--set", "networkPolicy.egress.apiServer.cidrs={10.0.0.1}"}, "/networkPolicy/egress/apiServer/cidrs/0"},
		{[]string{"--set", "networkPolicy.egress.apiServer.ports={0}"}, "/networkPolicy/egress/apiServer/ports/0"},
		{[]string{"--set", "networkPolicy.egress.extraEgress[0].from[0].ipBlock.cidr=10.0.0.0/8"}, "additional properties 'from' not allowed"},
		{[]string{"--set", "networkPolicy.egress.extraEgress[0].ports[0].protocol=ICMP"}, "/networkPolicy/egress/extraEgress/0/ports/0/protocol"},
		{[]string{"--set", "networkPolicy.egress.vault=10.0.0.1"}, "additional properties 'vault' not allowed"},
	} {
		_, err := h.run(append([]string{"template", "rsched", h.chart, "--namespace", chartNamespace}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template %v: %v, want a failure mentioning %q", c.args, err, c.want)
		}
	}
}

// TestChartPoliciesApplyAndNotesTellWhatIsInstalled: the rendered PodDisruptionBudget and
// NetworkPolicies (and config/network-policy-egress) pass a server-side dry run on a real API
// server, and the NOTES `helm install` prints describe exactly what it rendered.
func TestChartPoliciesApplyAndNotesTellWhatIsInstalled(t *testing.T) {
	h := newHelm(t)
	k := testenv.StartKube(t)
	ctx := context.Background()
	for _, name := range []string{chartNamespace, "team-a", "team-b"} {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}

	// Server-side dry run of the policies, with every option on.
	var docs []string
	for _, o := range decodeManifest(t, h.template(t, "-f", valuesFile(t, chartEgress), "--set", "replicaCount=2",
		"--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=1", "--set", "watchNamespaces={team-a,team-b}")) {
		if o.GetKind() == "NetworkPolicy" || o.GetKind() == "PodDisruptionBudget" {
			raw, err := sigsyaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(raw))
		}
	}
	f := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(f, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := k.Kubectl("apply", "--server-side", "--dry-run=server", "-f", f)
	for _, want := range []string{
		"networkpolicy.networking.k8s.io/rsched-manager serverside-applied (server dry run)",
		"networkpolicy.networking.k8s.io/rsched-manager-egress serverside-applied (server dry run)",
		"poddisruptionbudget.policy/rsched-manager serverside-applied (server dry run)",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("kubectl apply --dry-run=server of the chart's policies lacks %q: %v\n%s", want, err, out)
		}
	}
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("the chart's policies drew warnings:\n%s", out)
	}
	// config/network-policy-egress as config/default includes it when its line is uncommented.
	overlay := t.TempDir()
	rel, err := filepath.Rel(overlay, filepath.Join(testenv.RepoRoot(), "config", "network-policy-egress"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte("namespace: rsched-system\nnamePrefix: rsched-\nresources:\n  - "+rel+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = k.Kubectl("apply", "--server-side", "--dry-run=server", "-k", overlay)
	if err != nil || !strings.Contains(out, "networkpolicy.networking.k8s.io/rsched-manager-egress serverside-applied (server dry run)") {
		t.Errorf("kubectl apply --dry-run=server of config/network-policy-egress: %v\n%s", err, out)
	}

	notesChecks(t, h, k)
}

// installDryRun is what `helm install --dry-run` prints for the values: the manifest and the NOTES.
func installDryRun(t *testing.T, h *helmCLI, k *testenv.Kube, values string) ([]*unstructured.Unstructured, string) {
	t.Helper()
	hk := *h
	hk.env = append(slices.Clone(h.env), "KUBECONFIG="+k.Kubeconfig)
	// crds.enabled=false: the test API server has the CRDs already, not owned by a release.
	out, err := hk.run("install", "rsched", h.chart, "--namespace", chartNamespace, "--dry-run=client", "-o", "json",
		"-f", valuesFile(t, values), "--set", "crds.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Manifest string `json:"manifest"`
		Info     struct {
			Notes string `json:"notes"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &rel); err != nil {
		t.Fatalf("helm install -o json: %v\n%s", err, out)
	}
	if rel.Info.Notes == "" {
		t.Fatal("helm install --dry-run printed no NOTES")
	}
	return decodeManifest(t, rel.Manifest), rel.Info.Notes
}

func notesChecks(t *testing.T, h *helmCLI, k *testenv.Kube) {
	t.Helper()
	notesSay := func(what, notes string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(notes, l) {
				t.Errorf("%s: NOTES lack %q:\n%s", what, l, notes)
			}
		}
	}

	// The defaults: cluster-wide, the manager's own metrics CA, nothing optional.
	list, notes := installDryRun(t, h, k, "{}")
	objs := kindNames(list)
	args := managerContainer(t, fromUnstructured[appsv1.Deployment](t, objs["Deployment/rsched-manager"])).Args
	if objs["ClusterRole/rsched-manager"] == nil || !slices.Contains(args, "--metrics-ca-configmap=rsched-metrics-ca") || !slices.Contains(args, "--metrics-cert-secret=rsched-metrics-certs") {
		t.Fatalf("default install: ClusterRole %v, args %v", objs["ClusterRole/rsched-manager"] != nil, args)
	}
	notesSay("defaults", notes,
		"- Cluster-wide mode: the manager's ClusterRole rsched-manager covers every namespace",
		"- ServiceAccount tokens: not granted",
		"- Metrics certificate: the manager's own CA, kept in Secret rsched-metrics-certs; its CA certificate is published in\n  ConfigMap rsched-metrics-ca",
		"- ClusterTrustBundles: off.",
		"- Ingress NetworkPolicy: none",
		"- Egress NetworkPolicy: none (networkPolicy.egress.enabled=false); the manager may connect anywhere.",
		"- PodDisruptionBudget: none",
		"- Spread: none (one replica).")

	// Namespaced, with everything this file adds: the NOTES name the namespaces that got Roles,
	// the policies rendered and what the egress allows.
	list, notes = installDryRun(t, h, k, chartEgress+`
replicaCount: 2
watchNamespaces: [team-a, team-b]
podDisruptionBudget: {enabled: true, minAvailable: 1}
metrics: {certificate: {secretName: my-metrics-tls}}
rbac: {serviceAccountTokenCreate: {enabled: true}}
`)
	objs = kindNames(list)
	var roleNamespaces []string
	for _, o := range list {
		if o.GetKind() == "Role" && o.GetName() == "rsched-manager" {
			roleNamespaces = append(roleNamespaces, o.GetNamespace())
		}
	}
	slices.Sort(roleNamespaces)
	if !slices.Equal(roleNamespaces, []string{"team-a", "team-b"}) || objs["ClusterRole/rsched-manager"] != nil {
		t.Errorf("namespaced install: Roles in %v, ClusterRole %v", roleNamespaces, objs["ClusterRole/rsched-manager"] != nil)
	}
	for _, name := range []string{"NetworkPolicy/rsched-manager", "NetworkPolicy/rsched-manager-egress", "PodDisruptionBudget/rsched-manager"} {
		if objs[name] == nil {
			t.Errorf("namespaced install renders no %s", name)
		}
	}
	notesSay("namespaced", notes,
		"- Namespaced mode: the manager works in "+strings.Join(roleNamespaces, ", ")+" only, with Roles there and nothing cluster-wide.",
		"- ServiceAccount tokens (Vault kubernetes auth): the manager may request them in team-a, team-b, and the admission policy",
		"- Metrics certificate: your Secret my-metrics-tls",
		"- Ingress NetworkPolicy rsched-manager: metrics (8443) only from namespaces labelled metrics=enabled, probes (8081) from anywhere.",
		"- Egress NetworkPolicy rsched-manager-egress: the manager may connect only to",
		"the API server at 10.0.0.10/32, fd00::10/128, TCP 443, 6443",
		"DNS (UDP and TCP 53) to pods k8s-app=kube-dns in namespace kube-system",
		"the scheduler pods' metrics port (TCP 9090) in team-a, team-b",
		`{"ports":[{"port":8200,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.0.5.0/24"}}]} (networkPolicy.egress.extraEgress)`,
		"- PodDisruptionBudget rsched-manager: minAvailable 1 of 2 replica(s).",
		"- Spread: 2 replicas spread where possible (ScheduleAnyway) over kubernetes.io/hostname and topology.kubernetes.io/zone.")
	if strings.Contains(notes, "Cluster-wide") || strings.Contains(notes, "manager's own CA") {
		t.Errorf("namespaced NOTES still describe the defaults:\n%s", notes)
	}

	// Egress without Vault says so; ClusterTrustBundles and the user's spread are reported.
	list, notes = installDryRun(t, h, k, `
replicaCount: 3
clusterTrustBundles: {enabled: true}
networkPolicy: {egress: {enabled: true, apiServer: {cidrs: [10.0.0.10/32]}}}
podDisruptionBudget: {enabled: true}
topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}]
`)
	if kindNames(list)["ClusterRole/rsched-cluster-trust-bundles"] == nil {
		t.Error("clusterTrustBundles.enabled renders no ClusterRole rsched-cluster-trust-bundles")
	}
	notesSay("cluster trust bundles", notes,
		"- ClusterTrustBundles: on",
		"the admission policy\n  rsched-cluster-trust-bundles.rsched-system refuses the manager any other bundle (named otherwise, or with a signerName).",
		"and nothing else: Vault is NOT reachable",
		"- PodDisruptionBudget rsched-manager: maxUnavailable 1 of 3 replica(s).",
		"- Spread: your topologySpreadConstraints (1).")
}

// TestChartValuesAreDocumented: every value in values.yaml has a row in docs/helm.md, by its full
// path or by an enclosing object's (podSecurityContext, resources, a LabelSelector).
func TestChartValuesAreDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "rsched-operator", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := sigsyaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "helm.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := func(path []string) bool {
		for i := len(path); i > 0; i-- {
			if strings.Contains(string(doc), "| `"+strings.Join(path[:i], ".")+"`") ||
				strings.Contains(string(doc), ", `"+strings.Join(path[:i], ".")+"`") {
				return true
			}
		}
		return false
	}
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, sub := range m {
				walk(append(slices.Clone(path), k), sub)
			}
			return
		}
		if !documented(path) {
			t.Errorf("value %s has no row in docs/helm.md", strings.Join(path, "."))
		}
	}
	walk(nil, values)
}

package builders_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
)

// The truth table checks what the generated NetworkPolicies mean, not how they are spelled: every
// flow is evaluated by cyclonus's policy engine (the one its CLI uses to explain policies), so a
// rule that is written correctly but means the wrong thing (a missing namespaceSelector, a peer
// list split in two, a forgotten protocol) fails here. The expected verdicts come from the intent
// in docs/network-policies.md, which renders the same rows; TestNetworkPolicyTruthTableIsDocumented
// keeps the two in step.

const truthOperatorNS = "rsched-system"

// endpoint is one end of a flow: a pod (its namespace and labels) or an address outside the
// cluster.
type endpoint struct {
	doc  string // how docs/network-policies.md names it
	peer *matcher.TrafficPeer
}

func pod(doc, namespace, ip string, labels map[string]string) endpoint {
	return endpoint{doc: doc, peer: &matcher.TrafficPeer{IP: ip, Internal: &matcher.InternalPeer{
		Namespace: namespace,
		// The API server sets this label on every namespace; the policies select namespaces by it.
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
		PodLabels:       labels,
	}}}
}

func address(doc, ip string) endpoint {
	return endpoint{doc: doc, peer: &matcher.TrafficPeer{IP: ip}}
}

// The world of the truth table. Pods have addresses in a pod network (10.244.0.0/16) that no
// ipBlock of the example spec covers, so a pod is reached only through a pod/namespace rule.
var (
	// The labels the policies are documented to select, plus one a Deployment adds.
	schedulerLabels = map[string]string{
		"app.kubernetes.io/name":     "rsched-scheduler",
		"app.kubernetes.io/instance": "demo",
		"pod-template-hash":          "5d8f7c",
	}
	scheduler     = pod("scheduler pod", "scheduling", "10.244.1.10", schedulerLabels)
	otherReplica  = pod("another scheduler pod of `demo`", "scheduling", "10.244.2.11", schedulerLabels)
	schedulingPod = pod("other pod in `scheduling`", "scheduling", "10.244.2.12", map[string]string{"app": "batch"})
	frontend      = pod("frontend pod (`web`, `app=frontend`)", "web", "10.244.1.20", map[string]string{"app": "frontend"})
	webOther      = pod("other pod in `web`", "web", "10.244.1.21", map[string]string{"app": "cache"})
	shopFrontend  = pod("`app=frontend` pod in `shop`", "shop", "10.244.1.30", map[string]string{"app": "frontend"})
	defaultPod    = pod("pod in `default`", "default", "10.244.1.40", map[string]string{"run": "debug"})
	operator      = pod("operator pod (`rsched-system`)", truthOperatorNS, "10.244.1.50",
		map[string]string{"app.kubernetes.io/name": "rsched-operator", "control-plane": "controller-manager"})
	operatorNSPod = pod("other pod in `rsched-system`", truthOperatorNS, "10.244.1.51", map[string]string{"app": "anything"})
	kubeDNS       = pod("kube-dns pod (`kube-system`, `k8s-app=kube-dns`)", "kube-system", "10.244.0.2", map[string]string{"k8s-app": "kube-dns"})
	kubeSystemPod = pod("other pod in `kube-system`", "kube-system", "10.244.0.3", map[string]string{"k8s-app": "metrics-server"})
	fakeDNS       = pod("`k8s-app=kube-dns` pod in `web`", "web", "10.244.1.22", map[string]string{"k8s-app": "kube-dns"})
	vaultPod      = pod("Vault pod (`vault`)", "vault", "10.244.3.10", map[string]string{"app.kubernetes.io/name": "vault"})
	externalDNS   = address("DNS server 192.0.2.53", "192.0.2.53")
	database      = address("database 10.0.5.10", "10.0.5.10")
	notDatabase   = address("10.0.6.10, outside the database CIDR", "10.0.6.10")
	internet      = address("internet address 203.0.113.10", "203.0.113.10")
	client        = address("client outside the cluster, 198.51.100.7", "198.51.100.7")
)

// truthInstance is the example of the truth table: policy left to its default (Enforce),
// frontends of namespace "web" as clients, a database outside the cluster, and Vault in namespace
// "vault".
func truthInstance(mutations ...func(*rschedv1.SchedulerInstance)) *rschedv1.SchedulerInstance {
	tcpPort := func(p int32) networkingv1.NetworkPolicyPort {
		proto, port := corev1.ProtocolTCP, intstr.FromInt32(p)
		return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
	}
	namespace := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": name}}
	}
	si := &rschedv1.SchedulerInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "scheduling"},
		Spec: rschedv1.SchedulerInstanceSpec{
			Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "pg", Key: "url"}},
			Vault:    &rschedv1.VaultSpec{Address: "https://vault.vault.svc:8200"},
			Network: rschedv1.NetworkSpec{
				IngressFrom: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: namespace("web"),
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}},
				}},
				EgressTo: &rschedv1.EgressSpec{
					Database: &rschedv1.EgressRule{
						To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.5.0/24"}}},
						Ports: []networkingv1.NetworkPolicyPort{tcpPort(5432)},
					},
					Vault: &rschedv1.EgressRule{
						To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespace("vault")}},
						Ports: []networkingv1.NetworkPolicyPort{tcpPort(8200)},
					},
				},
			},
		},
	}
	for _, m := range mutations {
		m(si)
	}
	return si
}

// flow is one row of the truth table: a new connection from one endpoint to another.
type flow struct {
	from, to endpoint
	port     int
	proto    corev1.Protocol
	allowed  bool
	why      string
}

const (
	allow = true
	deny  = false
	tcp   = corev1.ProtocolTCP
	udp   = corev1.ProtocolUDP
)

type truthCase struct {
	name  string // the subtest
	title string // the heading of its table in the docs
	spec  func(*rschedv1.SchedulerInstance)
	flows []flow
}

func truthTable() []truthCase {
	return []truthCase{
		{
			name:  "example",
			title: "The example spec",
			flows: []flow{
				// Into the scheduler pod.
				{frontend, scheduler, 8080, tcp, allow, "`ingressFrom`: namespace and pod both match"},
				{frontend, scheduler, 9090, tcp, allow, "metrics go to the same peers as the API"},
				{frontend, scheduler, 5432, tcp, deny, "only 8080 and 9090 are open"},
				{frontend, scheduler, 8081, tcp, deny, "only 8080 and 9090 are open"},
				{frontend, scheduler, 8080, udp, deny, "the open ports are TCP"},
				{webOther, scheduler, 8080, tcp, deny, "the namespace matches but the pod does not, and one peer needs both"},
				{webOther, scheduler, 9090, tcp, deny, "the namespace matches but the pod does not, and one peer needs both"},
				{shopFrontend, scheduler, 8080, tcp, deny, "the pod matches but the namespace does not"},
				{defaultPod, scheduler, 8080, tcp, deny, "not in `ingressFrom`"},
				{operator, scheduler, 8080, tcp, allow, "the operator's namespace: health checks"},
				{operator, scheduler, 9090, tcp, allow, "the operator's namespace: key-rotation reads of the metrics"},
				{operator, scheduler, 5432, tcp, deny, "only 8080 and 9090 are open"},
				{operatorNSPod, scheduler, 8080, tcp, allow, "the rule admits the whole operator namespace, not only the operator"},
				{otherReplica, scheduler, 8080, tcp, deny, "the pods of an instance do not call each other"},
				{otherReplica, scheduler, 9090, tcp, deny, "the pods of an instance do not call each other"},
				{schedulingPod, scheduler, 8080, tcp, deny, "sharing the instance's namespace is not enough"},
				{kubeDNS, scheduler, 8080, tcp, deny, "DNS is allowed outbound only"},
				{client, scheduler, 8080, tcp, deny, "no `ipBlock` in `ingressFrom`"},
				// Out of the scheduler pod.
				{scheduler, kubeDNS, 53, udp, allow, "name resolution"},
				{scheduler, kubeDNS, 53, tcp, allow, "name resolution, answers too large for UDP"},
				{scheduler, kubeDNS, 9153, tcp, deny, "DNS is port 53 only"},
				{scheduler, kubeSystemPod, 53, udp, deny, "DNS only to pods labelled `k8s-app: kube-dns`"},
				{scheduler, fakeDNS, 53, udp, deny, "the kube-dns label counts only in `kube-system`"},
				{scheduler, externalDNS, 53, udp, deny, "no DNS server outside the cluster: it could carry data out"},
				{scheduler, database, 5432, tcp, allow, "`egressTo.database`"},
				{scheduler, database, 5433, tcp, deny, "only the port given for the database"},
				{scheduler, database, 5432, udp, deny, "the database port is TCP"},
				{scheduler, notDatabase, 5432, tcp, deny, "outside the database CIDR"},
				{scheduler, vaultPod, 8200, tcp, allow, "`egressTo.vault`, and `spec.vault` is set"},
				{scheduler, vaultPod, 8201, tcp, deny, "only the port given for Vault"},
				{scheduler, internet, 443, tcp, deny, "not in `egressTo`"},
				{scheduler, frontend, 8080, tcp, deny, "no calls to clients (answers to their requests are allowed)"},
				{scheduler, otherReplica, 8080, tcp, deny, "the pods of an instance do not call each other"},
				{scheduler, operator, 8443, tcp, deny, "the server does not call the operator"},
			},
		},
		{
			name:  "no ingressFrom",
			title: "The example spec without `ingressFrom`",
			spec:  func(si *rschedv1.SchedulerInstance) { si.Spec.Network.IngressFrom = nil },
			flows: []flow{
				{frontend, scheduler, 8080, tcp, deny, "an empty `ingressFrom` admits no client"},
				{defaultPod, scheduler, 8080, tcp, deny, "an empty `ingressFrom` admits no client"},
				{client, scheduler, 8080, tcp, deny, "an empty `ingressFrom` admits no client"},
				{operator, scheduler, 8080, tcp, allow, "the operator's namespace: health checks"},
				{operator, scheduler, 9090, tcp, allow, "the operator's namespace: key-rotation reads of the metrics"},
				{scheduler, kubeDNS, 53, udp, allow, "egress does not depend on `ingressFrom`"},
				{scheduler, database, 5432, tcp, allow, "egress does not depend on `ingressFrom`"},
			},
		},
		{
			name:  "no vault",
			title: "The example spec without `spec.vault`",
			spec:  func(si *rschedv1.SchedulerInstance) { si.Spec.Vault = nil },
			flows: []flow{
				{scheduler, vaultPod, 8200, tcp, deny, "`egressTo.vault` takes effect only while `spec.vault` is set"},
				{scheduler, database, 5432, tcp, allow, "`egressTo.database`"},
			},
		},
		{
			name:  "disabled",
			title: "The example spec with `policy: Disabled`",
			spec:  func(si *rschedv1.SchedulerInstance) { si.Spec.Network.Policy = rschedv1.NetworkPolicyDisabled },
			flows: []flow{
				{frontend, scheduler, 8080, tcp, allow, "no policy selects the pods"},
				{defaultPod, scheduler, 8080, tcp, allow, "no policy selects the pods"},
				{client, scheduler, 8081, tcp, allow, "no policy selects the pods"},
				{scheduler, internet, 443, tcp, allow, "no policy selects the pods"},
				{scheduler, database, 5433, tcp, allow, "no policy selects the pods"},
			},
		},
	}
}

func verdict(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}

func TestNetworkPolicyTruthTable(t *testing.T) {
	for _, tc := range truthTable() {
		t.Run(tc.name, func(t *testing.T) {
			var mutations []func(*rschedv1.SchedulerInstance)
			if tc.spec != nil {
				mutations = append(mutations, tc.spec)
			}
			policies := builders.NetworkPolicies(truthInstance(mutations...), truthOperatorNS)
			engine := matcher.BuildNetworkPolicies(false, policies)
			for _, f := range tc.flows {
				traffic := &matcher.Traffic{Source: f.from.peer, Destination: f.to.peer, ResolvedPort: f.port, Protocol: f.proto}
				// Both ends count, as in a cluster: the source's egress and the destination's ingress.
				result := engine.IsTrafficAllowed(traffic)
				if got := result.IsAllowed(); got != f.allowed {
					t.Errorf("%s -> %s %d/%s: %s, want %s (%s)\n%s%s",
						f.from.doc, f.to.doc, f.port, f.proto, verdict(got), verdict(f.allowed), f.why,
						traffic.Table(), result.Table())
				}
			}
		})
	}
}

// renderTruthTable is the Markdown of one case as docs/network-policies.md shows it.
func renderTruthTable(tc truthCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", tc.title)
	b.WriteString("| From | To | Port | Verdict | Why |\n|---|---|---|---|---|\n")
	for _, f := range tc.flows {
		fmt.Fprintf(&b, "| %s | %s | %d/%s | %s | %s |\n", f.from.doc, f.to.doc, f.port, f.proto, verdict(f.allowed), f.why)
	}
	return b.String()
}

// The docs promise that their truth table is the one checked here; this holds them to it.
func TestNetworkPolicyTruthTableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/network-policies.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range truthTable() {
		if want := renderTruthTable(tc); !strings.Contains(string(doc), want) {
			t.Errorf("docs/network-policies.md does not show the truth table %q as tested; it should read:\n\n%s", tc.title, want)
		}
	}
}

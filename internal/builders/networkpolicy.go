package builders

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// Purposes of the instance's NetworkPolicies (see NetworkPolicyName): when spec.network.policy
// becomes Disabled, NetworkPolicies returns nothing, and these names are what is left to delete.
const (
	PolicyDefaultDeny = "default-deny"
	PolicyAPI         = "api"
)

// Where cluster DNS is assumed to run: the label that kubeadm, kind, GKE, EKS and AKS all put on
// CoreDNS/kube-dns pods, in kube-system. Clusters with DNS elsewhere (OpenShift, NodeLocal
// DNSCache) need an extra egress rule; docs/network-policies.md says how.
const (
	dnsNamespace   = "kube-system"
	dnsPodLabelKey = "k8s-app"
	dnsPodLabel    = "kube-dns"
	dnsPort        = 53
	// namespaceNameLabel is set by the API server on every namespace and cannot be forged by a
	// namespace's owner, which makes it the safe way to select one namespace by name.
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// NetworkPolicies isolates the API server pods: nothing in or out except what the spec allows, DNS,
// and the operator's health checks and key-rotation scrapes. It returns nil unless spec.network.policy is Enforce (the
// default, also when the field is empty). operatorNamespace is where the manager runs; when empty
// no operator rule is written.
//
// Two policies select the same pods. "default-deny" allows nothing and exists on its own so that
// isolation never depends on the allow rules being correct: if "api" were deleted or emptied, the
// pods would be cut off rather than opened up. "api" holds every allowed flow. NetworkPolicies
// are additive, so a user who needs more (a Prometheus namespace, a second DNS) adds a policy of
// their own selecting the same pods; nothing they add can be undone by these.
//
// User peers and ports are copied as given, with one normalisation: a port without a protocol
// gets TCP, which is what it means and what the API server would store.
func NetworkPolicies(si *rschedv1.SchedulerInstance, operatorNamespace string) []*networkingv1.NetworkPolicy {
	if mode := si.Spec.Network.Policy; mode != "" && mode != rschedv1.NetworkPolicyEnforce {
		return nil
	}
	return []*networkingv1.NetworkPolicy{
		networkPolicy(si, PolicyDefaultDeny, nil, nil),
		networkPolicy(si, PolicyAPI, apiIngress(si, operatorNamespace), apiEgress(si)),
	}
}

func networkPolicy(si *rschedv1.SchedulerInstance, purpose string, in []networkingv1.NetworkPolicyIngressRule, out []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      NetworkPolicyName(si, purpose),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
			// Both types, always: a policy type left out would leave that direction open, and
			// the API server would infer the types from the rules present.
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     in,
			Egress:      out,
		},
	}
}

// apiIngress: the API and metrics ports from spec.network.ingressFrom, and both from the
// operator's namespace: the API port for its health checks, the metrics port because a key
// rotation reads there, pod by pod, which keyring version each pod has loaded and how far its
// rewrap has got, before the operator drops an old encryption key.
//
// An empty ingressFrom writes no client rule at all. A rule with no peers would mean "from
// everywhere", the opposite of what an empty list says in the API (no client may reach the pods
// until the user names who may).
func apiIngress(si *rschedv1.SchedulerInstance, operatorNamespace string) []networkingv1.NetworkPolicyIngressRule {
	var rules []networkingv1.NetworkPolicyIngressRule
	if from := si.Spec.Network.IngressFrom; len(from) > 0 {
		// Metrics go to the same peers as the API: the spec has no separate list for scrapers,
		// and a scraper elsewhere is one extra policy of the user's (docs/network-policies.md).
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  copyPeers(from),
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(APIPort), tcpPort(MetricsPort)},
		})
	}
	if operatorNamespace != "" {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{namespacePeer(operatorNamespace)},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(APIPort), tcpPort(MetricsPort)},
		})
	}
	return rules
}

// apiEgress: DNS, then the user's destinations in spec order (database, Vault, extra). Vault is
// allowed only while spec.vault is set, so a stale egressTo.vault left after removing Vault does
// not keep a hole open.
func apiEgress(si *rschedv1.SchedulerInstance) []networkingv1.NetworkPolicyEgressRule {
	rules := []networkingv1.NetworkPolicyEgressRule{dnsRule()}
	to := si.Spec.Network.EgressTo
	if to == nil {
		return rules
	}
	if to.Database != nil {
		rules = append(rules, egressRule(to.Database))
	}
	if to.Vault != nil && si.Spec.Vault != nil {
		rules = append(rules, egressRule(to.Vault))
	}
	for i := range to.Extra {
		rules = append(rules, egressRule(&to.Extra[i]))
	}
	return rules
}

// dnsRule allows name lookups (UDP, and TCP for large answers) to kube-dns pods only. Without it
// the server could not resolve the database host; with "any destination on port 53" instead, a
// compromised pod could tunnel data out through any DNS server.
func dnsRule() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: dnsNamespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{dnsPodLabelKey: dnsPodLabel}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(dnsPort))},
			tcpPort(dnsPort),
		},
	}
}

// egressRule copies a user rule. Empty "to" means any destination on the ports and empty "ports"
// all ports of the peers, exactly as the EgressRule API documents; admission guarantees that at
// least one of them is set, so a rule never opens everything.
func egressRule(r *rschedv1.EgressRule) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: copyPeers(r.To), Ports: copyPorts(r.Ports)}
}

func namespacePeer(namespace string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: namespace}},
	}
}

func tcpPort(port int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(port))}
}

func copyPeers(in []networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	if len(in) == 0 {
		return nil
	}
	out := make([]networkingv1.NetworkPolicyPeer, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

// copyPorts copies ports and fills in the protocol the API server would default (TCP), so that
// the stored policy equals the desired one.
func copyPorts(in []networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyPort {
	if len(in) == 0 {
		return nil
	}
	out := make([]networkingv1.NetworkPolicyPort, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
		if out[i].Protocol == nil {
			out[i].Protocol = ptr(corev1.ProtocolTCP)
		}
	}
	return out
}

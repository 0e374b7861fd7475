package builders

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

const operatorNS = "rsched-system"

var (
	ingressController = networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}},
	}
	dbPeer    = networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.20.0.0/16", Except: []string{"10.20.1.0/24"}}}
	vaultPeer = networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "vault"}},
	}
)

func port(proto corev1.Protocol, p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr(proto), Port: &p}
}

func policiesByPurpose(t *testing.T, si *rschedv1.SchedulerInstance) (deny, api *networkingv1.NetworkPolicy) {
	t.Helper()
	ps := NetworkPolicies(si, operatorNS)
	if len(ps) != 2 {
		t.Fatalf("got %d policies, want 2", len(ps))
	}
	return ps[0], ps[1]
}

func TestNetworkPoliciesOnlyWhenEnforced(t *testing.T) {
	tests := []struct {
		mode rschedv1.NetworkPolicyMode
		want int
	}{
		{"", 2}, // the default is Enforce
		{rschedv1.NetworkPolicyEnforce, 2},
		{rschedv1.NetworkPolicyDisabled, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Network.Policy = tt.mode })
			if got := NetworkPolicies(si, operatorNS); len(got) != tt.want {
				t.Fatalf("got %d policies, want %d", len(got), tt.want)
			}
		})
	}
}

func TestNetworkPoliciesSelectTheInstancePodsInBothDirections(t *testing.T) {
	si := newInstance()
	for i, p := range NetworkPolicies(si, operatorNS) {
		wantName := []string{"demo-default-deny", "demo-api"}[i]
		if p.Name != wantName || p.Namespace != "sched" || !reflect.DeepEqual(p.Labels, Labels(si)) {
			t.Errorf("policy %d metadata = %+v", i, p.ObjectMeta)
		}
		if !reflect.DeepEqual(p.Spec.PodSelector, metav1.LabelSelector{MatchLabels: SelectorLabels(si)}) {
			t.Errorf("%s selects %+v", p.Name, p.Spec.PodSelector)
		}
		want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
		if !reflect.DeepEqual(p.Spec.PolicyTypes, want) {
			t.Errorf("%s policyTypes = %v", p.Name, p.Spec.PolicyTypes)
		}
	}
}

func TestDefaultDenyAllowsNothing(t *testing.T) {
	deny, _ := policiesByPurpose(t, with(fullNetwork))
	if deny.Spec.Ingress != nil || deny.Spec.Egress != nil {
		t.Fatalf("default-deny has rules: %+v", deny.Spec)
	}
}

func TestAPIIngress(t *testing.T) {
	operatorRule := networkingv1.NetworkPolicyIngressRule{
		From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"kubernetes.io/metadata.name": operatorNS},
		}}},
		// The API port for health checks, the metrics port for the key-rotation scrapes.
		Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(8080)), port(corev1.ProtocolTCP, intstr.FromInt32(9090))},
	}
	tests := []struct {
		name  string
		from  []networkingv1.NetworkPolicyPeer
		opNS  string
		rules []networkingv1.NetworkPolicyIngressRule
	}{
		{"no ingressFrom: only the operator's health checks and scrapes", nil, operatorNS,
			[]networkingv1.NetworkPolicyIngressRule{operatorRule}},
		{"ingressFrom reaches the API and metrics ports", []networkingv1.NetworkPolicyPeer{ingressController}, operatorNS,
			[]networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{ingressController},
				Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolTCP, intstr.FromInt32(8080)), port(corev1.ProtocolTCP, intstr.FromInt32(9090)),
				},
			}, operatorRule}},
		{"no operator namespace and no ingressFrom: no ingress at all", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Network.IngressFrom = tt.from })
			api := NetworkPolicies(si, tt.opNS)[1]
			if !equality.Semantic.DeepEqual(api.Spec.Ingress, tt.rules) {
				t.Fatalf("ingress:\n got %+v\nwant %+v", api.Spec.Ingress, tt.rules)
			}
			for _, r := range api.Spec.Ingress {
				if len(r.From) == 0 {
					t.Fatal("an ingress rule without peers admits every source")
				}
			}
		})
	}
}

func TestAPIEgressAlwaysAllowsDNSToKubeDNSOnly(t *testing.T) {
	_, api := policiesByPurpose(t, newInstance())
	want := []networkingv1.NetworkPolicyEgressRule{{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			port(corev1.ProtocolUDP, intstr.FromInt32(53)), port(corev1.ProtocolTCP, intstr.FromInt32(53)),
		},
	}}
	if !equality.Semantic.DeepEqual(api.Spec.Egress, want) {
		t.Fatalf("egress without egressTo:\n got %+v\nwant %+v", api.Spec.Egress, want)
	}
}

// fullNetwork sets every network field.
func fullNetwork(si *rschedv1.SchedulerInstance) {
	si.Spec.Vault = &rschedv1.VaultSpec{Address: "https://vault.vault.svc:8200"}
	si.Spec.Network = rschedv1.NetworkSpec{
		Policy:      rschedv1.NetworkPolicyEnforce,
		IngressFrom: []networkingv1.NetworkPolicyPeer{ingressController},
		EgressTo: &rschedv1.EgressSpec{
			Database: &rschedv1.EgressRule{
				To:    []networkingv1.NetworkPolicyPeer{dbPeer},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(5432))},
			},
			Vault: &rschedv1.EgressRule{
				To:    []networkingv1.NetworkPolicyPeer{vaultPeer},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(8200))},
			},
			Extra: []rschedv1.EgressRule{
				// Any destination on the SMTP submission port.
				{Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(587))}}},
				// All ports of one network.
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}}}},
				// A UDP port range.
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(4000)), EndPort: ptr(int32(4010))}}},
			},
		},
	}
}

func TestAPIEgressCarriesTheUsersRulesAsGiven(t *testing.T) {
	si := with(fullNetwork)
	_, api := policiesByPurpose(t, si)
	eg := api.Spec.Egress
	if len(eg) != 6 {
		t.Fatalf("got %d egress rules, want DNS + database + Vault + 3 extra", len(eg))
	}
	want := []networkingv1.NetworkPolicyEgressRule{
		{To: []networkingv1.NetworkPolicyPeer{dbPeer}, Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(5432))}},
		{To: []networkingv1.NetworkPolicyPeer{vaultPeer}, Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(8200))}},
		// A port without a protocol is TCP, written out as the API server would store it.
		{Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(587))}},
		{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}}}},
		{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(4000)), EndPort: ptr(int32(4010))}}},
	}
	if !equality.Semantic.DeepEqual(eg[1:], want) {
		t.Fatalf("egress:\n got %+v\nwant %+v", eg[1:], want)
	}

	// Copies, not aliases, and the spec itself is left untouched (no protocol written into it).
	eg[1].To[0].IPBlock.Except[0] = "0.0.0.0/0"
	if si.Spec.Network.EgressTo.Database.To[0].IPBlock.Except[0] != "10.20.1.0/24" {
		t.Fatal("the policy aliases the spec")
	}
	if si.Spec.Network.EgressTo.Extra[0].Ports[0].Protocol != nil {
		t.Fatal("building the policy changed the spec")
	}
}

func TestVaultEgressOnlyWithVault(t *testing.T) {
	si := with(fullNetwork, func(si *rschedv1.SchedulerInstance) { si.Spec.Vault = nil })
	_, api := policiesByPurpose(t, si)
	for _, r := range api.Spec.Egress {
		if len(r.To) > 0 && reflect.DeepEqual(r.To[0], vaultPeer) {
			t.Fatal("egress to Vault is open although spec.vault is unset")
		}
	}
	if len(api.Spec.Egress) != 5 {
		t.Fatalf("got %d egress rules, want DNS + database + 3 extra", len(api.Spec.Egress))
	}
}

// The API server defaults NetworkPolicy ports to TCP and infers policyTypes; every policy built
// here must already carry both so the stored object equals the desired one.
func TestNetworkPoliciesNeedNoAPIServerDefaults(t *testing.T) {
	for _, p := range NetworkPolicies(with(fullNetwork), operatorNS) {
		if len(p.Spec.PolicyTypes) == 0 {
			t.Errorf("%s: policyTypes left to the API server", p.Name)
		}
		for _, r := range p.Spec.Ingress {
			for _, pt := range r.Ports {
				if pt.Protocol == nil {
					t.Errorf("%s: ingress port %v without protocol", p.Name, pt.Port)
				}
			}
		}
		for _, r := range p.Spec.Egress {
			for _, pt := range r.Ports {
				if pt.Protocol == nil {
					t.Errorf("%s: egress port %v without protocol", p.Name, pt.Port)
				}
			}
		}
	}
}

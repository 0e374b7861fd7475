package builders

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

func TestIngress(t *testing.T) {
	if Ingress(newInstance()) != nil {
		t.Fatal("an Ingress without spec.ingress")
	}
	rule := func(host string) []networkingv1.IngressRule {
		return []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "demo", Port: networkingv1.ServiceBackendPort{Name: "https"}},
			}}},
		}}}}
	}
	for _, tt := range []struct {
		name        string
		in          rschedv1.IngressSpec
		spec        networkingv1.IngressSpec
		annotations map[string]string
	}{
		{"host only: the default class, no TLS section", rschedv1.IngressSpec{Host: "schedule.example.org"},
			networkingv1.IngressSpec{Rules: rule("schedule.example.org")}, map[string]string{}},
		{"class, own TLS Secret and annotations", rschedv1.IngressSpec{Host: "s.example.org", ClassName: "nginx", TLSSecretName: "s-tls",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}},
			networkingv1.IngressSpec{IngressClassName: ptr("nginx"), TLS: []networkingv1.IngressTLS{{Hosts: []string{"s.example.org"}, SecretName: "s-tls"}}, Rules: rule("s.example.org")},
			map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}},
		{"cert-manager ClusterIssuer", rschedv1.IngressSpec{Host: "s.example.org", IssuerRef: &rschedv1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer", Group: "cert-manager.io"}},
			networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"s.example.org"}, SecretName: "demo-ingress-tls"}}, Rules: rule("s.example.org")},
			map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"}},
		{"an external issuer", rschedv1.IngressSpec{Host: "s.example.org", IssuerRef: &rschedv1.IssuerReference{Name: "pca", Kind: "Issuer", Group: "awspca.cert-manager.io"}},
			networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"s.example.org"}, SecretName: "demo-ingress-tls"}}, Rules: rule("s.example.org")},
			map[string]string{"cert-manager.io/issuer": "pca", "cert-manager.io/issuer-kind": "Issuer", "cert-manager.io/issuer-group": "awspca.cert-manager.io"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			si := newInstance()
			si.Spec.Ingress = &tt.in
			got := Ingress(si)
			if got.Name != "demo" || got.Namespace != si.Namespace || !equality.Semantic.DeepEqual(got.Spec, tt.spec) || !equality.Semantic.DeepEqual(got.Annotations, tt.annotations) {
				t.Fatalf("got %+v %+v\nwant %+v %+v", got.Spec, got.Annotations, tt.spec, tt.annotations)
			}
		})
	}
}

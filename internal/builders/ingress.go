package builders

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// IngressName is the instance's Ingress (spec.ingress).
func IngressName(si *rschedv1.SchedulerInstance) string { return si.Name }

// IngressTLSSecretName is where cert-manager's ingress-shim writes the certificate for
// spec.ingress.host when spec.ingress.issuerRef is set.
func IngressTLSSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-ingress-tls" }

// Annotations cert-manager's ingress-shim reads on an Ingress.
const (
	certManagerIssuer        = "cert-manager.io/issuer"
	certManagerClusterIssuer = "cert-manager.io/cluster-issuer"
	certManagerIssuerKind    = "cert-manager.io/issuer-kind"
	certManagerIssuerGroup   = "cert-manager.io/issuer-group"
)

// Ingress exposes the API's Service for spec.ingress.host, or is nil without spec.ingress. One
// rule, every path, to the Service's named HTTPS port; TLS for host with tlsSecretName, or with
// the Secret cert-manager fills when issuerRef is set. Its annotations are spec.ingress's plus
// cert-manager's issuer annotations.
func Ingress(si *rschedv1.SchedulerInstance) *networkingv1.Ingress {
	in := si.Spec.Ingress
	if in == nil {
		return nil
	}
	host := string(in.Host)
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{
			Name: IngressName(si), Namespace: si.Namespace, Labels: Labels(si), Annotations: IngressAnnotations(si),
		},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ServiceName(si), Port: networkingv1.ServiceBackendPort{Name: APIPortName},
						}},
					}},
				}},
			}},
		},
	}
	if in.ClassName != "" {
		ing.Spec.IngressClassName = ptr(in.ClassName)
	}
	secret := in.TLSSecretName
	if in.IssuerRef != nil {
		secret = IngressTLSSecretName(si)
	}
	if secret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: secret}}
	}
	return ing
}

// IngressAnnotations are spec.ingress.annotations plus the issuer annotations of issuerRef.
func IngressAnnotations(si *rschedv1.SchedulerInstance) map[string]string {
	in := si.Spec.Ingress
	out := make(map[string]string, len(in.Annotations)+2)
	for k, v := range in.Annotations {
		out[k] = v
	}
	if ref := in.IssuerRef; ref != nil {
		if ref.Kind == "ClusterIssuer" {
			out[certManagerClusterIssuer] = ref.Name
		} else {
			out[certManagerIssuer] = ref.Name
		}
		if ref.Group != "" && ref.Group != "cert-manager.io" {
			out[certManagerIssuerGroup] = ref.Group
			out[certManagerIssuerKind] = ref.Kind
		}
	}
	return out
}

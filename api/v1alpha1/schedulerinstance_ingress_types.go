package v1alpha1

// IngressSpec exposes the API outside the cluster through a networking.k8s.io/v1 Ingress. The
// ingress controller terminates the clients' TLS with tlsSecretName or a certificate cert-manager
// issues for host, and reaches the pods over HTTPS (the Service's port says appProtocol https;
// controllers that need an annotation for it, such as ingress-nginx, get it through annotations).
// The NetworkPolicies still admit only what spec.network names: add the ingress controller's
// namespace to network.ingressFrom.
// +kubebuilder:validation:XValidation:rule="!(has(self.tlsSecretName) && has(self.issuerRef))",message="set at most one of ingress.tlsSecretName and ingress.issuerRef"
type IngressSpec struct {
	// className is the IngressClass that serves it; empty: the cluster's default class.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClassName string `json:"className,omitempty"`

	// host is the name clients use, such as schedule.example.org.
	// +required
	Host DNSName `json:"host"`

	// tlsSecretName is a kubernetes.io/tls Secret, in this namespace, with the certificate for
	// host that the ingress controller presents to clients.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// issuerRef has cert-manager issue the certificate for host (its ingress-shim reads the
	// cert-manager.io/issuer or cert-manager.io/cluster-issuer annotation the operator sets) into
	// the Secret <instance>-ingress-tls.
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`

	// annotations are added to the Ingress, for the ingress controller (for ingress-nginx:
	// nginx.ingress.kubernetes.io/backend-protocol: HTTPS). Keys under scheduling.rsched.io/ are
	// reserved.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('scheduling.rsched.io/'))",message="ingress.annotations must not use the reserved prefix scheduling.rsched.io/"
	Annotations map[string]string `json:"annotations,omitempty"`
}

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Annotations on a SchedulerInstance that ask the operator for a certificate change. The value is
// a request id (kubectl rsched renew writes a timestamp); a new value is acted on once, and
// status.tls records the last value acted on.
const (
	// RenewCertificateAnnotation asks for a new serving certificate (new key) under the current CA.
	RenewCertificateAnnotation = "scheduling.rsched.io/renew-certificate"
	// ReplaceCAAnnotation asks for a CA key replacement: a new CA published beside the current one,
	// the serving certificate moved to it after tls.trustPropagation, the old CA dropped after
	// tls.overlap. No pod restarts.
	ReplaceCAAnnotation = "scheduling.rsched.io/replace-ca"
	// RenewCAAnnotation asks for the CA certificate to be renewed now by re-signing its key:
	// clients trusting the published CA have nothing to change.
	RenewCAAnnotation = "scheduling.rsched.io/renew-ca"
)

// TLSSpec is where the API server's serving certificate comes from. Both listeners (API and
// metrics) serve HTTPS only, always. Three ways, one at a time: by default the operator runs a CA
// of its own for the instance, issues the serving certificate from it, renews both, and publishes
// the CA in the ConfigMap <instance>-ca (key ca.crt) for clients to trust; with issuerRef,
// cert-manager issues it; with secretRef, it is yours.
// +kubebuilder:validation:XValidation:rule="!(has(self.secretRef) && has(self.issuerRef))",message="set at most one of tls.secretRef and tls.issuerRef"
// +kubebuilder:validation:XValidation:rule="!has(self.issuerRef) || [has(self.caDuration), has(self.caRenewBefore), has(self.trustPropagation), has(self.overlap)].all(x, !x)",message="tls.issuerRef: the CA is cert-manager's issuer's; caDuration, caRenewBefore, trustPropagation and overlap apply only to the operator's own CA"
// +kubebuilder:validation:XValidation:rule="!has(self.secretRef) || [has(self.duration), has(self.renewBefore), has(self.caDuration), has(self.caRenewBefore), has(self.trustPropagation), has(self.overlap), has(self.dnsNames)].all(x, !x)",message="tls.secretRef brings your own certificate: duration, renewBefore, caDuration, caRenewBefore, trustPropagation, overlap and dnsNames apply only to certificates the operator issues"
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || !has(self.renewBefore) || !self.duration.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || !self.renewBefore.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || duration(self.renewBefore) < duration(self.duration)",message="tls.renewBefore must be shorter than tls.duration"
// +kubebuilder:validation:XValidation:rule="!has(self.caDuration) || !has(self.caRenewBefore) || !self.caDuration.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || !self.caRenewBefore.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || duration(self.caRenewBefore) < duration(self.caDuration)",message="tls.caRenewBefore must be shorter than tls.caDuration"
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || !self.duration.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || duration(self.duration) <= (has(self.caDuration) && self.caDuration.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') ? duration(self.caDuration) : duration('8760h'))",message="tls.duration must not exceed tls.caDuration (default 8760h): a certificate never outlives its CA"
type TLSSpec struct {
	// secretRef names a kubernetes.io/tls Secret in this namespace holding your own serving
	// certificate (tls.crt, the chain with the serving certificate first; tls.key; optionally
	// ca.crt, which the operator then publishes in the ConfigMap <instance>-ca). The operator
	// mounts it as it is and never modifies it; renew it yourself (pods pick the new pair up
	// without a restart). Its certificate must name the Service (<instance>.<namespace>.svc) for
	// the operator's own HTTPS reads of the pods.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// issuerRef names a cert-manager Issuer (in this namespace) or ClusterIssuer: the operator
	// creates and owns a cert-manager Certificate <instance>-tls (ECDSA P-256, a new key at every
	// renewal, the Service's names plus dnsNames, duration and renewBefore as given) and mounts the
	// Secret cert-manager writes; its ca.crt, when the issuer provides one, is published in the
	// ConfigMap <instance>-ca. cert-manager must be installed. Renewal is cert-manager's.
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`

	// dnsNames are added to the serving certificate the operator issues, beside the Service's
	// names (name, name.namespace, name.namespace.svc, name.namespace.svc.cluster.local), for
	// example the host an Ingress or a load balancer exposes. Up to 32.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	DNSNames []DNSName `json:"dnsNames,omitempty"`

	// duration is the lifetime of the serving certificate the operator issues. Default 720h
	// (30 days); from 1h to 8760h, never longer than caDuration.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="tls.duration must be a duration from 1h to 8760h, such as 720h"
	Duration string `json:"duration,omitempty"`

	// renewBefore is how long before its expiry the serving certificate is renewed. Default: at
	// 2/3 of its lifetime (10 days before the end of a 30-day certificate). Shorter than duration.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('5m')",message="tls.renewBefore must be a duration of at least 5m, such as 240h"
	RenewBefore string `json:"renewBefore,omitempty"`

	// caDuration is the lifetime of the instance's CA certificate. Default 8760h (one year); from
	// 24h to 87600h. The CA is renewed by re-signing its own key, so clients trusting the published
	// CA have nothing to change.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('24h') && duration(self) <= duration('87600h')",message="tls.caDuration must be a duration from 24h to 87600h, such as 8760h"
	CADuration string `json:"caDuration,omitempty"`

	// caRenewBefore is how long before its expiry the CA certificate is renewed. Default: at 2/3
	// of its lifetime. Shorter than caDuration.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1h')",message="tls.caRenewBefore must be a duration of at least 1h, such as 720h"
	CARenewBefore string `json:"caRenewBefore,omitempty"`

	// trustPropagation is how long, during a CA key replacement, the bundle holding the old and the
	// new CA is published before the serving certificate moves to the new CA: the time every client
	// needs to re-read the ConfigMap <instance>-ca (a mounted ConfigMap reaches pods within about
	// two minutes). Default 10m; from 10s to 168h: values under two minutes outrun the kubelet and
	// are for test clusters whose clients re-read the bundle faster.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('168h')",message="tls.trustPropagation must be a duration from 10s to 168h, such as 10m"
	TrustPropagation string `json:"trustPropagation,omitempty"`

	// overlap is how long, after the serving certificate moved to a new CA, the old CA stays in the
	// bundle: pods serve the previous certificate until the kubelet refreshes their Secret volume.
	// Default 10m; from 10s to 168h: values under two minutes outrun the kubelet's refresh and are
	// for test clusters.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('168h')",message="tls.overlap must be a duration from 10s to 168h, such as 10m"
	Overlap string `json:"overlap,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// name of the Issuer or ClusterIssuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// kind is Issuer (the default, in this namespace) or ClusterIssuer.
	// +optional
	// +kubebuilder:default=Issuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`

	// group is the issuer's API group: cert-manager.io (the default), or an external issuer's.
	// +optional
	// +kubebuilder:default=cert-manager.io
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Group string `json:"group,omitempty"`
}

// DNSName is a DNS name such as schedule.example.org (lower case, no wildcard, no trailing dot).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type DNSName string

// TLSMode says where the serving certificate comes from.
type TLSMode string

// TLS modes.
const (
	// TLSOperatorManaged: the operator's CA for the instance issued it.
	TLSOperatorManaged TLSMode = "OperatorManaged"
	// TLSSecretRef: the user's Secret (tls.secretRef).
	TLSSecretRef TLSMode = "SecretRef"
	// TLSCertManager: cert-manager issued it (tls.issuerRef).
	TLSCertManager TLSMode = "CertManager"
)

// TLSStatus describes the serving certificate the pods mount and, in operator-managed mode, the
// instance's CA. Public facts only: never a key.
type TLSStatus struct {
	// mode is OperatorManaged, CertManager or SecretRef.
	// +optional
	Mode TLSMode `json:"mode,omitempty"`

	// secretName is the kubernetes.io/tls Secret the pods mount.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// dnsNames are the DNS names of the serving certificate.
	// +optional
	// +listType=atomic
	DNSNames []string `json:"dnsNames,omitempty"`

	// issuer is the serving certificate's issuer (distinguished name).
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// serialNumber is the serving certificate's serial number, in hexadecimal.
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`

	// notBefore is when the serving certificate became valid.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// notAfter is when the serving certificate expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// renewalTime is when the serving certificate is renewed (by the operator, or by cert-manager).
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`

	// caNotAfter is when the CA certificate that signed the serving certificate expires.
	// +optional
	CANotAfter *metav1.Time `json:"caNotAfter,omitempty"`

	// caRenewalTime is when the operator renews the CA certificate (operator-managed mode).
	// +optional
	CARenewalTime *metav1.Time `json:"caRenewalTime,omitempty"`

	// caReplacementPhase is the step of a CA key replacement in progress: PropagatingTrust (the
	// bundle holds the current and the next CA), Overlapping (the serving certificate moved to the
	// new CA; the bundle still holds the previous one), or empty.
	// +optional
	CAReplacementPhase string `json:"caReplacementPhase,omitempty"`

	// lastRenewRequest is the value of the renew-certificate annotation last acted on.
	// +optional
	LastRenewRequest string `json:"lastRenewRequest,omitempty"`

	// lastReplaceCARequest is the value of the replace-ca annotation last acted on.
	// +optional
	LastReplaceCARequest string `json:"lastReplaceCARequest,omitempty"`

	// lastRenewCARequest is the value of the renew-ca annotation last acted on.
	// +optional
	LastRenewCARequest string `json:"lastRenewCARequest,omitempty"`
}

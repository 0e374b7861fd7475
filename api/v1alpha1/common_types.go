package v1alpha1

// SecretKeyRef names one key of a Secret in the namespace of the object that refers to it.
type SecretKeyRef struct {
	// name of the Secret, in the same namespace as this object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data whose value is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// VaultKVRef points at one key of a secret in a Vault KV version 2 engine.
type VaultKVRef struct {
	// mount is the path at which the KV v2 secrets engine is mounted, without slashes at either
	// end. Defaults to "secret".
	// +optional
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="mount must not contain . or .. segments"
	Mount string `json:"mount,omitempty"`

	// path of the secret within the mount (the part after "<mount>/data/"), without slashes at
	// either end, for example "rsched/prod/database".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="path must not contain . or .. segments"
	Path string `json:"path"`

	// key inside the secret's data whose value is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// VaultKVCertificateRef points at a certificate and its private key, two keys of one secret in a
// Vault KV version 2 engine.
type VaultKVCertificateRef struct {
	// mount is the path at which the KV v2 secrets engine is mounted, without slashes at either
	// end. Defaults to "secret".
	// +optional
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="mount must not contain . or .. segments"
	Mount string `json:"mount,omitempty"`

	// path of the secret within the mount (the part after "<mount>/data/"), without slashes at
	// either end, for example "rsched/prod/database-client".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="path must not contain . or .. segments"
	Path string `json:"path"`

	// certificateKey is the key inside the secret's data holding the PEM certificate (the
	// certificate first, then any intermediates). Defaults to "tls.crt".
	// +optional
	// +kubebuilder:default="tls.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	CertificateKey string `json:"certificateKey,omitempty"`

	// privateKeyKey is the key inside the secret's data holding the certificate's unencrypted
	// PEM private key. Defaults to "tls.key".
	// +optional
	// +kubebuilder:default="tls.key"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	PrivateKeyKey string `json:"privateKeyKey,omitempty"`
}

// VaultKVPath is a whole secret in a Vault KV version 2 engine.
type VaultKVPath struct {
	// mount is the path at which the KV v2 secrets engine is mounted, without slashes at either
	// end. Defaults to "secret".
	// +optional
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="mount must not contain . or .. segments"
	Mount string `json:"mount,omitempty"`

	// path of the secret within the mount (the part after "<mount>/data/"), without slashes at
	// either end, for example "rsched/prod/app".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="path must not contain . or .. segments"
	Path string `json:"path"`
}

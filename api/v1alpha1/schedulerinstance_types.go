package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Durations in this API are Go duration strings ("90s", "15m", "1h30m", "168h"); the units are
// ms, s, m and h, so 30 days is written "720h". Every duration field carries one CEL rule that
// checks the format first and the bounds second: CEL's && short-circuits, so a malformed value is
// reported with the field's own message instead of a CEL evaluation error.

// SchedulerInstanceSpec is the desired state of one scheduling API server deployment.
// +kubebuilder:validation:XValidation:rule="!has(self.database.vault) || has(self.vault)",message="database.vault reads the database URL from Vault, so spec.vault (the Vault connection) must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.database.tls) || (!has(self.database.tls.caVault) && !has(self.database.tls.clientCertVault)) || has(self.vault)",message="database.tls.caVault and database.tls.clientCertVault read from Vault, so spec.vault (the Vault connection) must be set"
type SchedulerInstanceSpec struct {
	// image is the container image of the scheduling API server (cmd/scheduler), for example
	// "ghcr.io/rsched/scheduler:v0.1.0" or a digest reference. When empty, the operator uses the
	// image given to the manager with --scheduler-image.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Image string `json:"image,omitempty"`

	// replicas is the number of API server pods. Defaults to 2; 1 to 50. With more than one
	// replica the operator also creates a PodDisruptionBudget.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	Replicas *int32 `json:"replicas,omitempty"`

	// resources are the CPU and memory requests and limits of the API server container. When
	// unset, the operator applies requests of 100m CPU and 128Mi memory and a 512Mi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector constrains the API server pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations let the API server pods schedule onto nodes with matching taints.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity holds node and pod (anti-)affinity rules for the API server pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints spread the API server pods across zones or nodes. When unset and
	// replicas > 1, the operator spreads them across nodes on a best-effort basis.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName is the PriorityClass of the API server pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// podAnnotations are added to the API server pod template. Keys under
	// scheduling.rsched.io/ are reserved for the operator and rejected.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('scheduling.rsched.io/'))",message="podAnnotations must not use the reserved prefix scheduling.rsched.io/"
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// podLabels are added to the API server pod template. Keys under app.kubernetes.io/ and
	// scheduling.rsched.io/ are reserved (the operator selects its pods by them) and rejected.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('app.kubernetes.io/') && !k.startsWith('scheduling.rsched.io/'))",message="podLabels must not use the reserved prefixes app.kubernetes.io/ and scheduling.rsched.io/"
	PodLabels map[string]string `json:"podLabels,omitempty"`

	// database tells the server where its PostgreSQL database is: a connection URL
	// (postgres://user:password@host:5432/db?sslmode=verify-full) read from a Kubernetes Secret or
	// from Vault. Exactly one of urlSecretRef and vault must be set.
	// +required
	Database DatabaseSpec `json:"database"`

	// vault connects the operator to HashiCorp Vault, from which it provisions the server's
	// secrets. Optional: without it, secrets come from Kubernetes Secrets only.
	// +optional
	Vault *VaultSpec `json:"vault,omitempty"`

	// auth holds the authentication policy of the server: token lifetimes, account lockout,
	// MFA and password rules. Every field has a safe default.
	// +optional
	// +kubebuilder:default={}
	Auth AuthSpec `json:"auth,omitempty"`

	// rateLimit holds the per-client request limits of the server.
	// +optional
	// +kubebuilder:default={}
	RateLimit RateLimitSpec `json:"rateLimit,omitempty"`

	// network controls the NetworkPolicies around the API server pods.
	// +optional
	// +kubebuilder:default={}
	Network NetworkSpec `json:"network,omitempty"`

	// service is the Kubernetes Service in front of the API server pods.
	// +optional
	// +kubebuilder:default={}
	Service ServiceSpec `json:"service,omitempty"`

	// ingress, when set, exposes the API through an Ingress <instance> for host.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// security holds the browser-facing security settings: CORS origins, HSTS and CSP.
	// +optional
	// +kubebuilder:default={}
	Security SecuritySpec `json:"security,omitempty"`

	// tls is where the serving certificate of the API and metrics listeners comes from; both serve
	// HTTPS only. Empty (the default): the operator issues and renews it from a CA of its own for
	// the instance and publishes that CA in the ConfigMap <instance>-ca.
	// +optional
	// +kubebuilder:default={}
	TLS TLSSpec `json:"tls,omitempty"`

	// scheduling holds the settings of schedule generation: the program's time zone and the
	// solver's time budgets.
	// +optional
	// +kubebuilder:default={}
	Scheduling SchedulingSpec `json:"scheduling,omitempty"`
}

// SchedulingSpec are the settings of schedule generation (POST /api/v1/schedule/generate).
// +kubebuilder:validation:XValidation:rule="!has(self.defaultTimeBudget) || !has(self.maxTimeBudget) || !self.defaultTimeBudget.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || !self.maxTimeBudget.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || duration(self.defaultTimeBudget) <= duration(self.maxTimeBudget)",message="scheduling.defaultTimeBudget must not exceed scheduling.maxTimeBudget"
type SchedulingSpec struct {
	// timeZone is the residency program's IANA time zone, such as "America/Chicago": calendar
	// days, session start times (07:00 and 13:00) and the rolling 28-day windows of the ACGME
	// rules are local to it. Defaults to "UTC". A name that is well formed but unknown to the
	// time-zone database is reported as Ready=False with reason InvalidConfig, and nothing is
	// deployed with it.
	// +optional
	// +kubebuilder:default="UTC"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$') && self != 'Local'",message="scheduling.timeZone must be an IANA time zone name such as UTC or America/Chicago (not Local, which depends on the node)"
	TimeZone string `json:"timeZone,omitempty"`

	// defaultTimeBudget is how long a schedule generation request that names no budget may
	// solve. Defaults to "10s"; 100ms to maxTimeBudget.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('10m')",message="defaultTimeBudget must be a duration from 100ms to 10m, such as 10s"
	DefaultTimeBudget *metav1.Duration `json:"defaultTimeBudget,omitempty"`

	// maxTimeBudget caps the budget a request may ask for. A request holds its connection
	// while it solves, so keep it below your ingress's read timeout. Defaults to "60s"; 1s to
	// 10m.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="maxTimeBudget must be a duration from 1s to 10m, such as 60s"
	MaxTimeBudget *metav1.Duration `json:"maxTimeBudget,omitempty"`
}

// DatabaseSpec locates the PostgreSQL connection URL. Exactly one source must be set.
// +kubebuilder:validation:XValidation:rule="has(self.urlSecretRef) != has(self.vault)",message="set exactly one of database.urlSecretRef and database.vault"
type DatabaseSpec struct {
	// urlSecretRef names the key of a Secret, in this namespace, that holds the connection URL.
	// +optional
	URLSecretRef *SecretKeyRef `json:"urlSecretRef,omitempty"`

	// vault names the key of a Vault KV v2 secret that holds the connection URL. Needs spec.vault.
	// +optional
	Vault *VaultKVRef `json:"vault,omitempty"`

	// tls is how the server verifies the database: by default the URL's sslmode must be
	// verify-full (the certificate chains to a trusted CA and names the URL's host).
	// +optional
	// +kubebuilder:default={}
	TLS DatabaseTLSSpec `json:"tls,omitempty"`
}

// DatabaseTLSSpec is the TLS between the server and PostgreSQL. The operator mounts the Secrets
// it names into the pods; the server re-reads them for every new connection, so a rotated CA or
// client certificate is used without a restart (open connections close after 30 minutes).
// +kubebuilder:validation:XValidation:rule="(!has(self.mode) || self.mode == 'verify-full' || self.mode == 'verify-ca') != (has(self.insecureAllowUnverified) && self.insecureAllowUnverified)",message="database.tls.mode require or disable does not verify the database's certificate: it needs insecureAllowUnverified: true, which is refused with verify-full and verify-ca"
// +kubebuilder:validation:XValidation:rule="!has(self.caSecretRef) || !has(self.mode) || self.mode == 'verify-full' || self.mode == 'verify-ca'",message="database.tls.caSecretRef is used only with mode verify-full or verify-ca"
// +kubebuilder:validation:XValidation:rule="!has(self.caVault) || !has(self.mode) || self.mode == 'verify-full' || self.mode == 'verify-ca'",message="database.tls.caVault is used only with mode verify-full or verify-ca"
// +kubebuilder:validation:XValidation:rule="!has(self.caSecretRef) || !has(self.caVault)",message="set at most one of database.tls.caSecretRef and database.tls.caVault"
// +kubebuilder:validation:XValidation:rule="!has(self.clientCertSecretRef) || !has(self.clientCertVault)",message="set at most one of database.tls.clientCertSecretRef and database.tls.clientCertVault"
type DatabaseTLSSpec struct {
	// mode is the least verification the server accepts, and the URL's sslmode must be at least
	// as strong: verify-full (the default: the certificate chains to the CA and names the URL's
	// host), verify-ca (the chain only), or, with insecureAllowUnverified, require (TLS without
	// verification) or disable (no TLS).
	// +optional
	// +kubebuilder:default=verify-full
	// +kubebuilder:validation:Enum=verify-full;verify-ca;require;disable
	Mode string `json:"mode,omitempty"`

	// caSecretRef names the key of a Secret, in this namespace, holding the PEM CA bundle that
	// issues the database's certificate; a CloudNativePG cluster's <cluster>-ca Secret with key
	// ca.crt works as it is. Without it the server trusts the system roots of its image.
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`

	// caVault names the key of a Vault KV v2 secret holding the PEM CA bundle that issues the
	// database's certificate, instead of caSecretRef. Needs spec.vault. The operator reads it with
	// the database URL (every spec.vault.refreshInterval), refuses a value without a CA
	// certificate, and copies it into the Secret <instance>-database-tls (key ca.crt), mounted where
	// caSecretRef's would be: a new value reaches the server without a restart.
	// +optional
	CAVault *VaultKVRef `json:"caVault,omitempty"`

	// clientCertSecretRef names a kubernetes.io/tls Secret, in this namespace, whose certificate
	// (tls.crt, tls.key) the server presents to the database; with certificate authentication
	// (pg_hba cert, or clientcert=verify-full) the URL needs no password. A CloudNativePG
	// streaming-replica-style client certificate Secret works as it is.
	// +optional
	ClientCertSecretRef *LocalObjectReference `json:"clientCertSecretRef,omitempty"`

	// clientCertVault names a Vault KV v2 secret holding the client certificate (PEM, with any
	// intermediates after it) and its unencrypted PEM private key, instead of clientCertSecretRef.
	// Needs spec.vault. The operator reads it with the database URL (every
	// spec.vault.refreshInterval), refuses a certificate and key that are not a pair, and copies
	// them into the Secret <instance>-database-tls (keys tls.crt, tls.key), mounted where
	// clientCertSecretRef's would be: a renewed certificate reaches the server without a restart.
	// +optional
	ClientCertVault *VaultKVCertificateRef `json:"clientCertVault,omitempty"`

	// insecureAllowUnverified accepts a mode that does not verify the database (require or
	// disable): the server then talks to whatever answers at the database's address, and with
	// disable sends the password in clear text. For a database on the same node in a test
	// cluster only. Default false.
	// +optional
	// +kubebuilder:default=false
	InsecureAllowUnverified bool `json:"insecureAllowUnverified,omitempty"`
}

// VaultSpec is the connection to HashiCorp Vault and the secrets provisioned from it.
// +kubebuilder:validation:XValidation:rule="self.address.startsWith('https://') || (self.address.startsWith('http://') && self.insecureAllowHTTP)",message="vault.address must use https://; plain http:// is allowed only with insecureAllowHTTP: true"
type VaultSpec struct {
	// address is the base URL of the Vault server, for example "https://vault.vault.svc:8200".
	// It must use https unless insecureAllowHTTP is true.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != '' && !self.contains('@')",message="vault.address must be an absolute URL such as https://vault.example.com:8200, without credentials"
	Address string `json:"address"`

	// insecureAllowHTTP allows an http:// address. Tokens and secrets then cross the network in
	// clear text: use it only for a Vault on the same node or in development. Defaults to false.
	// +optional
	// +kubebuilder:default=false
	InsecureAllowHTTP bool `json:"insecureAllowHTTP,omitempty"`

	// caBundleSecretRef names a Secret key holding the PEM CA bundle that signs Vault's TLS
	// certificate. When unset, the system trust store is used.
	// +optional
	CABundleSecretRef *SecretKeyRef `json:"caBundleSecretRef,omitempty"`

	// namespace is the Vault Enterprise namespace to use. Leave empty for open-source Vault.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Namespace string `json:"namespace,omitempty"`

	// auth is how the operator logs in to Vault. Exactly one method must be set.
	// +required
	Auth VaultAuthSpec `json:"auth"`

	// secrets are the KV v2 secrets whose keys are provisioned for the server as files, each
	// {mount, path} at most once. Up to 32.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=mount
	// +listMapKey=path
	Secrets []VaultKVPath `json:"secrets,omitempty"`

	// refreshInterval is how often the operator re-reads the secrets from Vault. Defaults to
	// "1h"; at least "1m".
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1m')",message="refreshInterval must be a duration of at least 1m, such as 1h"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`
}

// VaultAuthSpec selects one Vault auth method.
// +kubebuilder:validation:XValidation:rule="[has(self.kubernetes), has(self.appRole), has(self.tokenSecretRef)].filter(x, x).size() == 1",message="set exactly one of vault.auth.kubernetes, vault.auth.appRole and vault.auth.tokenSecretRef"
type VaultAuthSpec struct {
	// kubernetes logs in with a short-lived, audience-bound token of the instance's own
	// ServiceAccount (Vault's kubernetes auth method). Preferred.
	// +optional
	Kubernetes *VaultKubernetesAuth `json:"kubernetes,omitempty"`

	// appRole logs in with a role ID and a secret ID (Vault's AppRole auth method).
	// +optional
	AppRole *VaultAppRoleAuth `json:"appRole,omitempty"`

	// tokenSecretRef names a Secret key holding a Vault token. The operator renews it but
	// cannot re-create it: prefer kubernetes or appRole.
	// +optional
	TokenSecretRef *SecretKeyRef `json:"tokenSecretRef,omitempty"`
}

// VaultKubernetesAuth is Vault's kubernetes auth method.
type VaultKubernetesAuth struct {
	// role is the Vault role to log in as.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	Role string `json:"role"`

	// mountPath is where the kubernetes auth method is mounted in Vault. Defaults to "kubernetes".
	// +optional
	// +kubebuilder:default=kubernetes
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`
	MountPath string `json:"mountPath,omitempty"`

	// audiences of the ServiceAccount token presented to Vault; they must match the role's
	// audience. Defaults to ["vault"].
	// +optional
	// +kubebuilder:default={vault}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=set
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Audiences []string `json:"audiences,omitempty"`
}

// VaultAppRoleAuth is Vault's AppRole auth method.
type VaultAppRoleAuth struct {
	// mountPath is where the AppRole auth method is mounted in Vault. Defaults to "approle".
	// +optional
	// +kubebuilder:default=approle
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`
	MountPath string `json:"mountPath,omitempty"`

	// roleID is the AppRole role ID. It identifies the role and is not a secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	RoleID string `json:"roleID"`

	// secretIDSecretRef names the Secret key holding the AppRole secret ID.
	// +required
	SecretIDSecretRef SecretKeyRef `json:"secretIDSecretRef"`
}

// AuthSpec is the authentication policy of the API server.
// +kubebuilder:validation:XValidation:rule="!has(self.accessTokenTTL) || !has(self.refreshTokenTTL) || !self.accessTokenTTL.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || !self.refreshTokenTTL.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') || duration(self.refreshTokenTTL) > duration(self.accessTokenTTL)",message="auth.refreshTokenTTL must be longer than auth.accessTokenTTL"
type AuthSpec struct {
	// accessTokenTTL is the lifetime of an access token. Defaults to "15m"; 1m to 1h.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('1h')",message="accessTokenTTL must be a duration from 1m to 1h, such as 15m"
	AccessTokenTTL *metav1.Duration `json:"accessTokenTTL,omitempty"`

	// refreshTokenTTL is the lifetime of a refresh token (and of the login session it keeps
	// alive). Defaults to "168h" (7 days); at least 1h and longer than accessTokenTTL.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1h')",message="refreshTokenTTL must be a duration of at least 1h, such as 168h"
	RefreshTokenTTL *metav1.Duration `json:"refreshTokenTTL,omitempty"`

	// lockout locks an account after repeated failed logins.
	// +optional
	// +kubebuilder:default={}
	Lockout LockoutSpec `json:"lockout,omitempty"`

	// mfaRequiredRoles are the user roles that must complete multi-factor authentication (TOTP)
	// to log in. Defaults to ["admin"]. An empty list turns the requirement off.
	// +optional
	// +kubebuilder:default={admin}
	// +kubebuilder:validation:MaxItems=8
	// +listType=set
	// No omitempty: an explicit [] (MFA off) must survive a round trip through a Go client, or
	// the API server would default it back to [admin].
	MFARequiredRoles []UserRole `json:"mfaRequiredRoles"`

	// passwordPolicy holds the rules for user passwords.
	// +optional
	// +kubebuilder:default={}
	PasswordPolicy PasswordPolicySpec `json:"passwordPolicy,omitempty"`
}

// UserRole is a role of a user of the scheduling API.
// +kubebuilder:validation:Enum=admin;coordinator;faculty;resident;clinical_staff;rn;lpn;msa
type UserRole string

// LockoutSpec is the account lockout policy.
type LockoutSpec struct {
	// maxFailedAttempts is the number of consecutive failed logins that lock an account.
	// Defaults to 5; 1 to 100.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxFailedAttempts int32 `json:"maxFailedAttempts,omitempty"`

	// duration is how long a locked account stays locked. Defaults to "30m"; 1m to 24h.
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="lockout.duration must be a duration from 1m to 24h, such as 30m"
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// PasswordPolicySpec holds the rules for user passwords.
type PasswordPolicySpec struct {
	// minLength is the minimum password length in characters. Defaults to 12; 8 to 128.
	// +optional
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=128
	MinLength int32 `json:"minLength,omitempty"`

	// historySize is how many previous passwords a user may not reuse. Defaults to 5; 0 to 24
	// (0 allows reuse).
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=24
	HistorySize *int32 `json:"historySize,omitempty"`

	// maxAge is how long a password stays valid before the user must change it. Defaults to
	// "2160h" (90 days); "0s" turns expiry off; otherwise at least 24h.
	// +optional
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && (duration(self) == duration('0s') || duration(self) >= duration('24h'))",message="passwordPolicy.maxAge must be 0s (no expiry) or a duration of at least 24h, such as 2160h"
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// RateLimitSpec holds the per-client request limits. Limits are shared by all replicas.
type RateLimitSpec struct {
	// login limits login attempts per client address. Defaults to 5 per 1m.
	// +optional
	// +kubebuilder:default={requests: 5, period: "1m"}
	Login *RateLimit `json:"login,omitempty"`

	// register limits registrations per client address. Defaults to 3 per 1m.
	// +optional
	// +kubebuilder:default={requests: 3, period: "1m"}
	Register *RateLimit `json:"register,omitempty"`

	// api limits all other API requests per authenticated user (per client address when
	// anonymous). Defaults to 600 per 1m.
	// +optional
	// +kubebuilder:default={requests: 600, period: "1m"}
	API *RateLimit `json:"api,omitempty"`

	// trustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For header is believed
	// when finding the client address, for example ["10.0.0.0/8"]. Empty (the default) means the
	// TCP peer address is always used. Up to 32 entries.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	TrustedProxies []CIDR `json:"trustedProxies,omitempty"`
}

// CIDR is an IPv4 or IPv6 network in CIDR notation, such as "10.0.0.0/8" or "fd00::/8".
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).prefixLength() > 0",message="must be a CIDR such as 10.0.0.0/8 or fd00::/8, and not /0 (trusting every address lets any client forge X-Forwarded-For)"
type CIDR string

// RateLimit allows a number of requests per period.
type RateLimit struct {
	// requests is the number of requests allowed per period; 1 to 1000000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Requests int32 `json:"requests"`

	// period is the window over which requests are counted; 1s to 24h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="period must be a duration from 1s to 24h, such as 1m"
	Period metav1.Duration `json:"period"`
}

// NetworkPolicyMode says whether the operator manages NetworkPolicies for an instance.
// +kubebuilder:validation:Enum=Enforce;Disabled
type NetworkPolicyMode string

const (
	// NetworkPolicyEnforce denies all traffic to and from the pods except what the spec allows.
	NetworkPolicyEnforce NetworkPolicyMode = "Enforce"
	// NetworkPolicyDisabled creates no NetworkPolicy.
	NetworkPolicyDisabled NetworkPolicyMode = "Disabled"
)

// NetworkSpec controls the NetworkPolicies around the API server pods.
type NetworkSpec struct {
	// policy is Enforce (the default) to deny all ingress and egress of the pods except what is
	// listed here, DNS to kube-dns, and the operator's namespace on the API port (health checks)
	// and the metrics port (the keyring version each pod loaded, during key rotations); or
	// Disabled to create no NetworkPolicy.
	// +optional
	// +kubebuilder:default=Enforce
	Policy NetworkPolicyMode `json:"policy,omitempty"`

	// ingressFrom are the peers allowed to reach the API port. Empty means no client may reach
	// it (only the operator, for health checks and key-rotation progress) while policy is Enforce.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	IngressFrom []networkingv1.NetworkPolicyPeer `json:"ingressFrom,omitempty"`

	// egressTo are the destinations the pods may reach while policy is Enforce.
	// +optional
	EgressTo *EgressSpec `json:"egressTo,omitempty"`
}

// EgressSpec lists the allowed egress destinations of the API server pods.
type EgressSpec struct {
	// database is where PostgreSQL runs.
	// +optional
	Database *EgressRule `json:"database,omitempty"`

	// vault is where Vault runs (needed only if the server itself talks to Vault).
	// +optional
	Vault *EgressRule `json:"vault,omitempty"`

	// extra are further allowed destinations, such as an SMTP relay. Up to 16.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Extra []EgressRule `json:"extra,omitempty"`
}

// EgressRule allows traffic to some peers on some ports.
// +kubebuilder:validation:XValidation:rule="(has(self.to) && size(self.to) > 0) || (has(self.ports) && size(self.ports) > 0)",message="an egress rule needs at least one of to and ports"
type EgressRule struct {
	// to are the destination peers. Empty means any destination on the listed ports.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	To []networkingv1.NetworkPolicyPeer `json:"to,omitempty"`

	// ports are the destination ports. Empty means all ports of the listed peers.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Ports []networkingv1.NetworkPolicyPort `json:"ports,omitempty"`
}

// ServiceSpec is the Kubernetes Service in front of the API server.
type ServiceSpec struct {
	// type is the Service type: ClusterIP (the default), NodePort or LoadBalancer.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// port is the Service port of the API. Defaults to 8080; 1 to 65535.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// annotations are added to the Service, for example the ones a cloud load balancer reads
	// (service.beta.kubernetes.io/...). Keys under scheduling.rsched.io/ are reserved. Removing a
	// key here removes it from the Service; annotations others put there are left alone.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('scheduling.rsched.io/'))",message="service.annotations must not use the reserved prefix scheduling.rsched.io/"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SecuritySpec holds the browser-facing security settings of the API server.
type SecuritySpec struct {
	// allowedOrigins are the browser origins allowed by CORS, each "scheme://host[:port]" with no
	// path, for example "https://schedule.example.org". "*" is refused because the API uses
	// credentials. Empty (the default) allows no cross-origin request. Up to 32.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	AllowedOrigins []Origin `json:"allowedOrigins,omitempty"`

	// hsts sends Strict-Transport-Security (max-age one year, includeSubDomains). Defaults to true.
	// +optional
	// +kubebuilder:default=true
	HSTS *bool `json:"hsts,omitempty"`

	// cspReportOnly sends the Content-Security-Policy as Content-Security-Policy-Report-Only,
	// which reports violations without blocking. Defaults to false (enforce).
	// +optional
	// +kubebuilder:default=false
	CSPReportOnly bool `json:"cspReportOnly,omitempty"`
}

// Origin is a browser origin: scheme://host[:port] with no path, such as https://app.example.org.
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$')",message="must be an origin such as https://schedule.example.org (scheme://host[:port], no path, no wildcard)"
type Origin string

// SchedulerInstanceStatus is the observed state of a SchedulerInstance.
type SchedulerInstanceStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Progressing, Degraded, SecretsSynced, VaultReachable,
	// NetworkPolicyApplied and CertificateReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// replicas is the number of API server pods that exist.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas is the number of API server pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// replicaSummary is "ready/desired", shown by kubectl get.
	// +optional
	ReplicaSummary string `json:"replicaSummary,omitempty"`

	// endpoint is the in-cluster URL of the API, such as https://name.namespace.svc:8080. Clients
	// verify it with the CA in the ConfigMap <instance>-ca (key ca.crt).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// lastSecretSyncTime is when secrets were last read successfully from their source.
	// +optional
	LastSecretSyncTime *metav1.Time `json:"lastSecretSyncTime,omitempty"`

	// keyVersion is the key version of the keyring the pods mount (the number in its newest key
	// ids, the KeyRotationPolicy's status.currentVersion), read from the keyring Secret.
	// +optional
	KeyVersion int64 `json:"keyVersion,omitempty"`

	// vaultFailures counts the consecutive failed attempts to read this instance's secrets from
	// Vault; the retry interval doubles with each (from 5s up to 5m) and it returns to 0 on the
	// next success. Kept in status so that an operator restart does not reset the backoff.
	// +optional
	VaultFailures int32 `json:"vaultFailures,omitempty"`

	// lastVaultFailureTime is when the last of those failed attempts was made; the next attempt
	// waits until this time plus the backoff vaultFailures sets, unless the spec changes or one
	// of the instance's Secrets is missing. Cleared with vaultFailures on the next success.
	// +optional
	LastVaultFailureTime *metav1.Time `json:"lastVaultFailureTime,omitempty"`

	// tls describes the serving certificate the pods mount (never a key).
	// +optional
	TLS *TLSStatus `json:"tls,omitempty"`
}

// SchedulerInstance deploys and runs one hardened scheduling API server: a Deployment with
// restricted Pod Security, its Service, PodDisruptionBudget, NetworkPolicies, configuration and
// secrets provisioned from Kubernetes Secrets or Vault.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=si,categories=rsched
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.replicaSummary`
// +kubebuilder:printcolumn:name="Key Version",type=integer,JSONPath=`.status.keyVersion`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Cert Expires",type=string,JSONPath=`.status.tls.notAfter`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SchedulerInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the instance.
	// +required
	Spec SchedulerInstanceSpec `json:"spec"`

	// status is the observed state of the instance, written by the operator.
	// +optional
	Status SchedulerInstanceStatus `json:"status,omitempty"`
}

// SchedulerInstanceList is a list of SchedulerInstances.
// +kubebuilder:object:root=true
type SchedulerInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SchedulerInstance `json:"items"`
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RotateAnnotation triggers one rotation when it is given a value different from
// status.lastRotateRequest, for example:
//
//	kubectl annotate krp/prod-keys scheduling.rsched.io/rotate="$(date +%s)" --overwrite
const RotateAnnotation = "scheduling.rsched.io/rotate"

// KeyRotationPolicySpec is the desired rotation of the keys of one SchedulerInstance.
type KeyRotationPolicySpec struct {
	// targetRef is the SchedulerInstance, in this namespace, whose keys are rotated. Immutable:
	// to rotate another instance, create another KeyRotationPolicy. One policy per instance: a
	// second policy naming the same instance is reported Ready=False with reason TargetConflict
	// and rotates nothing.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetRef is immutable: create a new KeyRotationPolicy to rotate the keys of another instance"
	TargetRef LocalObjectReference `json:"targetRef"`

	// keys are the keys this policy creates and rotates: one Signing key, one Encryption key, or
	// one of each, with different names. The server signs with one active key and encrypts with
	// one active key, so a purpose not listed here keeps the keys it has.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, self.exists_one(o, o.purpose == k.purpose))",message="spec.keys holds at most one Signing and one Encryption key: the server signs and encrypts with one active key each"
	// +listType=map
	// +listMapKey=name
	Keys []RotatedKey `json:"keys"`

	// schedule is when keys are rotated: exactly one of every and cron.
	// +required
	Schedule RotationSchedule `json:"schedule"`

	// gracePeriod is how long a replaced signing key still verifies tokens, so that access tokens
	// issued just before a rotation stay valid until they expire: keep it at least the instance's
	// auth.accessTokenTTL. Refresh tokens are opaque, stored server-side and not signed with these
	// keys, so their longer lifetime does not need a longer grace period. Defaults to "24h";
	// 1m to 2160h.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('2160h')",message="gracePeriod must be a duration from 1m to 2160h, such as 24h"
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`

	// retain is how many previous versions of each encryption key are kept, so that data
	// encrypted with them can still be decrypted. Defaults to 3; 1 to 20.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	Retain int32 `json:"retain,omitempty"`

	// suspend stops scheduled rotations while true; a manual rotation through the
	// scheduling.rsched.io/rotate annotation still runs. Defaults to false.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`

	// rollout is how the running servers pick up new keys: HotReload (the default) updates the
	// mounted keyring, which the servers reload without a restart; RollingRestart also restarts
	// the pods one at a time.
	// +optional
	// +kubebuilder:default=HotReload
	Rollout RolloutStrategy `json:"rollout,omitempty"`

	// storage is where key material is kept in addition to the instance's keyring Secret.
	// Without it, keys live in a Kubernetes Secret only.
	// +optional
	Storage *KeyStorage `json:"storage,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// KeyPurpose is what a key is used for.
// +kubebuilder:validation:Enum=Signing;Encryption
type KeyPurpose string

const (
	// KeyPurposeSigning keys sign and verify tokens.
	KeyPurposeSigning KeyPurpose = "Signing"
	// KeyPurposeEncryption keys encrypt and decrypt stored fields.
	KeyPurposeEncryption KeyPurpose = "Encryption"
)

// KeyAlgorithm is the algorithm of a key.
// +kubebuilder:validation:Enum=HS256;HS512;EdDSA;AES256GCM
type KeyAlgorithm string

const (
	// AlgorithmHS256 is HMAC with SHA-256 (a 32-byte random key).
	AlgorithmHS256 KeyAlgorithm = "HS256"
	// AlgorithmHS512 is HMAC with SHA-512 (a 64-byte random key).
	AlgorithmHS512 KeyAlgorithm = "HS512"
	// AlgorithmEdDSA is Ed25519 signatures.
	AlgorithmEdDSA KeyAlgorithm = "EdDSA"
	// AlgorithmAES256GCM is AES-256 in GCM mode (a 32-byte random key).
	AlgorithmAES256GCM KeyAlgorithm = "AES256GCM"
)

// RotatedKey is one key that the policy creates and rotates.
// +kubebuilder:validation:XValidation:rule="self.purpose == oldSelf.purpose",message="the purpose of a key cannot change: add a key with another name instead"
// +kubebuilder:validation:XValidation:rule="self.purpose == 'Signing' ? self.algorithm in ['HS256', 'HS512', 'EdDSA'] : self.algorithm == 'AES256GCM'",message="a Signing key uses HS256, HS512 or EdDSA; an Encryption key uses AES256GCM"
type RotatedKey struct {
	// name identifies the key in the keyring and in status, a DNS label such as "jwt" or "fields".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// purpose is Signing (tokens) or Encryption (stored fields).
	// +required
	Purpose KeyPurpose `json:"purpose"`

	// algorithm is HS256, HS512 or EdDSA for a Signing key, AES256GCM for an Encryption key. A
	// change takes effect at the next rotation; existing versions keep their algorithm.
	// +required
	Algorithm KeyAlgorithm `json:"algorithm"`
}

// RotationSchedule is when keys are rotated.
// +kubebuilder:validation:XValidation:rule="has(self.every) != has(self.cron)",message="set exactly one of schedule.every and schedule.cron"
// +kubebuilder:validation:XValidation:rule="!has(self.timeZone) || has(self.cron)",message="schedule.timeZone applies only to schedule.cron"
type RotationSchedule struct {
	// every rotates at a fixed interval after the previous rotation, such as "720h" (30 days).
	// At least 1m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ms|s|m|h))+$') && duration(self) >= duration('1m')",message="schedule.every must be a duration of at least 1m, such as 720h"
	Every *metav1.Duration `json:"every,omitempty"`

	// cron rotates at the times of a standard 5-field cron expression (minute hour day-of-month
	// month day-of-week), such as "0 3 * * 0" for 03:00 every Sunday.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/([1-9][0-9]?))?(,([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/([1-9][0-9]?))?)* +([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/([1-9][0-9]?))?(,([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/([1-9][0-9]?))?)* +([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/([1-9][0-9]?))?(,([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/([1-9][0-9]?))?)* +([*]|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/([1-9][0-9]?))?(,([*]|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/([1-9][0-9]?))?)* +([*]|([0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-([0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/([1-9][0-9]?))?(,([*]|([0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-([0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/([1-9][0-9]?))?)*$')",message="schedule.cron must be a 5-field cron expression (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-6 or SUN-SAT), such as \"0 3 * * 0\""
	Cron string `json:"cron,omitempty"`

	// timeZone is the IANA time zone in which cron is read, such as "Europe/Berlin". Defaults to
	// UTC. A name that is well formed but unknown to the time-zone database is reported by the
	// operator as Ready=False with reason UnknownTimeZone.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$') && self != 'Local'",message="schedule.timeZone must be an IANA time zone name such as UTC or Europe/Berlin (not Local, which depends on the operator's host)"
	TimeZone string `json:"timeZone,omitempty"`
}

// RolloutStrategy is how running servers pick up new keys.
// +kubebuilder:validation:Enum=HotReload;RollingRestart
type RolloutStrategy string

const (
	// RolloutHotReload updates the mounted keyring; the servers reload it without a restart.
	RolloutHotReload RolloutStrategy = "HotReload"
	// RolloutRollingRestart updates the keyring and restarts the pods one at a time.
	RolloutRollingRestart RolloutStrategy = "RollingRestart"
)

// KeyStorage is where key material is kept besides the keyring Secret.
type KeyStorage struct {
	// vault keeps every key version in a Vault KV v2 secret, using the target instance's Vault
	// connection, so keys survive the loss of the Kubernetes Secret.
	// +optional
	Vault *VaultKVPath `json:"vault,omitempty"`
}

// KeyState is the state of one version of a key.
// +kubebuilder:validation:Enum=staged;active;verify-only;decrypt-only;retired
type KeyState string

const (
	// KeyStateStaged is published to every pod (it verifies and decrypts) but does not sign or
	// encrypt yet. A rotation stages the new version first and activates it only once every pod
	// has loaded it, because mounted Secrets reach pods at different times: a pod that signed
	// with a key its peers had not loaded would issue tokens they reject.
	KeyStateStaged KeyState = "staged"
	// KeyStateActive signs or encrypts new data; there is one per key.
	KeyStateActive KeyState = "active"
	// KeyStateVerifyOnly verifies tokens until expiresAt, then is retired.
	KeyStateVerifyOnly KeyState = "verify-only"
	// KeyStateDecryptOnly decrypts data written with it; it is dropped beyond spec.retain.
	KeyStateDecryptOnly KeyState = "decrypt-only"
	// KeyStateRetired is no longer used.
	KeyStateRetired KeyState = "retired"
)

// KeyRotationPolicyStatus is the observed state of a KeyRotationPolicy. It never holds key
// material.
type KeyRotationPolicyStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Rotating (True from staging a new version until it is active everywhere)
	// and VaultReachable.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// currentVersion is the key version: the number in the key ids ("jwt-7"), the same for every
	// key of one rotation; it increases by one with every rotation. (The keyring file carries its
	// own version, raised by every change, which the servers report.)
	// +optional
	CurrentVersion int64 `json:"currentVersion,omitempty"`

	// lastRotationTime is when the keys were last rotated.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// nextRotationTime is when the next scheduled rotation is due. Unset while suspended.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// lastRotateRequest is the last value of the scheduling.rsched.io/rotate annotation that
	// was acted on.
	// +optional
	LastRotateRequest string `json:"lastRotateRequest,omitempty"`

	// keys are the versions of each key, without key material.
	// +optional
	// +listType=map
	// +listMapKey=name
	Keys []KeyStatus `json:"keys,omitempty"`

	// failedAttempts is the number of consecutive failed rotations; zero after a success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`

	// lastFailureTime is when a rotation last failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
}

// KeyStatus lists the versions of one key.
type KeyStatus struct {
	// name of the key, as in spec.keys.
	Name string `json:"name"`

	// activeVersion is the version that signs or encrypts new data.
	// +optional
	ActiveVersion int64 `json:"activeVersion,omitempty"`

	// versions of the key, newest first: the staged and active versions, those still verifying
	// or decrypting, and the most recently retired ones (history only; retired keys are no longer
	// in the keyring). At most 32.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Versions []KeyVersionStatus `json:"versions,omitempty"`
}

// KeyVersionStatus describes one version of a key.
type KeyVersionStatus struct {
	// version number of the key.
	Version int64 `json:"version"`

	// createdAt is when this version was generated.
	CreatedAt metav1.Time `json:"createdAt"`

	// state is staged, active, verify-only, decrypt-only or retired.
	State KeyState `json:"state"`

	// expiresAt is when a verify-only version stops verifying.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// KeyRotationPolicy rotates the signing and encryption keys of one SchedulerInstance on a
// schedule, keeping replaced keys valid for a grace period so no token or record is lost.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=krp,categories=rsched
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.currentVersion`
// +kubebuilder:printcolumn:name="Last Rotation",type=date,JSONPath=`.status.lastRotationTime`
// +kubebuilder:printcolumn:name="Next Rotation",type=string,JSONPath=`.status.nextRotationTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KeyRotationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired rotation.
	// +required
	Spec KeyRotationPolicySpec `json:"spec"`

	// status is the observed state of the rotation, written by the operator.
	// +optional
	Status KeyRotationPolicyStatus `json:"status,omitempty"`
}

// KeyRotationPolicyList is a list of KeyRotationPolicies.
// +kubebuilder:object:root=true
type KeyRotationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KeyRotationPolicy `json:"items"`
}

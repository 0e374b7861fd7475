package v1alpha1

// Condition types of a KeyRotationPolicy: ConditionReady and ConditionVaultReachable (shared with
// SchedulerInstance) and ConditionRotating.
const (
	// ConditionRotating is True while a rotation is under way: a new version is staged on every
	// pod but not yet active.
	ConditionRotating = "Rotating"
)

// Reasons of KeyRotationPolicy conditions.
const (
	ReasonRotated           = "Rotated"
	ReasonScheduled         = "Scheduled"
	ReasonSuspended         = "Suspended"
	ReasonTargetNotFound    = "TargetNotFound"
	ReasonUnknownTimeZone   = "UnknownTimeZone"
	ReasonInvalidSchedule   = "InvalidSchedule"
	ReasonRotationFailed    = "RotationFailed"
	ReasonStorageNeedsVault = "StorageNeedsVault"
	ReasonTargetConflict    = "TargetConflict"
	ReasonStaged            = "Staged"
	ReasonKeyringNotFound   = "KeyringNotFound"
	ReasonKeyringInvalid    = "KeyringInvalid"
	ReasonKeyRetired        = "KeyRetired"
	ReasonKeyringRestored   = "KeyringRestored"
	ReasonIdle              = "Idle"
)

// Key version annotations on the instance's keyring Secret, written by the KeyRotationPolicy.
const (
	// RotateRequestAnnotation records the value of the rotate annotation that produced the
	// keyring version in the Secret, so a rotation whose status write was lost is not repeated.
	RotateRequestAnnotation = "scheduling.rsched.io/rotate-request"
	// RolloutVersionAnnotation is the keyring version the instance's pods must be restarted for
	// (rollout RollingRestart); the SchedulerInstance copies it to its pod template as
	// KeyVersionAnnotation. A version number, never a hash or a time, so that only a rotation
	// restarts pods.
	RolloutVersionAnnotation = "scheduling.rsched.io/rollout-version"
	// StagedAnnotation records "<version>@<RFC 3339 time>": when the Secret first carried the
	// staged version, from which the propagation time is measured.
	StagedAnnotation = "scheduling.rsched.io/staged"
	// KeyVersionAnnotation on the pod template of the server's Deployment.
	KeyVersionAnnotation = "scheduling.rsched.io/key-version"
)

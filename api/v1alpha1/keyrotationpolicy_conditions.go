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
)

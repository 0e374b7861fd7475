package v1alpha1

// Condition types of a KeyRotationPolicy. ConditionReady and ConditionVaultReachable, shared
// with SchedulerInstance, are the two it uses.

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
)

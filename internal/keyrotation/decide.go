package keyrotation

import (
	"time"

	"github.com/rsched/rsched/internal/backoff"
)

// Input is what the decision needs, read by the reconciler from the policy, its status and the
// world. Times are what status persisted, so a restarted operator decides exactly as before.
type Input struct {
	Now time.Time
	// Suspended is spec.suspend.
	Suspended bool
	// TargetFound is whether the SchedulerInstance named by spec.targetRef exists.
	TargetFound bool
	// Initialised is whether a first keyring version exists (status.currentVersion > 0).
	Initialised bool
	// NextRotation is status.nextRotationTime (zero before the first schedule).
	NextRotation time.Time
	// RotateRequest is the value of the rotate annotation; LastRotateRequest the value last acted on.
	RotateRequest, LastRotateRequest string
	// FailedAttempts and LastFailure are status.failedAttempts and status.lastFailureTime.
	FailedAttempts int32
	LastFailure    time.Time
}

// Reason says why a decision was taken; the reconciler turns it into conditions and events.
type Reason string

// Reasons, in the order the checks run.
const (
	Suspended       Reason = "Suspended"
	TargetMissing   Reason = "TargetMissing"
	BackingOff      Reason = "BackingOff"
	FirstVersion    Reason = "FirstVersion"
	ManualRequest   Reason = "ManualRequest"
	Due             Reason = "Due"
	NotDue          Reason = "NotDue"
	ScheduleUnknown Reason = "ScheduleUnknown"
)

// Decision is the answer: rotate now, or wait (and for how long, when known).
type Decision struct {
	Rotate bool
	Reason Reason
	// After is when to look again when not rotating (0: only on a change).
	After time.Duration
}

// check is one link of the chain: it decides, or passes (ok false) to the next.
type check func(Input) (Decision, bool)

// chain is the order of the checks. Each is small and tested on its own; their order is policy:
// nothing rotates while suspended or without a target; a failure backs off even a manual
// request; a manual request does not wait for the schedule.
var chain = []check{suspended, targetMissing, backingOff, firstVersion, manualRequest, due}

// Decide runs the chain.
func Decide(in Input) Decision {
	for _, c := range chain {
		if d, ok := c(in); ok {
			return d
		}
	}
	return Decision{Reason: ScheduleUnknown}
}

func suspended(in Input) (Decision, bool) {
	return Decision{Reason: Suspended}, in.Suspended
}

func targetMissing(in Input) (Decision, bool) {
	return Decision{Reason: TargetMissing, After: time.Minute}, !in.TargetFound
}

// Backoff after failures: 10 s doubling per consecutive failure, at most 10 minutes.
var failureBackoff = backoff.Exponential{Base: 10 * time.Second, Max: 10 * time.Minute}

// BackoffFor is the wait after failures consecutive failures.
func BackoffFor(failures int32) time.Duration {
	return failureBackoff.After(int(failures))
}

func backingOff(in Input) (Decision, bool) {
	if in.FailedAttempts == 0 || in.LastFailure.IsZero() {
		return Decision{}, false
	}
	retry := in.LastFailure.Add(BackoffFor(in.FailedAttempts))
	if in.Now.Before(retry) {
		return Decision{Reason: BackingOff, After: retry.Sub(in.Now)}, true
	}
	return Decision{}, false
}

func firstVersion(in Input) (Decision, bool) {
	return Decision{Rotate: true, Reason: FirstVersion}, !in.Initialised
}

func manualRequest(in Input) (Decision, bool) {
	return Decision{Rotate: true, Reason: ManualRequest}, in.RotateRequest != "" && in.RotateRequest != in.LastRotateRequest
}

func due(in Input) (Decision, bool) {
	if in.NextRotation.IsZero() {
		return Decision{}, false
	}
	if !in.Now.Before(in.NextRotation) {
		return Decision{Rotate: true, Reason: Due}, true
	}
	return Decision{Reason: NotDue, After: in.NextRotation.Sub(in.Now)}, true
}

package keyrotation

import (
	"time"

	"github.com/rsched/rsched/internal/backoff"
)

// Input is what the decision needs, read by the reconciler from the policy, its status and the
// world. Times are what status persisted, so a restarted operator decides exactly as before.
//
// The decision is asked for a policy whose target and keyring were found: a missing target or
// keyring is a block the reconciler reports before anything is decided.
type Input struct {
	Now time.Time
	// Suspended is spec.suspend.
	Suspended bool
	// SpecChanged: the spec changed since status last recorded it (metadata.generation is not
	// status.observedGeneration). Such a policy is looked at at once, backoff or not (Hold).
	SpecChanged bool
	// NextRotation is status.nextRotationTime (zero before the first schedule, and while suspended).
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
	BackingOff      Reason = "BackingOff"
	ManualRequest   Reason = "ManualRequest"
	Suspended       Reason = "Suspended"
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
// a failure backs off everything, even a manual request; a manual request rotates whatever the
// schedule says, suspended or not (suspension stops the schedule, not a person); a suspended
// policy never rotates on its schedule.
var chain = []check{backingOff, manualRequest, suspended, due}

// Decide runs the chain.
func Decide(in Input) Decision {
	for _, c := range chain {
		if d, ok := c(in); ok {
			return d
		}
	}
	return Decision{Reason: ScheduleUnknown}
}

// Hold is the chain's backoff check on its own, for the reconciler to ask before it reads
// anything else: while failed attempts back off, a policy whose spec is unchanged does nothing
// at all, whatever event woke it (its Vault reads are often what failed). A changed spec is
// looked at at once; the backoff then still holds its rotation (Decide).
func Hold(in Input) (Decision, bool) {
	if in.SpecChanged {
		return Decision{}, false
	}
	return backingOff(in)
}

func suspended(in Input) (Decision, bool) {
	return Decision{Reason: Suspended}, in.Suspended
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

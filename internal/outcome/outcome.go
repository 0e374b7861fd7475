package outcome

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Kind is how a step ended.
type Kind int

// The kinds, from the least to the most serious.
const (
	// Done: the step finished; the reconcile goes on.
	Done Kind = iota
	// Wait: not yet, and nothing is wrong; come back after After.
	Wait
	// Blocked: a person must act; Reason says what on Condition.
	Blocked
	// Failed: an attempt failed (Cause); counted and retried after After, or by the rate limiter.
	Failed
)

var kindNames = [...]string{"done", "wait", "blocked", "failed"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Outcome is a step's end other than Done. It is an error so that steps keep Go's signature and
// wrap it freely; Of finds it again.
type Outcome struct {
	Kind Kind
	// After is when to look again (0: on the next event, or the rate limiter's time for Failed).
	After time.Duration
	// Condition is the condition type that reports a Blocked or Failed outcome ("" for a Wait,
	// or when the reconciler reports it on its summary condition).
	Condition string
	// Reason is the condition reason (CamelCase); Message the sentence shown with it. Neither
	// ever carries a secret.
	Reason, Message string
	// Cause is what failed, for logs (never shown in status or events unless it is known to be
	// free of secrets).
	Cause error
	// Halt: no later step may run, even where the reconciler would go on without this step.
	Halt bool
}

// Error is the message, with the cause for a Failed outcome.
func (o *Outcome) Error() string {
	if o.Cause != nil && o.Message == "" {
		return o.Cause.Error()
	}
	if o.Cause != nil {
		return o.Message + ": " + o.Cause.Error()
	}
	return o.Message
}

// Unwrap gives the cause.
func (o *Outcome) Unwrap() error { return o.Cause }

// WaitFor is a wait of after, with the reason for logs and, where shown, for status.
func WaitFor(after time.Duration, message string) *Outcome {
	return &Outcome{Kind: Wait, After: after, Message: message}
}

// BlockedOn is a block that condition reports with reason and message; looked at again after after.
func BlockedOn(condition, reason, message string, after time.Duration) *Outcome {
	return &Outcome{Kind: Blocked, Condition: condition, Reason: reason, Message: message, After: after}
}

// FailedWith is a failed attempt: reason and message for status (on condition), cause for logs.
// The reconciler sets After from the failure count it keeps in status.
func FailedWith(condition, reason, message string, cause error) *Outcome {
	return &Outcome{Kind: Failed, Condition: condition, Reason: reason, Message: message, Cause: cause}
}

// Halting returns o marked Halt (for chaining at the call site).
func (o *Outcome) Halting() *Outcome {
	o.Halt = true
	return o
}

// Of is the outcome err stands for: nil is Done (with a nil *Outcome); an *Outcome anywhere in
// err's chain is itself; any other error is Failed with that error as its cause.
func Of(err error) (Kind, *Outcome) {
	if err == nil {
		return Done, nil
	}
	var o *Outcome
	if errors.As(err, &o) {
		return o.Kind, o
	}
	return Failed, &Outcome{Kind: Failed, Cause: err}
}

// Is reports whether err is an outcome of kind k (nil is Done).
func Is(err error, k Kind) bool {
	kind, _ := Of(err)
	return kind == k
}

// Result is what controller-runtime is told for the reconcile's outcome err, after status was
// written: a Wait, a Blocked or a Failed with After requeue after it without an error (and are
// logged here, once); any other error is returned for the rate limiter. Done requeues after
// requeue (0: only on an event).
func Result(log logr.Logger, err error, requeue time.Duration) (ctrl.Result, error) {
	kind, o := Of(err)
	switch {
	case kind == Done:
		return ctrl.Result{RequeueAfter: requeue}, nil
	case kind == Failed && o.After > 0:
		log.Error(err, "attempt failed", "reason", o.Reason, "retryIn", o.After.String())
		return ctrl.Result{RequeueAfter: o.After}, nil
	case kind == Failed:
		return ctrl.Result{}, err
	}
	log.Info(kind.String(), "reason", o.Reason, "message", o.Message, "retryIn", o.After.String())
	return ctrl.Result{RequeueAfter: o.After}, nil
}

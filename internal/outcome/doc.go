// Package outcome is the one vocabulary in which a step of a reconcile says how it ended, and the
// one place that turns it into what controller-runtime is told.
//
// A step returns an error; nil means done (go on). Anything else is one of:
//
//   - Wait: the step cannot finish yet, for a reason that resolves without a person (a backoff
//     running, a check-and-set race lost, pods still loading a key). Come back after After; no
//     error is reported and controller-runtime's error backoff does not apply.
//   - Blocked: a person must act (a Secret the spec names is missing, an object of ours is
//     someone else's, the spec renders a configuration the server refuses). Reason is the
//     condition reason that says so, Condition the condition type that reports it; the reconcile
//     comes back after After in case the world changed without an event.
//   - Failed: an attempt at an outside system failed (Vault, a key rotation). The reconciler
//     counts it in status and sets After from that count (internal/backoff), so a restarted
//     operator backs off exactly as before. A Failed without After, and any plain error (the API
//     server refused a write, say), is returned to controller-runtime, whose rate limiter retries.
//
// Condition reasons come from these typed values, never from an error's text. Halt marks an
// outcome after which no later step may run even where the reconciler could otherwise go on
// (the pods would read what is wrong). Anchors: CloudNativePG's ErrNextLoop/ErrTerminateLoop
// (pkg/utils/reconciliation.go) and cert-manager's policy chains.
package outcome

// Package backoff is the one capped exponential backoff of the project: the operator's retries of
// failed secret reads and key rotations and the server's lockout of an account name all wait
// Base × 2^(n-1) after the n-th consecutive failure, at most Max.
//
// It is a pure function of a failure count kept where the state that matters lives (a
// resource's status, a database row), so a restarted process backs off exactly as before.
// Stateful retry loops (k8s.io/apimachinery's wait.Backoff, say) fit a loop inside one process,
// not a count persisted between reconciles.
package backoff

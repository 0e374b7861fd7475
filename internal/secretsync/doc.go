// Package secretsync copies a SchedulerInstance's secrets from their sources (a Kubernetes Secret
// the user names, or Vault) into the instance's own Secrets, which the server's pods read.
//
// A sync reads as gather (Gather: which of the instance's Secrets exist, what status says of the
// last sync and of the failures since) → decide (Decide: a chain of named "refresh due?" checks,
// held back by the backoff of a failed read) → act (Syncer.Sync: read every source, write the
// Secrets). A source that cannot be read never removes what was written before: the last good
// Secrets stay and the server runs on them. The backoff after failed Vault reads lives in status
// only (status.vaultFailures and status.lastVaultFailureTime), so a restarted operator, or an
// event on an owned object, neither resets nor cuts it short.
//
// The writes go through the reconciler (Writer), which owns the instance's objects, events and
// the checks that an object of ours is not someone else's.
package secretsync

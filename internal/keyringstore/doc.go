// Package keyringstore keeps a SchedulerInstance's keyring where its pods read it, the
// instance's Secret, and, with a KeyRotationPolicy's storage.vault, in a Vault KV v2 secret that
// is the source of truth.
//
// Every change is written to Vault first, with check-and-set on the KV version read (two writers
// cannot both succeed; the loser waits and reads again), then to the Secret. A crash between the
// two leaves Vault ahead; the next read finds the difference (Decide) and the Secret is rendered
// from Vault (Settle): the rotation completes, no version is skipped or generated twice. Vault's
// KV history keeps every version. A keyring that cannot be read is never written over (Blocked
// says why and what a person must do).
//
// The package reads (ReadSecret, ReadVault), decides (Decide, pure) and writes (Store); the
// reconciler says when, and reports.
package keyringstore

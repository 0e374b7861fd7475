package secretsync

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rsched/rsched/internal/backoff"
)

// VaultBackoff is the wait after consecutive failed Vault reads (status.vaultFailures).
var VaultBackoff = backoff.Exponential{Base: 5 * time.Second, Max: 5 * time.Minute}

// State is what a sync gathers before it decides: which of the instance's Secrets exist, what
// status says of the last sync, and when the backoff of a failed read ends.
type State struct {
	HasDatabaseSecret bool
	// WantsAppSecret: spec.vault.secrets lists paths, so the instance has an application Secret.
	WantsAppSecret bool
	HasAppSecret   bool
	// WantsDatabaseTLSSecret: spec.database.tls reads its CA or client certificate from Vault, so
	// the instance has a database TLS Secret.
	WantsDatabaseTLSSecret bool
	HasDatabaseTLSSecret   bool
	// UsesVault: a source of the instance is in Vault.
	UsesVault   bool
	Synced      bool // SecretsSynced is True
	SpecChanged bool // the spec changed since status was last written
	LastSync    *metav1.Time
	Refresh     time.Duration
	// RetryAt is the end of a failed read's backoff (zero when there is none), from status.
	RetryAt time.Time
	// Revision is the database Secret's revision annotation ("" without one).
	Revision string
}

// Action is what a sync does this time.
type Action int

const (
	// UpToDate: nothing is due; come back for the next refresh.
	UpToDate Action = iota
	// InBackoff: a refresh is due, but inside a failed read's backoff: wait it out.
	InBackoff
	// Refresh: read the sources and write the Secrets.
	Refresh
)

// refreshCheck is one reason the sources must be read again now.
type refreshCheck struct {
	name string
	due  func(s State, now time.Time) bool
}

// refreshChecks are the reasons a refresh is due, in order; the first that holds names it.
var refreshChecks = []refreshCheck{
	{"database Secret missing", func(s State, _ time.Time) bool { return !s.HasDatabaseSecret }},
	{"application Secret missing", func(s State, _ time.Time) bool { return s.WantsAppSecret && !s.HasAppSecret }},
	{"database TLS Secret missing", func(s State, _ time.Time) bool { return s.WantsDatabaseTLSSecret && !s.HasDatabaseTLSSecret }},
	{"last sync failed", func(s State, _ time.Time) bool { return !s.Synced }},
	{"spec changed", func(s State, _ time.Time) bool { return s.SpecChanged }},
	{"never synced", func(s State, _ time.Time) bool { return s.LastSync == nil }},
	{"refresh interval elapsed", func(s State, now time.Time) bool { return !now.Before(s.LastSync.Add(s.Refresh)) }},
}

// RefreshDue names the first check that makes a refresh due, or "" when none does.
func RefreshDue(s State, now time.Time) string {
	for _, c := range refreshChecks {
		if c.due(s, now) {
			return c.name
		}
	}
	return ""
}

// LastGood: the database Secret exists and, when spec.database.tls reads from Vault, so does the
// database TLS Secret (now or from an earlier sync): the server can run on them while the sources
// cannot be read. Without the TLS Secret a pod template that mounts it must not be rolled out.
func (s State) LastGood() bool {
	return s.HasDatabaseSecret && (!s.WantsDatabaseTLSSecret || s.HasDatabaseTLSSecret)
}

// inBackoff: a failed read's backoff runs, the last good Secrets are in place and the spec is
// unchanged (a spec change is read at once).
func inBackoff(s State, now time.Time) bool {
	return !s.RetryAt.IsZero() && s.HasDatabaseSecret && !s.SpecChanged && now.Before(s.RetryAt)
}

// Decide: up to date unless a refresh is due; a due refresh waits out a backoff.
func Decide(s State, now time.Time) Action {
	switch {
	case RefreshDue(s, now) == "":
		return UpToDate
	case inBackoff(s, now):
		return InBackoff
	}
	return Refresh
}

// retryAt is when the backoff after failures failed reads, the last at last, ends (zero: none).
func retryAt(failures int32, last *metav1.Time) time.Time {
	if failures <= 0 || last == nil {
		return time.Time{}
	}
	return VaultBackoff.Until(last.Time, int(failures))
}

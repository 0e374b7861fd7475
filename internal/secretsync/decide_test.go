package secretsync

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDecideSecretSync pins the "refresh due?" chain and the backoff without an API server:
// each check alone, their order (the first that holds names the refresh), and how a running
// backoff holds a due refresh back.
func TestDecideSecretSync(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	synced := metav1.NewTime(now.Add(-30 * time.Minute))
	// upToDate: both Secrets exist, the last sync succeeded 30 minutes ago, refresh every hour.
	upToDate := func() State {
		return State{HasDatabaseSecret: true, WantsAppSecret: true, HasAppSecret: true, UsesVault: true,
			WantsDatabaseTLSSecret: true, HasDatabaseTLSSecret: true, Synced: true, LastSync: &synced, Refresh: time.Hour}
	}
	with := func(f func(*State)) State {
		s := upToDate()
		f(&s)
		return s
	}
	backoff := now.Add(20 * time.Second)
	cases := []struct {
		name   string
		s      State
		reason string
		want   Action
	}{
		{"nothing due", upToDate(), "", UpToDate},
		{"no application Secret wanted, none there", with(func(s *State) { s.WantsAppSecret, s.HasAppSecret = false, false }), "", UpToDate},
		{"one second before the interval", with(func(s *State) { s.Refresh = 30*time.Minute + time.Second }), "", UpToDate},
		{"database Secret missing", with(func(s *State) { s.HasDatabaseSecret = false }), "database Secret missing", Refresh},
		{"application Secret missing", with(func(s *State) { s.HasAppSecret = false }), "application Secret missing", Refresh},
		{"no database TLS Secret wanted, none there", with(func(s *State) { s.WantsDatabaseTLSSecret, s.HasDatabaseTLSSecret = false, false }), "", UpToDate},
		{"database TLS Secret missing", with(func(s *State) { s.HasDatabaseTLSSecret = false }), "database TLS Secret missing", Refresh},
		{"order: application Secret before the database TLS Secret", with(func(s *State) { s.HasAppSecret, s.HasDatabaseTLSSecret = false, false }), "application Secret missing", Refresh},
		{"order: database TLS Secret before a failed sync", with(func(s *State) { s.HasDatabaseTLSSecret, s.Synced = false, false }), "database TLS Secret missing", Refresh},
		{"last sync failed", with(func(s *State) { s.Synced = false }), "last sync failed", Refresh},
		{"spec changed", with(func(s *State) { s.SpecChanged = true }), "spec changed", Refresh},
		{"never synced", with(func(s *State) { s.LastSync = nil }), "never synced", Refresh},
		{"interval elapsed exactly", with(func(s *State) { s.Refresh = 30 * time.Minute }), "refresh interval elapsed", Refresh},
		{"interval long past", with(func(s *State) { s.Refresh = time.Minute }), "refresh interval elapsed", Refresh},
		{"order: database Secret before everything", with(func(s *State) {
			s.HasDatabaseSecret, s.HasAppSecret, s.Synced, s.SpecChanged, s.LastSync = false, false, false, true, nil
		}), "database Secret missing", Refresh},
		{"order: application Secret before a failed sync", with(func(s *State) { s.HasAppSecret, s.Synced = false, false }), "application Secret missing", Refresh},
		{"order: failed sync before a spec change", with(func(s *State) { s.Synced, s.SpecChanged = false, true }), "last sync failed", Refresh},
		{"order: spec change before the interval", with(func(s *State) { s.SpecChanged, s.Refresh = true, time.Minute }), "spec changed", Refresh},

		{"backoff running, last sync failed: wait", with(func(s *State) { s.Synced, s.RetryAt = false, backoff }), "last sync failed", InBackoff},
		{"backoff running, application Secret missing: wait", with(func(s *State) { s.HasAppSecret, s.RetryAt = false, backoff }), "application Secret missing", InBackoff},
		{"backoff running, database TLS Secret missing: wait", with(func(s *State) { s.HasDatabaseTLSSecret, s.RetryAt = false, backoff }), "database TLS Secret missing", InBackoff},
		{"backoff over: refresh", with(func(s *State) { s.Synced, s.RetryAt = false, now }), "last sync failed", Refresh},
		{"backoff running but nothing due: up to date", with(func(s *State) { s.RetryAt = backoff }), "", UpToDate},
		{"backoff running, spec changed: read at once", with(func(s *State) { s.Synced, s.SpecChanged, s.RetryAt = false, true, backoff }), "last sync failed", Refresh},
		{"backoff running, no database Secret: read at once", with(func(s *State) { s.HasDatabaseSecret, s.RetryAt = false, backoff }), "database Secret missing", Refresh},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RefreshDue(tc.s, now); got != tc.reason {
				t.Errorf("RefreshDue = %q, want %q", got, tc.reason)
			}
			if got := Decide(tc.s, now); got != tc.want {
				t.Errorf("Decide = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBackoffComesFromStatus: the end of a failed read's backoff is computed from status alone
// (status.vaultFailures and status.lastVaultFailureTime), so a restarted operator, or an event on
// an owned object, holds the same backoff.
func TestBackoffComesFromStatus(t *testing.T) {
	last := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cases := []struct {
		failures int32
		last     *metav1.Time
		want     time.Time
	}{
		{0, &last, time.Time{}},
		{3, nil, time.Time{}}, // a count without a time (written before the time was kept): no backoff
		{1, &last, last.Add(5 * time.Second)},
		{3, &last, last.Add(20 * time.Second)},
		{12, &last, last.Add(5 * time.Minute)},
	}
	for _, c := range cases {
		if got := retryAt(c.failures, c.last); !got.Equal(c.want) {
			t.Errorf("retryAt(%d, %v) = %v, want %v", c.failures, c.last, got, c.want)
		}
	}
	// A reconcile 10 s after the third failure, with a refresh due, waits; at 20 s it reads.
	s := State{HasDatabaseSecret: true, LastSync: &last, Refresh: time.Hour, RetryAt: retryAt(3, &last)}
	if got := Decide(s, last.Add(10*time.Second)); got != InBackoff {
		t.Fatalf("10 s into a 20 s backoff: %d, want InBackoff", got)
	}
	if got := Decide(s, last.Add(20*time.Second)); got != Refresh {
		t.Fatalf("at the end of the backoff: %d, want Refresh", got)
	}
}

// TestLastGoodNeedsTheDatabaseTLSSecretWhenItIsWanted: the reconcile goes on past a failed read
// only when every Secret a pod of the new template mounts from Vault's copy exists, so a template
// that mounts a database TLS Secret never rolls out before the Secret is there.
func TestLastGoodNeedsTheDatabaseTLSSecretWhenItIsWanted(t *testing.T) {
	cases := []struct {
		name string
		s    State
		want bool
	}{
		{"nothing yet", State{}, false},
		{"database Secret, no TLS wanted", State{HasDatabaseSecret: true}, true},
		{"database Secret, TLS wanted, not there", State{HasDatabaseSecret: true, WantsDatabaseTLSSecret: true}, false},
		{"database Secret and TLS Secret", State{HasDatabaseSecret: true, WantsDatabaseTLSSecret: true, HasDatabaseTLSSecret: true}, true},
		{"TLS Secret without the database Secret", State{WantsDatabaseTLSSecret: true, HasDatabaseTLSSecret: true}, false},
		{"a TLS Secret left over, no longer wanted", State{HasDatabaseSecret: true, HasDatabaseTLSSecret: true}, true},
	}
	for _, tc := range cases {
		if got := tc.s.LastGood(); got != tc.want {
			t.Errorf("%s: LastGood = %v, want %v", tc.name, got, tc.want)
		}
	}
}

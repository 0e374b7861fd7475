package controllers

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
	upToDate := func() secretSyncState {
		return secretSyncState{hasDatabaseSecret: true, wantsAppSecret: true, hasAppSecret: true, usesVault: true,
			synced: true, lastSync: &synced, refresh: time.Hour}
	}
	with := func(f func(*secretSyncState)) secretSyncState {
		s := upToDate()
		f(&s)
		return s
	}
	backoff := now.Add(20 * time.Second)
	cases := []struct {
		name   string
		s      secretSyncState
		reason string
		want   secretSyncAction
	}{
		{"nothing due", upToDate(), "", syncUpToDate},
		{"no application Secret wanted, none there", with(func(s *secretSyncState) { s.wantsAppSecret, s.hasAppSecret = false, false }), "", syncUpToDate},
		{"one second before the interval", with(func(s *secretSyncState) { s.refresh = 30*time.Minute + time.Second }), "", syncUpToDate},
		{"database Secret missing", with(func(s *secretSyncState) { s.hasDatabaseSecret = false }), "database Secret missing", syncRefresh},
		{"application Secret missing", with(func(s *secretSyncState) { s.hasAppSecret = false }), "application Secret missing", syncRefresh},
		{"last sync failed", with(func(s *secretSyncState) { s.synced = false }), "last sync failed", syncRefresh},
		{"spec changed", with(func(s *secretSyncState) { s.specChanged = true }), "spec changed", syncRefresh},
		{"never synced", with(func(s *secretSyncState) { s.lastSync = nil }), "never synced", syncRefresh},
		{"interval elapsed exactly", with(func(s *secretSyncState) { s.refresh = 30 * time.Minute }), "refresh interval elapsed", syncRefresh},
		{"interval long past", with(func(s *secretSyncState) { s.refresh = time.Minute }), "refresh interval elapsed", syncRefresh},
		{"order: database Secret before everything", with(func(s *secretSyncState) {
			s.hasDatabaseSecret, s.hasAppSecret, s.synced, s.specChanged, s.lastSync = false, false, false, true, nil
		}), "database Secret missing", syncRefresh},
		{"order: application Secret before a failed sync", with(func(s *secretSyncState) { s.hasAppSecret, s.synced = false, false }), "application Secret missing", syncRefresh},
		{"order: failed sync before a spec change", with(func(s *secretSyncState) { s.synced, s.specChanged = false, true }), "last sync failed", syncRefresh},
		{"order: spec change before the interval", with(func(s *secretSyncState) { s.specChanged, s.refresh = true, time.Minute }), "spec changed", syncRefresh},

		{"backoff running, last sync failed: wait", with(func(s *secretSyncState) { s.synced, s.retryAt = false, backoff }), "last sync failed", syncInBackoff},
		{"backoff running, application Secret missing: wait", with(func(s *secretSyncState) { s.hasAppSecret, s.retryAt = false, backoff }), "application Secret missing", syncInBackoff},
		{"backoff over: refresh", with(func(s *secretSyncState) { s.synced, s.retryAt = false, now }), "last sync failed", syncRefresh},
		{"backoff running but nothing due: up to date", with(func(s *secretSyncState) { s.retryAt = backoff }), "", syncUpToDate},
		{"backoff running, spec changed: read at once", with(func(s *secretSyncState) { s.synced, s.specChanged, s.retryAt = false, true, backoff }), "last sync failed", syncRefresh},
		{"backoff running, no database Secret: read at once", with(func(s *secretSyncState) { s.hasDatabaseSecret, s.retryAt = false, backoff }), "database Secret missing", syncRefresh},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refreshDue(tc.s, now); got != tc.reason {
				t.Errorf("refreshDue = %q, want %q", got, tc.reason)
			}
			if got := decideSecretSync(tc.s, now); got != tc.want {
				t.Errorf("decideSecretSync = %d, want %d", got, tc.want)
			}
		})
	}
}

package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/testenv"
)

// rewrapSeen is what a scrape of one instance says about the last completed rewrap pass.
type rewrapSeen struct {
	kids             []string // kid labels of rsched_fields_rewrap_active_key_info
	pending, failed  float64
	started          float64 // rsched_fields_rewrap_last_run_timestamp_seconds; 0 when absent
	rewrapFailures   float64 // rsched_background_job_failures_total{job="rewrap"}
	hasPendingFailed bool
}

func (s rewrapSeen) String() string {
	return fmt.Sprintf("kids %v pending %v failed %v started %v failures %v", s.kids, s.pending, s.failed, s.started, s.rewrapFailures)
}

func (e *env) rewrapMetrics(instance int) rewrapSeen {
	e.t.Helper()
	fams, err := e.metrics[instance].Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var s rewrapSeen
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue()
			switch f.GetName() {
			case "rsched_fields_rewrap_active_key_info":
				for _, l := range m.GetLabel() {
					if l.GetName() == "kid" && v == 1 {
						s.kids = append(s.kids, l.GetValue())
					}
				}
			case "rsched_fields_rewrap_pending":
				s.pending, s.hasPendingFailed = v, true
			case "rsched_fields_rewrap_failed":
				s.failed = v
			case "rsched_fields_rewrap_last_run_timestamp_seconds":
				s.started = v
			case "rsched_background_job_failures_total":
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "rewrap" {
					s.rewrapFailures = m.GetCounter().GetValue()
				}
			}
		}
	}
	return s
}

// sealedUnder is the kid of the user's sealed TOTP secret, as stored.
func (e *env) sealedUnder(userID string) string {
	e.t.Helper()
	var v string
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), "SELECT totp_secret FROM users WHERE id = $1", userID).Scan(&v); err != nil {
		e.t.Fatal(err)
	}
	kid, err := fieldcrypt.KeyID(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return kid
}

// enrolMFA gives u a sealed TOTP secret.
func (e *env) enrolMFA(t *testing.T, u *user) {
	t.Helper()
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": u.Password}, req{bearer: u.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: u.Access}).
		want(t, 200, "confirm")
}

// runBackground starts instance 0's background jobs until the test ends and waits for the first
// rewrap pass to complete under kid.
func (e *env) runBackground(kid string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.apps[0].RunBackground(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(e.t, 10*time.Second, "the first rewrap pass", func() (bool, string) {
		s := e.rewrapMetrics(0)
		return len(s.kids) == 1 && s.kids[0] == kid, s.String()
	})
}

var (
	sigKeys = []keyringtest.Key{{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: secretHS}}
	enc2    = keyringtest.Random(32)
)

// The operator activates a new encryption key and then waits for every replica to report that
// nothing is left under the old one. An activation changes key states, not only the version:
// the rewrap must follow it within seconds, not at the next ten-minute pass, and the metrics must
// name the key the pass used and when it started. Staging a key is no reason for a pass.
func TestActivatingAnEncryptionKeyRewrapsWithinSecondsAndTheMetricsSayWhichKey(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	e.enrolMFA(t, admin)
	before := e.rewrapMetrics(0)
	if len(before.kids) != 0 || before.started != 0 || !before.hasPendingFailed {
		t.Fatalf("before any pass: %s (want pending and failed only)", before)
	}
	e.runBackground("enc-1")
	first := e.rewrapMetrics(0)
	if first.pending != 0 || first.failed != 0 || first.started != float64(e.clock.Now().Unix()) {
		t.Fatalf("first pass at %d: %s", e.clock.Now().Unix(), first)
	}

	// Staged: a new version, the same active key. No pass.
	e.clock.Advance(time.Minute)
	e.keys[0].Set(keyringtest.Build(t, 2, sigKeys, []keyringtest.Key{
		{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: secretAES},
		{KID: "enc-2", Algorithm: keyring.AES256GCM, State: keyring.Staged, Material: enc2},
	}))
	time.Sleep(3 * keyCheckEvery)
	if s := e.rewrapMetrics(0); s.started != first.started || len(s.kids) != 1 || s.kids[0] != "enc-1" {
		t.Fatalf("staging a key started a pass: %s", s)
	}
	if kid := e.sealedUnder(admin.ID); kid != "enc-1" {
		t.Fatalf("sealed under %s after staging", kid)
	}

	// Activated: the pass follows within seconds.
	e.clock.Advance(time.Minute)
	activatedAt := e.clock.Now()
	e.keys[0].Set(keyringtest.Build(t, 3, sigKeys, []keyringtest.Key{
		{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.DecryptOnly, Material: secretAES},
		{KID: "enc-2", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: enc2},
	}))
	setAt := time.Now()
	testenv.Eventually(t, 3*keyCheckEvery, "a rewrap pass under enc-2", func() (bool, string) {
		s := e.rewrapMetrics(0)
		return len(s.kids) == 1 && s.kids[0] == "enc-2", s.String()
	})
	t.Logf("rewrap reported %s after the activation", time.Since(setAt).Round(time.Millisecond))
	s := e.rewrapMetrics(0)
	if s.pending != 0 || s.failed != 0 || s.started != float64(activatedAt.Unix()) || s.rewrapFailures != 0 {
		t.Fatalf("after the activation: %s, want nothing pending, started at %d", s, activatedAt.Unix())
	}
	if kid := e.sealedUnder(admin.ID); kid != "enc-2" {
		t.Fatalf("sealed under %s after the activation's pass", kid)
	}
}

// A pass that stops half-way has counted only part of the data; reporting its "nothing pending"
// with the new key would let the operator retire a key that still seals data. The metrics keep
// the last completed pass, and the failure is counted.
func TestAFailedRewrapPassLeavesTheLastCompletedPassInTheMetrics(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	e.enrolMFA(t, admin)
	e.runBackground("enc-1")
	first := e.rewrapMetrics(0)

	// The second sealed column cannot be read: the pass moves totp_secret, then fails.
	e.sql("ALTER TABLE users RENAME COLUMN totp_pending TO totp_pending_away")
	e.clock.Advance(time.Minute)
	e.keys[0].Set(keyringtest.Build(t, 2, sigKeys, []keyringtest.Key{
		{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.DecryptOnly, Material: secretAES},
		{KID: "enc-2", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: enc2},
	}))
	testenv.Eventually(t, 3*keyCheckEvery, "the failed pass counted", func() (bool, string) {
		s := e.rewrapMetrics(0)
		return s.rewrapFailures == 1, s.String()
	})
	if kid := e.sealedUnder(admin.ID); kid != "enc-2" {
		t.Fatalf("the failed pass did not get to totp_secret (sealed under %s): the test proves nothing", kid)
	}
	if s := e.rewrapMetrics(0); len(s.kids) != 1 || s.kids[0] != "enc-1" || s.started != first.started || s.pending != first.pending {
		t.Fatalf("after a failed pass: %s, want the first pass's %s", s, first)
	}
	// The key check does not retry a failed pass every second (the cleanup tick does, a minute on).
	time.Sleep(3 * keyCheckEvery)
	if s := e.rewrapMetrics(0); s.rewrapFailures != 1 {
		t.Fatalf("the failed pass was retried at once: %s", s)
	}
}

// auditChain is rsched_audit_chain_broken and rsched_audit_chain_verified_timestamp_seconds of
// instance 0.
func (e *env) auditChain() (broken, verified float64) {
	e.t.Helper()
	fams, err := e.metrics[0].Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case "rsched_audit_chain_broken":
			broken = f.GetMetric()[0].GetGauge().GetValue()
		case "rsched_audit_chain_verified_timestamp_seconds":
			verified = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return broken, verified
}

// An alert must learn that the audit log was altered behind the server's back, without an
// administrator asking GET /api/v1/audit/verify: the background verification says so in
// rsched_audit_chain_broken, and says again when the chain is whole.
func TestTheBackgroundAuditVerificationExportsABrokenChain(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.bootstrap()
	ctx := context.Background()
	if b, v := e.auditChain(); b != 0 || v != 0 {
		t.Fatalf("before any verification: broken %v verified %v, want 0 and 0", b, v)
	}
	e.apps[0].verifyAudit(ctx)
	b, first := e.auditChain()
	if b != 0 || time.Since(time.Unix(int64(first), 0)) > time.Minute {
		t.Fatalf("an intact chain: broken %v verified at %v, want 0 and now", b, first)
	}
	var actor string
	if err := e.apps[0].Store.Pool.QueryRow(ctx, "SELECT actor FROM audit_log ORDER BY seq LIMIT 1").Scan(&actor); err != nil {
		t.Fatal(err)
	}
	e.sql(`UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = (SELECT min(seq) FROM audit_log)`)
	e.apps[0].verifyAudit(ctx)
	if b, v := e.auditChain(); b != 1 || v < first {
		t.Fatalf("an edited entry: broken %v verified %v, want 1 and a time after %v", b, v, first)
	}
	// A verification that cannot read the log says nothing about the chain: it counts as a failed job.
	e.sql("ALTER TABLE audit_log RENAME TO audit_log_away")
	e.apps[0].verifyAudit(ctx)
	if b, _ := e.auditChain(); b != 1 {
		t.Errorf("an unreadable log changed rsched_audit_chain_broken to %v", b)
	}
	if n := testutil.ToFloat64(e.apps[0].m.failures.WithLabelValues("audit-verify")); n != 1 {
		t.Errorf("audit-verify failures = %v, want 1", n)
	}
	e.sql("ALTER TABLE audit_log_away RENAME TO audit_log")
	e.sql("UPDATE audit_log SET actor = $1 WHERE seq = (SELECT min(seq) FROM audit_log)", actor)
	e.apps[0].verifyAudit(ctx)
	if b, _ := e.auditChain(); b != 0 {
		t.Errorf("the entry restored, rsched_audit_chain_broken stayed %v, want 0", b)
	}
}

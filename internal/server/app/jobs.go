package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/audit"
)

type jobMetrics struct {
	failures  *prometheus.CounterVec
	rewrapped prometheus.Counter
	rewrap    *rewrapMetrics
	// chainBroken and chainVerified are the outcome of the last audit chain verification.
	chainBroken, chainVerified prometheus.Gauge
}

// jobNames are the background jobs jobFailed counts, each a series at 0 from the start so that
// increase() sees its first failure.
var jobNames = []string{"cleanup", "audit-prune", "audit-verify", "rewrap", "api-limit-sync"}

func newJobMetrics(reg prometheus.Registerer) *jobMetrics {
	m := &jobMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rsched_background_job_failures_total", Help: "Failed runs of the server's background jobs, by job.",
		}, []string{"job"}),
		rewrapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rsched_fields_rewrapped_total", Help: "Encrypted fields re-sealed with the active key.",
		}),
		rewrap: newRewrapMetrics(),
		chainBroken: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rsched_audit_chain_broken",
			Help: "1 when the last verification of the audit log's hash chain found it altered (GET /api/v1/audit/verify names the entry), 0 when it found it intact or none has completed yet.",
		}),
		chainVerified: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rsched_audit_chain_verified_timestamp_seconds",
			Help: "When the last verification of the audit log's hash chain completed, whatever it found (Unix time; 0 before the first).",
		}),
	}
	for _, j := range jobNames {
		m.failures.WithLabelValues(j)
	}
	if reg != nil {
		reg.MustRegister(m.failures, m.rewrapped, m.rewrap, m.chainBroken, m.chainVerified)
	}
	return m
}

// rewrapMetrics exposes the outcome of the last completed rewrap pass. The operator retires an old
// encryption key once every replica reports the new key with nothing pending, so the key and the
// counts must come from the same pass: they are kept as one snapshot and written in one Collect,
// where separate gauges could be scraped half-way through an update. A pass that ended in an error
// changes nothing here: its counts cover only part of the data.
type rewrapMetrics struct {
	pending, failed, activeKey, started *prometheus.Desc

	mu   sync.Mutex
	last *accounts.RewrapStatus // nil until a pass completes
}

func newRewrapMetrics() *rewrapMetrics {
	return &rewrapMetrics{
		pending: prometheus.NewDesc("rsched_fields_rewrap_pending",
			"Encrypted fields still sealed with a key other than the active one after the last completed rewrap pass.", nil, nil),
		failed: prometheus.NewDesc("rsched_fields_rewrap_failed",
			"Encrypted fields the last completed rewrap pass could not open (need attention before the old key is retired).", nil, nil),
		activeKey: prometheus.NewDesc("rsched_fields_rewrap_active_key_info",
			"The active encryption key of the last completed rewrap pass, as its kid label (value always 1, one series; absent until a pass completes).", []string{"kid"}, nil),
		started: prometheus.NewDesc("rsched_fields_rewrap_last_run_timestamp_seconds",
			"Unix time the last completed rewrap pass started (absent until a pass completes).", nil, nil),
	}
}

// completed records the outcome of a pass that ran to the end.
func (m *rewrapMetrics) completed(st accounts.RewrapStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = &st
}

func (m *rewrapMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.pending
	ch <- m.failed
	ch <- m.activeKey
	ch <- m.started
}

func (m *rewrapMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	st := m.last
	m.mu.Unlock()
	var pending, failed int64
	if st != nil {
		pending, failed = st.Pending, st.Failed
	}
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(m.failed, prometheus.GaugeValue, float64(failed))
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(m.activeKey, prometheus.GaugeValue, 1, st.ActiveKID)
	ch <- prometheus.MustNewConstMetric(m.started, prometheus.GaugeValue, float64(st.StartedAt.UnixNano())/1e9)
}

// Intervals of the background jobs.
const (
	cleanupEvery = time.Minute
	pruneEvery   = time.Hour
	rewrapEvery  = 10 * time.Minute
	// keyCheckEvery is how often the active encryption key is compared with the one of the last
	// rewrap pass. An activation changes a key's state, not only the keyring's version, and the
	// operator waits for the rewrap before it retires the old key: a second keeps that wait short
	// for the price of an atomic load.
	keyCheckEvery = time.Second
	apiLimitSync  = time.Second
)

// RunBackground runs the periodic jobs until ctx ends: expired sessions, revoked token ids,
// challenges and counters are deleted; the audit trail is pruned to its retention, and its hash
// chain verified at start and hourly (rsched_audit_chain_broken); confidential
// fields are re-encrypted with the active key at start, within a second of the active encryption
// key changing, every ten minutes, and within a minute of a pass that failed; the whole-API
// limit's counts are shared with the other replicas every second. Every job is safe on every
// replica at once.
func (a *App) RunBackground(ctx context.Context) {
	cleanup := time.NewTicker(cleanupEvery)
	prune := time.NewTicker(pruneEvery)
	rewrap := time.NewTicker(rewrapEvery)
	keyCheck := time.NewTicker(keyCheckEvery)
	defer cleanup.Stop()
	defer prune.Stop()
	defer rewrap.Stop()
	defer keyCheck.Stop()
	rw := &rewrapJob{a: a}
	rw.run(ctx)
	a.verifyAudit(ctx)
	go a.APILimit.Run(ctx, apiLimitSync, func(err error) { a.jobFailed("api-limit-sync", err) })
	for {
		select {
		case <-ctx.Done():
			return
		case <-cleanup.C:
			a.cleanup(ctx)
			if rw.passFailed {
				rw.run(ctx)
			}
		case <-keyCheck.C:
			if kid := a.activeKID(); kid != "" && kid != rw.passKID {
				rw.run(ctx)
			}
		case <-prune.C:
			a.pruneAudit(ctx)
			a.verifyAudit(ctx)
		case <-rewrap.C:
			rw.run(ctx)
		}
	}
}

// activeKID names the active encryption key ("" before there is a keyring).
func (a *App) activeKID() string {
	if kr := a.keys.Current(); kr != nil {
		return kr.ActiveEncryptionKey().KID
	}
	return ""
}

// rewrapJob runs the rewrap passes of RunBackground and remembers what the next one depends on.
type rewrapJob struct {
	a          *App
	passKID    string // the active encryption key when the last pass started
	passFailed bool   // the last pass ended in an error
}

// run does one rewrap pass, if there is a keyring (the key check starts the pass once there is one).
func (j *rewrapJob) run(ctx context.Context) {
	a := j.a
	if j.passKID = a.activeKID(); j.passKID == "" {
		return
	}
	st, err := a.Rewrap.Run(ctx)
	a.m.rewrapped.Add(float64(st.Rewrapped))
	j.passFailed = err != nil
	if err != nil {
		if ctx.Err() == nil {
			a.jobFailed("rewrap", err)
		}
		return
	}
	a.m.rewrap.completed(st)
	if st.Rewrapped > 0 || st.Failed > 0 {
		a.log.Info("fields re-encrypted", "activeKid", st.ActiveKID, "rewrapped", st.Rewrapped, "failed", st.Failed, "pending", st.Pending)
	}
}

// cleanup deletes expired sessions, revoked token ids, challenges and counters, and old rate
// limit counts.
func (a *App) cleanup(ctx context.Context) {
	if _, err := a.Accounts.Cleanup(ctx); err != nil {
		a.jobFailed("cleanup", err)
	}
	if _, err := a.Limiter.Cleanup(ctx); err != nil {
		a.jobFailed("cleanup", err)
	}
}

// pruneAudit deletes the audit entries past their retention (none when retention is 0).
func (a *App) pruneAudit(ctx context.Context) {
	r := a.cfg.Audit.Retention.D()
	if r <= 0 {
		return
	}
	if n, err := a.Audit.Prune(ctx, r); err != nil {
		a.jobFailed("audit-prune", err)
	} else if n > 0 {
		a.log.Info("audit entries past retention deleted", "deleted", n, "retention", r.String())
	}
}

// verifyAudit recomputes the audit log's hash chain (one read-only snapshot, so appends and
// prunes go on meanwhile) and exports what it found: an alert, not only the admin's
// GET /api/v1/audit/verify, must learn that the log was altered behind the server's back.
func (a *App) verifyAudit(ctx context.Context) {
	_, err := a.Audit.Verify(ctx)
	switch {
	case err == nil:
		a.m.chainBroken.Set(0)
	case errors.Is(err, audit.ErrTampered):
		a.m.chainBroken.Set(1)
		a.log.Error("audit log hash chain broken", "error", err) // names the entry, nothing secret
	default:
		if ctx.Err() == nil {
			a.jobFailed("audit-verify", err)
		}
		return
	}
	a.m.chainVerified.SetToCurrentTime()
}

func (a *App) jobFailed(job string, err error) {
	a.m.failures.WithLabelValues(job).Inc()
	a.log.Error("background job failed", "job", job, "error", err)
}

package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type jobMetrics struct {
	failures      *prometheus.CounterVec
	rewrapPending prometheus.Gauge
	rewrapFailed  prometheus.Gauge
	rewrapped     prometheus.Counter
}

func newJobMetrics(reg prometheus.Registerer) *jobMetrics {
	m := &jobMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rsched_background_job_failures_total", Help: "Failed runs of the server's background jobs, by job.",
		}, []string{"job"}),
		rewrapPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rsched_fields_rewrap_pending", Help: "Encrypted fields still sealed with a key other than the active one after the last rewrap pass.",
		}),
		rewrapFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rsched_fields_rewrap_failed", Help: "Encrypted fields the last rewrap pass could not open (need attention before the old key is retired).",
		}),
		rewrapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rsched_fields_rewrapped_total", Help: "Encrypted fields re-sealed with the active key.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.failures, m.rewrapPending, m.rewrapFailed, m.rewrapped)
	}
	return m
}

// Intervals of the background jobs.
const (
	cleanupEvery = time.Minute
	pruneEvery   = time.Hour
	rewrapEvery  = 10 * time.Minute
	apiLimitSync = time.Second
)

// RunBackground runs the periodic jobs until ctx ends: expired sessions, revoked token ids,
// challenges and counters are deleted; the audit trail is pruned to its retention; confidential
// fields are re-encrypted with the active key at start, whenever the keyring's version changes
// and every ten minutes; the whole-API limit's counts are shared with the other replicas every
// second. Every job is safe on every replica at once.
func (a *App) RunBackground(ctx context.Context) {
	cleanup := time.NewTicker(cleanupEvery)
	prune := time.NewTicker(pruneEvery)
	rewrap := time.NewTicker(rewrapEvery)
	defer cleanup.Stop()
	defer prune.Stop()
	defer rewrap.Stop()
	version := int64(-1)
	runRewrap := func() {
		if kr := a.keys.Current(); kr != nil {
			version = kr.Version
		}
		st, err := a.Rewrap.Run(ctx)
		a.m.rewrapPending.Set(float64(st.Pending))
		a.m.rewrapFailed.Set(float64(st.Failed))
		a.m.rewrapped.Add(float64(st.Rewrapped))
		if err != nil {
			a.jobFailed("rewrap", err)
		} else if st.Rewrapped > 0 || st.Failed > 0 {
			a.log.Info("fields re-encrypted", "activeKid", st.ActiveKID, "rewrapped", st.Rewrapped, "failed", st.Failed, "pending", st.Pending)
		}
	}
	runRewrap()
	go a.APILimit.Run(ctx, apiLimitSync, func(err error) { a.jobFailed("api-limit-sync", err) })
	for {
		select {
		case <-ctx.Done():
			return
		case <-cleanup.C:
			if _, err := a.Accounts.Cleanup(ctx); err != nil {
				a.jobFailed("cleanup", err)
			}
			if _, err := a.Limiter.Cleanup(ctx); err != nil {
				a.jobFailed("cleanup", err)
			}
			if kr := a.keys.Current(); kr != nil && kr.Version != version {
				runRewrap()
			}
		case <-prune.C:
			if r := a.cfg.Audit.Retention.D(); r > 0 {
				if n, err := a.Audit.Prune(ctx, r); err != nil {
					a.jobFailed("audit-prune", err)
				} else if n > 0 {
					a.log.Info("audit entries past retention deleted", "deleted", n, "retention", r.String())
				}
			}
		case <-rewrap.C:
			runRewrap()
		}
	}
}

func (a *App) jobFailed(job string, err error) {
	a.m.failures.WithLabelValues(job).Inc()
	a.log.Error("background job failed", "job", job, "error", err)
}

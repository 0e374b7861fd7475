package accounts

import (
	"context"
	"maps"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/server/audit"
)

// Protective revocations: ending a session whose refresh token was reused or left idle, a
// sign-out, a user ending one of their sessions, an administrator's lock. Each protects the user
// from someone holding their tokens, so it must stand even when its audit entry cannot be
// written: rolled back with a failed audit write, it would leave a stolen session valid for as
// long as the audit fails. Every other change keeps inTx's all-or-nothing rule.

// protectTx runs a protective revocation fn in one transaction and appends the audit events it
// records under a savepoint in that transaction, so that in the normal case the revocation and
// its entries commit together. If the append fails, the savepoint is rolled back, the revocation
// commits without them, and auditAfterCommit writes them again in a transaction of their own; an
// entry that still cannot be written is logged at error level and counted (auditLost), never
// silently dropped. An error of fn itself rolls everything back, as in inTx.
func (s *Service) protectTx(ctx context.Context, c Client, fn func(tx pgx.Tx, a recorder) error) error {
	var events []audit.Event
	var entries []audit.Entry
	var auditErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		events = events[:0]
		if err := fn(tx, recorder{c: c, events: &events}); err != nil {
			return err
		}
		entries, auditErr = s.appendUnderSavepoint(ctx, tx, events)
		return nil
	})
	if err != nil {
		return err
	}
	if auditErr != nil {
		s.auditAfterCommit(ctx, events, auditErr)
		return nil
	}
	s.audit.Stream(entries...)
	return nil
}

// appendUnderSavepoint appends events in tx under a savepoint, which is rolled back (and tx left
// usable) if any of them fails.
func (s *Service) appendUnderSavepoint(ctx context.Context, tx pgx.Tx, events []audit.Event) ([]audit.Entry, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var entries []audit.Entry
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		for _, e := range events {
			entry, err := s.audit.AppendTx(ctx, sp, e)
			if err != nil {
				return err
			}
			entries = append(entries, entry)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// auditAfterCommit is the second attempt at the entries of a revocation that committed without
// them (cause is why the first failed): each is appended on its own, marked
// recorded_after_commit (its time is the retry's, not the revocation's). One that fails again is
// lost to the audit log: it is logged at error level, with who, what, on what and the request,
// but no details (they are redacted only on the way into the log), and counted in
// rsched_audit_entries_lost_total, for an alert.
func (s *Service) auditAfterCommit(ctx context.Context, events []audit.Event, cause error) {
	ctx = context.WithoutCancel(ctx)
	for _, e := range events {
		e.Details = maps.Clone(e.Details)
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		e.Details["recorded_after_commit"] = true
		if _, err := s.audit.Append(ctx, e); err != nil {
			s.lost.WithLabelValues(e.Action).Inc()
			s.log.Error("audit entry of a protective revocation lost; the revocation stands", "action", e.Action, "actor", e.Actor,
				"target", e.Target, "ip", e.IP, "request_id", e.RequestID, "first_error", cause, "error", err)
			continue
		}
		s.log.Warn("audit entry of a protective revocation written after its commit", "action", e.Action, "target", e.Target,
			"request_id", e.RequestID, "first_error", cause)
	}
}

// newLostCounter is rsched_audit_entries_lost_total, registered on reg when there is one.
func newLostCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rsched_audit_entries_lost_total",
		Help: "Audit entries of protective revocations (session revocations, sign-outs, administrators' locks) that could not be written, twice; the revocations committed. Each is logged at error level."},
		[]string{"action"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

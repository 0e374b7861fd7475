package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// readSnapshot runs read in one consistent view: a repeatable-read, read-only transaction of its
// own, or, on a Store bound to a change's transaction (On), that transaction, so that what the
// change wrote so far is seen (the manual edit checks judge the schedule after the edit, before
// it commits). That transaction reads committed data statement by statement: a caller that
// needs its reads to stay true until it commits takes LockScheduleInputs first.
func (s *Store) readSnapshot(ctx context.Context, read func(tx pgx.Tx) error) error {
	if tx, ok := s.db.(pgx.Tx); ok {
		return read(tx)
	}
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, read)
}

// LockTemplatesForEdit locks, in the change's transaction (On) and before LockScheduleInputs,
// the templates against every other writer and checked change: a template change judged and
// then written would otherwise hold the templates shared (LockScheduleInputs) while a second
// one does the same, and each one's write would wait on the other's (a deadlock).
func (s *Store) LockTemplatesForEdit(ctx context.Context) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return errors.New("store: LockTemplatesForEdit needs a transaction (Store.On)")
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE rotation_templates IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: locking the templates: %w", err)
	}
	return nil
}

// TemplateDates is every date the live schedule holds an assignment of template id on, in
// order: the days a change of the template's sessions is judged on.
func (s *Store) TemplateDates(ctx context.Context, id string) ([]roster.Date, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT date FROM assignments WHERE rotation_template_id = $1 ORDER BY date`, id)
	if err != nil {
		return nil, fmt.Errorf("store: reading a template's dates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Date, error) {
		var d time.Time
		err := r.Scan(&d)
		return roster.DateOf(d), err
	})
}

// LockScheduleInputs locks, in the change's transaction (On), what a schedule is judged on: the
// people, templates, absences, holidays and the block plan against writers, and the assignments against other
// writers of assignments, in the order a live run's write takes them. A manual edit takes it
// before judging the schedule, so that two edits at once cannot each pass their check and
// together break a rule, and nothing committed between its two judgements is blamed on it.
func (s *Store) LockScheduleInputs(ctx context.Context) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return errors.New("store: LockScheduleInputs needs a transaction (Store.On)")
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE people, rotation_templates, absences, holidays, block_assignments IN SHARE MODE`); err != nil {
		return fmt.Errorf("store: locking the inputs: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE assignments IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: locking the assignments: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// The steps of FinishRun that make a run the live schedule: the inputs locked and compared, the
// proposal recorded, the range replaced.

// lockInputsUnchanged locks a live run's inputs and the assignments in tx and returns ErrChanged
// if the inputs of [from, to] (and res.Margin days around) are no longer those the run solved.
func lockInputsUnchanged(ctx context.Context, tx pgx.Tx, from, to time.Time, res RunResult) error {
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	// No writer may change the inputs between the comparison and the write: the inputs'
	// tables in one order (parents first, as the cascades of a delete take them), the
	// assignments exclusive of other finishing runs too.
	if _, err := tx.Exec(ctx, `LOCK TABLE people, rotation_templates, absences, holidays, block_assignments IN SHARE MODE`); err != nil {
		return fmt.Errorf("store: locking the inputs: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE assignments IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: locking the assignments: %w", err)
	}
	var now string
	lo, hi := roster.DateOf(from).AddDays(-res.Margin).In(time.UTC), roster.DateOf(to).AddDays(res.Margin).In(time.UTC)
	if err := tx.QueryRow(ctx, fingerprintSQL, lo, hi).Scan(&now); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if now != res.Fingerprint {
		return ErrChanged
	}
	return nil
}

// copyRunAssignments records the run's proposed assignments.
func copyRunAssignments(ctx context.Context, tx pgx.Tx, id string, assignments []roster.Assignment) error {
	rows := make([][]any, 0, len(assignments))
	for _, a := range assignments {
		rows = append(rows, []any{id, a.PersonID, a.Slot.Date.In(time.UTC), string(a.Slot.Half), a.TemplateID})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"schedule_run_assignments"},
		[]string{"run_id", "person_id", "date", "time_of_day", "rotation_template_id"}, pgx.CopyFromRows(rows)); err != nil {
		if errors.Is(pgErr(err), ErrUnknownReference) {
			// A person or template the run placed was deleted while it solved (a draft or
			// failed run takes no locks): the data changed.
			return ErrChanged
		}
		return fmt.Errorf("store: recording the run's assignments: %w", err)
	}
	return nil
}

// publishRun makes run id's assignments the live schedule of [from, to]: the unlocked
// assignments of the people in scope (nil: everyone) are replaced, everything else stays. It
// returns how many assignments it wrote.
func publishRun(ctx context.Context, tx pgx.Tx, id string, from, to time.Time, scope []string) (int, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM assignments WHERE date BETWEEN $1 AND $2 AND NOT locked
		AND ($3::uuid[] IS NULL OR person_id = ANY($3::uuid[]))`, from, to, scope); err != nil {
		return 0, fmt.Errorf("store: clearing the range: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source, schedule_run_id)
		SELECT gen_random_uuid(), person_id, date, time_of_day, rotation_template_id, false, 'generated', run_id
		FROM schedule_run_assignments r WHERE run_id = $1 AND ($2::uuid[] IS NULL OR person_id = ANY($2::uuid[]))
		AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = r.person_id AND a.date = r.date AND a.time_of_day = r.time_of_day)`, id, scope)
	if err != nil {
		return 0, fmt.Errorf("store: writing the schedule: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

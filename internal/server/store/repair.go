package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// ErrRepairStale: the data a repair proposal was made from changed before it was applied.
var ErrRepairStale = errors.New("people, templates, absences or assignments changed since the repair was proposed; nothing was changed: ask for a new proposal")

// ApplyRepairChanges makes a repair's changes, on a Store bound to the change's transaction
// (On), only while the inputs of [from, to] (and margin days around) still have fingerprint:
// (a locked half-day of anyone but absentID is left alone: the change then finds it changed)
// they are locked and compared first, as a live run's write is (ErrRepairStale otherwise). A
// change removes the person's half-day (To ""), places them on a free one (From "") or moves
// them (both); the half-day must be as the proposal saw it.
func (s *Store) ApplyRepairChanges(ctx context.Context, from, to roster.Date, margin int, fingerprint, absentID string, changes []roster.RepairChange) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return errors.New("store: ApplyRepairChanges needs a transaction (Store.On)")
	}
	err := lockInputsUnchanged(ctx, tx, from.In(time.UTC), to.In(time.UTC), RunResult{Fingerprint: fingerprint, Margin: margin})
	if errors.Is(err, ErrChanged) {
		return ErrRepairStale
	}
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.From != "" {
			// A locked half-day is the coordinator's: only the absent person's go (they cannot work it).
			tag, err := tx.Exec(ctx, `DELETE FROM assignments WHERE person_id = $1 AND date = $2 AND time_of_day = $3 AND rotation_template_id = $4
				AND (NOT locked OR person_id = $5)`, c.PersonID, c.Date.In(time.UTC), string(c.Half), c.From, absentID)
			if err != nil {
				return fmt.Errorf("store: repairing: %w", pgErr(err))
			}
			if tag.RowsAffected() != 1 {
				return ErrRepairStale
			}
		}
		if c.To == "" {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source)
			VALUES ($1, $2, $3, $4, $5, false, 'manual')`, uuid.NewString(), c.PersonID, c.Date.In(time.UTC), string(c.Half), c.To); err != nil {
			if err = pgErr(err); errors.Is(err, ErrConflict) {
				return ErrRepairStale // the half-day is taken: not as the proposal saw it
			}
			return fmt.Errorf("store: repairing: %w", err)
		}
	}
	return nil
}

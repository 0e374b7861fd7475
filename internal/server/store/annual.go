package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// The annual planner's refusals of an apply.
var (
	// ErrPlanUnconfirmed (422): an apply without the preview's confirm token, or with one of
	// another academic year.
	ErrPlanUnconfirmed = errors.New("confirm is required: solve with dry_run first, check the plan it proposes, and send its confirm for the same year")
	// ErrPlanChanged (409): the plan or the planner's inputs changed since the preview.
	ErrPlanChanged = errors.New("the block plan or the planner's inputs (rotations, residents, requirements, requests) changed since the preview that confirm comes from; nothing was changed: preview again")
)

// GraduationRequirements is the program's whole set of requirements, by level.
func (s *Store) GraduationRequirements(ctx context.Context) ([]roster.Requirement, error) {
	rows, err := s.db.Query(ctx, `SELECT pgy_level, coalesce(rotation_id::text, ''), coalesce(kind, ''), min_blocks, max_blocks
		FROM graduation_requirements ORDER BY pgy_level, coalesce(rotation_id::text, kind)`)
	if err != nil {
		return nil, fmt.Errorf("store: reading graduation requirements: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Requirement, error) {
		var q roster.Requirement
		var kind string
		err := r.Scan(&q.PGY, &q.RotationID, &kind, &q.MinBlocks, &q.MaxBlocks)
		q.Kind = roster.RotationKind(kind)
		return q, err
	})
}

// ReplaceGraduationRequirements makes reqs the program's whole set (in the caller's transaction,
// with its audit entry) and returns how many there were before (ErrConflict for two of one level
// and target, ErrUnknownReference for an unknown rotation).
func (s *Store) ReplaceGraduationRequirements(ctx context.Context, reqs []roster.Requirement) (int, error) {
	if err := s.lockForReplace(ctx, "graduation_requirements"); err != nil {
		return 0, err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM graduation_requirements`)
	if err != nil {
		return 0, fmt.Errorf("store: replacing graduation requirements: %w", err)
	}
	for _, q := range reqs {
		var rot, kind *string
		if q.RotationID != "" {
			rot = &q.RotationID
		} else {
			k := string(q.Kind)
			kind = &k
		}
		if _, err := s.db.Exec(ctx, `INSERT INTO graduation_requirements (id, pgy_level, rotation_id, kind, min_blocks, max_blocks)
			VALUES ($1, $2, $3, $4, $5, $6)`, uuid.NewString(), q.PGY, rot, kind, q.MinBlocks, q.MaxBlocks); err != nil {
			return 0, fmt.Errorf("store: storing a graduation requirement: %w", pgErr(err))
		}
	}
	return int(tag.RowsAffected()), nil
}

// RotationRequests are the requests of one academic year, by person, block and rotation.
func (s *Store) RotationRequests(ctx context.Context, year roster.AcademicYear) ([]roster.RotationRequest, error) {
	rows, err := s.db.Query(ctx, `SELECT person_id::text, block_number, rotation_id::text, avoid, weight FROM rotation_requests
		WHERE academic_year = $1 ORDER BY person_id, block_number, rotation_id`, int(year))
	if err != nil {
		return nil, fmt.Errorf("store: reading rotation requests: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.RotationRequest, error) {
		var q roster.RotationRequest
		err := r.Scan(&q.PersonID, &q.Block, &q.RotationID, &q.Avoid, &q.Weight)
		return q, err
	})
}

// ReplaceRotationRequests makes reqs the whole set of year's requests (in the caller's
// transaction) and returns how many there were before.
func (s *Store) ReplaceRotationRequests(ctx context.Context, year roster.AcademicYear, reqs []roster.RotationRequest) (int, error) {
	if err := s.lockForReplace(ctx, "rotation_requests"); err != nil {
		return 0, err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM rotation_requests WHERE academic_year = $1`, int(year))
	if err != nil {
		return 0, fmt.Errorf("store: replacing rotation requests: %w", err)
	}
	for _, q := range reqs {
		if _, err := s.db.Exec(ctx, `INSERT INTO rotation_requests (id, person_id, academic_year, block_number, rotation_id, avoid, weight)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, uuid.NewString(), q.PersonID, int(year), q.Block, q.RotationID, q.Avoid, q.Weight); err != nil {
			return 0, fmt.Errorf("store: storing a rotation request: %w", pgErr(err))
		}
	}
	return int(tag.RowsAffected()), nil
}

// LockAnnualInputs locks the block plan against other writers and the planner's inputs
// (rotations, people, requirements, requests) against changes until the change's transaction
// ends, so that an apply writes a plan solved on inputs nobody is changing.
//
// The inputs are locked before the plan: deleting a person locks people and then, by its
// cascade, block_assignments, so taking them in the other order could deadlock.
func (s *Store) LockAnnualInputs(ctx context.Context) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return fmt.Errorf("store: LockAnnualInputs needs a transaction (Store.On)")
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE rotations, people, graduation_requirements, rotation_requests IN SHARE MODE`); err != nil {
		return fmt.Errorf("store: locking the planner's inputs: %w", err)
	}
	return s.LockBlockPlan(ctx)
}

// lockForReplace serialises the replacers of a table's rows (two replaces at once would
// otherwise each delete what they saw and insert theirs: the union, not one of them).
func (s *Store) lockForReplace(ctx context.Context, table string) error {
	if _, err := s.db.Exec(ctx, `LOCK TABLE `+table+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: locking %s: %w", table, err)
	}
	return nil
}

// ApplyAnnualPlan writes a solved plan of year: the entries of the people in clear (the planned
// residents when replanning, none otherwise) are removed first, then entries are stored.
func (s *Store) ApplyAnnualPlan(ctx context.Context, year roster.AcademicYear, clear []string, entries []roster.BlockAssignment) error {
	if len(clear) > 0 {
		if _, err := s.db.Exec(ctx, `DELETE FROM block_assignments WHERE academic_year = $1 AND person_id = ANY($2::uuid[])`,
			int(year), clear); err != nil {
			return fmt.Errorf("store: applying the annual plan: %w", err)
		}
	}
	for _, a := range entries {
		if err := s.SetBlockAssignment(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// ReplacePersonRotationRequests makes reqs the whole set of one person's requests of year (in
// the caller's transaction) and returns how many they had before.
func (s *Store) ReplacePersonRotationRequests(ctx context.Context, year roster.AcademicYear, personID string, reqs []roster.RotationRequest) (int, error) {
	if err := s.lockForReplace(ctx, "rotation_requests"); err != nil {
		return 0, err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM rotation_requests WHERE academic_year = $1 AND person_id = $2`, int(year), personID)
	if err != nil {
		return 0, fmt.Errorf("store: replacing a person's rotation requests: %w", err)
	}
	for _, q := range reqs {
		if _, err := s.db.Exec(ctx, `INSERT INTO rotation_requests (id, person_id, academic_year, block_number, rotation_id, avoid, weight)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, uuid.NewString(), personID, int(year), q.Block, q.RotationID, q.Avoid, q.Weight); err != nil {
			return 0, fmt.Errorf("store: storing a rotation request: %w", pgErr(err))
		}
	}
	return int(tag.RowsAffected()), nil
}

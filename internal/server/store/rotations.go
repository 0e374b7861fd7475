package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// RotationRecord is a stored block rotation.
type RotationRecord struct {
	roster.Rotation
	CreatedAt time.Time
	UpdatedAt time.Time
}

const rotationColumns = `id, name, kind, min_residents, max_residents, allowed_pgy_levels, created_at, updated_at`

func scanRotation(r pgx.Row) (RotationRecord, error) {
	var x RotationRecord
	var kind string
	err := r.Scan(&x.ID, &x.Name, &kind, &x.MinResidents, &x.MaxResidents, &x.AllowedPGY, &x.CreatedAt, &x.UpdatedAt)
	x.Kind = roster.RotationKind(kind)
	if x.AllowedPGY == nil {
		x.AllowedPGY = []int{}
	}
	return x, err
}

func rotationLevels(r roster.Rotation) []int {
	if r.AllowedPGY == nil {
		return []int{}
	}
	return r.AllowedPGY
}

// CreateRotation stores a rotation (ErrConflict for a taken name).
func (s *Store) CreateRotation(ctx context.Context, r roster.Rotation) (RotationRecord, error) {
	out, err := scanRotation(s.db.QueryRow(ctx, `INSERT INTO rotations (id, name, kind, min_residents, max_residents, allowed_pgy_levels)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+rotationColumns,
		uuid.NewString(), r.Name, string(r.Kind), r.MinResidents, r.MaxResidents, rotationLevels(r)))
	if err != nil {
		return out, fmt.Errorf("store: creating a rotation: %w", pgErr(err))
	}
	return out, nil
}

// GetRotation reads one rotation.
func (s *Store) GetRotation(ctx context.Context, id string) (RotationRecord, error) {
	r, err := scanRotation(s.db.QueryRow(ctx, `SELECT `+rotationColumns+` FROM rotations WHERE id = $1`, id))
	return r, notFound(err, "reading a rotation")
}

// ListRotations returns every rotation by name (a program has tens).
func (s *Store) ListRotations(ctx context.Context) ([]RotationRecord, error) {
	rows, err := s.db.Query(ctx, `SELECT `+rotationColumns+` FROM rotations ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("store: listing rotations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RotationRecord, error) { return scanRotation(r) })
}

// UpdateRotation replaces a rotation's fields if the row is still at r.UpdatedAt (as read):
// ErrStale if someone changed it meanwhile.
func (s *Store) UpdateRotation(ctx context.Context, r RotationRecord) (RotationRecord, error) {
	out, err := scanRotation(s.db.QueryRow(ctx, `UPDATE rotations SET name = $2, kind = $3, min_residents = $4, max_residents = $5,
		allowed_pgy_levels = $6, updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = $1 AND updated_at = $7 RETURNING `+rotationColumns,
		r.ID, r.Name, string(r.Kind), r.MinResidents, r.MaxResidents, rotationLevels(r.Rotation), r.UpdatedAt))
	if isNoRows(err) {
		return out, s.staleOrGone(ctx, "rotations", r.ID)
	}
	return out, notFound(pgErr(err), "updating a rotation")
}

// DeleteRotation removes a rotation no template or plan uses (ErrInUse otherwise).
func (s *Store) DeleteRotation(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "rotations", id)
}

// BlockPlan is the plan of one academic year, by person and block.
func (s *Store) BlockPlan(ctx context.Context, year roster.AcademicYear) ([]roster.BlockAssignment, error) {
	rows, err := s.db.Query(ctx, `SELECT person_id::text, academic_year, block_number, rotation_id::text FROM block_assignments
		WHERE academic_year = $1 ORDER BY person_id, block_number`, int(year))
	if err != nil {
		return nil, fmt.Errorf("store: reading the block plan: %w", err)
	}
	return pgx.CollectRows(rows, scanBlockAssignment)
}

func scanBlockAssignment(r pgx.CollectableRow) (roster.BlockAssignment, error) {
	var a roster.BlockAssignment
	var y int
	err := r.Scan(&a.PersonID, &y, &a.Block, &a.RotationID)
	a.Year = roster.AcademicYear(y)
	return a, err
}

// SetBlockAssignment puts a resident on a rotation for one block, replacing what they had
// (ErrUnknownReference for an unknown person or rotation).
func (s *Store) SetBlockAssignment(ctx context.Context, a roster.BlockAssignment) error {
	e := a.Entry()
	_, err := s.db.Exec(ctx, `INSERT INTO block_assignments (id, person_id, academic_year, block_number, rotation_id, start_date, end_date)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (person_id, academic_year, block_number) DO UPDATE SET rotation_id = excluded.rotation_id,
			updated_at = greatest(now(), block_assignments.updated_at + interval '1 microsecond')`,
		uuid.NewString(), a.PersonID, int(a.Year), a.Block, a.RotationID, e.Start.In(time.UTC), e.End.In(time.UTC))
	if err != nil {
		return fmt.Errorf("store: setting a block assignment: %w", pgErr(err))
	}
	return nil
}

// ClearBlockAssignment takes a resident off the plan for one block (ErrNotFound if they had
// nothing there).
func (s *Store) ClearBlockAssignment(ctx context.Context, personID string, year roster.AcademicYear, block int) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM block_assignments WHERE person_id = $1 AND academic_year = $2 AND block_number = $3`,
		personID, int(year), block)
	if err != nil {
		return fmt.Errorf("store: clearing a block assignment: %w", pgErr(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ReplaceBlockPlan makes plan the whole plan of year (the caller's transaction holds it
// together with its audit entry). It returns how many entries the year had before.
func (s *Store) ReplaceBlockPlan(ctx context.Context, year roster.AcademicYear, plan []roster.BlockAssignment) (int, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM block_assignments WHERE academic_year = $1`, int(year))
	if err != nil {
		return 0, fmt.Errorf("store: replacing the block plan: %w", err)
	}
	for _, a := range plan {
		if err := s.SetBlockAssignment(ctx, a); err != nil {
			return 0, err
		}
	}
	return int(tag.RowsAffected()), nil
}

// planEntriesSQL reads the plan entries overlapping [$1, $2].
const planEntriesSQL = `SELECT person_id::text, rotation_id::text, start_date, end_date FROM block_assignments
	WHERE start_date <= $2 AND end_date >= $1 ORDER BY person_id, start_date`

func scanPlanEntry(r pgx.CollectableRow) (roster.PlanEntry, error) {
	var e roster.PlanEntry
	var st, en time.Time
	err := r.Scan(&e.PersonID, &e.RotationID, &st, &en)
	e.Start, e.End = roster.DateOf(st), roster.DateOf(en)
	return e, err
}

// LockBlockPlan locks the plan against other writers until the change's transaction (On) ends,
// so that a fill judges capacities no one else is changing.
func (s *Store) LockBlockPlan(ctx context.Context) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return fmt.Errorf("store: LockBlockPlan needs a transaction (Store.On)")
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE block_assignments IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: locking the block plan: %w", err)
	}
	return nil
}

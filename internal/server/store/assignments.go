package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

const assignmentColumns = `id, person_id, date, time_of_day, rotation_template_id, locked, source, updated_at`

func scanAssignment(r pgx.Row) (StoredAssignment, error) {
	var a StoredAssignment
	var d time.Time
	var half string
	err := r.Scan(&a.ID, &a.PersonID, &d, &half, &a.TemplateID, &a.Locked, &a.Source, &a.UpdatedAt)
	a.Slot = roster.Slot{Date: roster.DateOf(d), Half: roster.Half(half)}
	return a, err
}

// GetAssignment reads one assignment.
func (s *Store) GetAssignment(ctx context.Context, id string) (StoredAssignment, error) {
	a, err := scanAssignment(s.db.QueryRow(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE id = $1`, id))
	return a, notFound(err, "reading an assignment")
}

// AssignmentFilter selects assignments of [From, To] (both required), optionally of one person
// or template; Page counts from 1.
type AssignmentFilter struct {
	From, To   roster.Date
	PersonID   string
	TemplateID string
	Page, Size int
}

// ListAssignments returns one page of assignments ordered by day, half and person, and the total.
func (s *Store) ListAssignments(ctx context.Context, f AssignmentFilter) ([]StoredAssignment, int, error) {
	where, args := []string{"date BETWEEN $1 AND $2"}, []any{f.From.In(time.UTC), f.To.In(time.UTC)}
	if f.PersonID != "" {
		args = append(args, f.PersonID)
		where = append(where, fmt.Sprintf("person_id = $%d", len(args)))
	}
	if f.TemplateID != "" {
		args = append(args, f.TemplateID)
		where = append(where, fmt.Sprintf("rotation_template_id = $%d", len(args)))
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM assignments WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting assignments: %w", err)
	}
	args = append(args, f.Size, (f.Page-1)*f.Size)
	rows, err := s.db.Query(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE `+cond+
		fmt.Sprintf(` ORDER BY date, time_of_day, person_id LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing assignments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredAssignment, error) { return scanAssignment(r) })
	return out, total, err
}

// DeleteAssignment removes an assignment if it is still at version ifUnmodifiedSince: ErrStale
// if someone changed it since, ErrNotFound if it is gone.
func (s *Store) DeleteAssignment(ctx context.Context, id string, ifUnmodifiedSince time.Time) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM assignments WHERE id = $1 AND updated_at = $2`, id, ifUnmodifiedSince)
	if err != nil {
		return fmt.Errorf("store: deleting an assignment: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.staleOrGone(ctx, "assignments", id)
}

// staleOrGone tells why a versioned write of row id of table (a constant) matched no row.
func (s *Store) staleOrGone(ctx context.Context, table, id string) error {
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if exists {
		return ErrStale
	}
	return ErrNotFound
}

// isNoRows reports a query that matched nothing.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

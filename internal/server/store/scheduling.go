package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rsched/rsched/internal/server/roster"
)

// Errors of the scheduling tables that the API turns into status codes.
var (
	// ErrNotFound: no such row (404).
	ErrNotFound = errors.New("not found")
	// ErrStale: the row changed since the caller read it (optimistic concurrency, 409).
	ErrStale = errors.New("the record was changed by someone else; read it again")
	// ErrOverlap: a run over an overlapping date range is in progress (409).
	ErrOverlap = errors.New("a schedule run over an overlapping date range is in progress")
	// ErrConflict: a unique value (an e-mail, a name, a person's half-day) is taken (409).
	ErrConflict = errors.New("a record with the same unique value exists")
	// ErrInUse: other records refer to this one (a template with assignments; 409).
	ErrInUse = errors.New("the record is in use")
	// ErrUnknownReference: a referenced record does not exist (422).
	ErrUnknownReference = errors.New("a referenced record does not exist")
)

// pgErr maps the PostgreSQL errors the scheduling tables raise on purpose.
func pgErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23P01": // exclusion_violation
			return ErrOverlap
		case "23505": // unique_violation
			return ErrConflict
		case "23503": // foreign_key_violation
			if pe.Severity == "ERROR" && strings.Contains(pe.Message, "update or delete") {
				return ErrInUse
			}
			return ErrUnknownReference
		}
	}
	return err
}

// IsBusy says whether err is PostgreSQL giving up on a change because of others at the same
// moment: a lock not taken within lock_timeout, a deadlock broken, a serialization failure.
// Nothing was written; the same request may succeed a moment later.
func IsBusy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01" || pe.Code == "40001")
}

// StoredAssignment is an assignment row; UpdatedAt is its version for optimistic concurrency.
type StoredAssignment struct {
	ID string
	roster.Assignment
	Source    string
	UpdatedAt time.Time
}

// CreateAssignment stores a manual assignment (ErrConflict if the person's half-day is taken).
func (s *Store) CreateAssignment(ctx context.Context, a roster.Assignment) (StoredAssignment, error) {
	out := StoredAssignment{ID: uuid.NewString(), Assignment: a, Source: "manual"}
	err := s.db.QueryRow(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source)
		VALUES ($1, $2, $3, $4, $5, $6, 'manual') RETURNING updated_at`,
		out.ID, a.PersonID, a.Slot.Date.In(time.UTC), string(a.Slot.Half), a.TemplateID, a.Locked).Scan(&out.UpdatedAt)
	if err != nil {
		return StoredAssignment{}, fmt.Errorf("store: creating an assignment: %w", pgErr(err))
	}
	return out, nil
}

// UpdateAssignment changes an assignment's template and lock if it is still at version
// ifUnmodifiedSince (its updated_at as read): ErrStale if someone changed it since, ErrNotFound
// if it is gone.
func (s *Store) UpdateAssignment(ctx context.Context, id, templateID string, locked bool, ifUnmodifiedSince time.Time) (StoredAssignment, error) {
	out, err := scanAssignment(s.db.QueryRow(ctx, `UPDATE assignments SET rotation_template_id = $2, locked = $3, source = 'manual',
		updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = $1 AND updated_at = $4 RETURNING `+assignmentColumns, id, templateID, locked, ifUnmodifiedSince))
	if isNoRows(err) {
		return out, s.staleOrGone(ctx, "assignments", id)
	}
	if err != nil {
		return out, fmt.Errorf("store: updating an assignment: %w", pgErr(err))
	}
	return out, nil
}

// Schedule reads the live assignments of [from, to].
func (s *Store) Schedule(ctx context.Context, from, to roster.Date) ([]StoredAssignment, error) {
	rows, err := s.db.Query(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE date BETWEEN $1 AND $2
		ORDER BY date, time_of_day, person_id`, from.In(time.UTC), to.In(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: reading the schedule: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredAssignment, error) { return scanAssignment(r) })
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// Absence statuses: requested, then approved or rejected by a coordinator; cancelled by the
// person or a coordinator. Only approved absences make a person unavailable.
const (
	AbsencePending   = "pending"
	AbsenceApproved  = "approved"
	AbsenceRejected  = "rejected"
	AbsenceCancelled = "cancelled"
)

// AbsenceTypes are the kinds of absence the table accepts.
var AbsenceTypes = []string{"vacation", "conference", "medical", "family_emergency", "bereavement", "training", "military_duty", "other"}

// ErrState: the record is not in a state that allows the change (a review of a reviewed
// absence; 409).
var ErrState = errors.New("the record is not in a state that allows this")

// ErrAbsenceOverlap: the person already has a pending or approved absence on one of the days (409).
var ErrAbsenceOverlap = errors.New("the person already has a pending or approved absence overlapping these dates")

// AbsenceRecord is a stored absence. ReasonSealed is the reason's ciphertext: the API opens it
// for single reads by those allowed to see it, never for lists.
type AbsenceRecord struct {
	ID           string
	PersonID     string
	Start, End   roster.Date
	Type         string
	Status       string
	ReasonSealed string
	RequestedBy  string
	ReviewedBy   string
	ReviewedAt   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const absenceColumns = `id, person_id, start_date, end_date, absence_type, status, coalesce(reason_sealed, ''),
	coalesce(requested_by::text, ''), coalesce(reviewed_by::text, ''), reviewed_at, created_at, updated_at`

func scanAbsence(r pgx.Row) (AbsenceRecord, error) {
	var a AbsenceRecord
	var from, to time.Time
	err := r.Scan(&a.ID, &a.PersonID, &from, &to, &a.Type, &a.Status, &a.ReasonSealed, &a.RequestedBy, &a.ReviewedBy, &a.ReviewedAt, &a.CreatedAt, &a.UpdatedAt)
	a.Start, a.End = roster.DateOf(from), roster.DateOf(to)
	return a, err
}

// NewAbsenceID returns the id a new absence will have, so its reason can be sealed bound to its
// row before the row exists.
func NewAbsenceID() string { return uuid.NewString() }

// CreateAbsence stores a pending absence (a.ID from NewAbsenceID). A person's pending and
// approved absences never overlap: the check runs under a lock on the person's row, so two
// requests at once cannot both pass it.
func (s *Store) CreateAbsence(ctx context.Context, a AbsenceRecord) (AbsenceRecord, error) {
	var out AbsenceRecord
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := lockPerson(ctx, tx, a.PersonID); err != nil {
			return err
		}
		var overlap bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM absences WHERE person_id = $1 AND status IN ('pending', 'approved')
			AND start_date <= $3 AND end_date >= $2)`, a.PersonID, a.Start.In(time.UTC), a.End.In(time.UTC)).Scan(&overlap); err != nil {
			return err
		}
		if overlap {
			return ErrAbsenceOverlap
		}
		var err error
		out, err = scanAbsence(tx.QueryRow(ctx, `INSERT INTO absences (id, person_id, start_date, end_date, absence_type, status, reason_sealed, requested_by)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING `+absenceColumns,
			a.ID, a.PersonID, a.Start.In(time.UTC), a.End.In(time.UTC), a.Type, nullable(a.ReasonSealed), nullable(a.RequestedBy)))
		return pgErr(err)
	})
	if err != nil && !errors.Is(err, ErrAbsenceOverlap) && !errors.Is(err, ErrUnknownReference) {
		return out, fmt.Errorf("store: creating an absence: %w", err)
	}
	return out, err
}

// lockPerson takes the person's row lock that serialises changes to their absences. FOR NO KEY
// UPDATE leaves the foreign-key checks of other writers (which take KEY SHARE) unblocked.
func lockPerson(ctx context.Context, tx pgx.Tx, id string) error {
	var got string
	err := tx.QueryRow(ctx, `SELECT id FROM people WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&got)
	if isNoRows(err) {
		return ErrUnknownReference
	}
	return err
}

// GetAbsence reads one absence.
func (s *Store) GetAbsence(ctx context.Context, id string) (AbsenceRecord, error) {
	a, err := scanAbsence(s.db.QueryRow(ctx, `SELECT `+absenceColumns+` FROM absences WHERE id = $1`, id))
	return a, notFound(err, "reading an absence")
}

// AbsenceFilter selects absences; zero fields select everything. Page counts from 1.
type AbsenceFilter struct {
	PersonID string
	Status   string
	// From and To select absences overlapping [From, To] when both are set.
	From, To   *roster.Date
	Page, Size int
}

// ListAbsences returns one page of absences by start date, and the total.
func (s *Store) ListAbsences(ctx context.Context, f AbsenceFilter) ([]AbsenceRecord, int, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.PersonID != "" {
		where = append(where, "person_id = "+arg(f.PersonID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.From != nil && f.To != nil {
		where = append(where, "start_date <= "+arg(f.To.In(time.UTC))+" AND end_date >= "+arg(f.From.In(time.UTC)))
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM absences WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting absences: %w", err)
	}
	limit, offset := arg(f.Size), arg((f.Page-1)*f.Size)
	rows, err := s.db.Query(ctx, `SELECT `+absenceColumns+` FROM absences WHERE `+cond+` ORDER BY start_date, id LIMIT `+limit+` OFFSET `+offset, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing absences: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AbsenceRecord, error) { return scanAbsence(r) })
	return out, total, err
}

// SetAbsenceStatus moves an absence from one of the statuses in from to status: a review
// (approved, rejected) records the reviewer. ErrState if the absence is in another status.
func (s *Store) SetAbsenceStatus(ctx context.Context, id string, from []string, status, reviewer string) (AbsenceRecord, error) {
	review := status == AbsenceApproved || status == AbsenceRejected
	out, err := scanAbsence(s.db.QueryRow(ctx, `UPDATE absences SET status = $3,
		reviewed_by = CASE WHEN $4 THEN $5::uuid ELSE reviewed_by END,
		reviewed_at = CASE WHEN $4 THEN now() WHEN $3 IN ('approved', 'rejected') THEN reviewed_at ELSE NULL END,
		updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = $1 AND status = ANY($2) RETURNING `+absenceColumns, id, from, status, review, nullable(reviewer)))
	if isNoRows(err) {
		if _, err := s.GetAbsence(ctx, id); err != nil {
			return out, err
		}
		return out, ErrState
	}
	return out, notFound(err, "changing an absence")
}

// DeleteAbsence removes an absence.
func (s *Store) DeleteAbsence(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "absences", id)
}

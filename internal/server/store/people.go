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

// PersonRecord is a stored person: what the solver sees plus contact and account details.
type PersonRecord struct {
	roster.Person
	// Email is contact data: shown only to coordinators, administrators and the person.
	Email string
	// UserID links the person to the account that signs in as them ("" for none).
	UserID string
	// The predecessor's descriptive attributes (PersonAttributes): stored, not scheduled on.
	PersonAttributes
	// FinalPGY is the PGY level a resident finishes their program in (the rollover graduates
	// them from it); 0 for others. DefaultFinalPGY when a resident is stored without one.
	FinalPGY int
	Archive
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Archive says whether and why a person was archived: kept with their history, never
// scheduled again, listed only on request.
type Archive struct {
	ArchivedAt *time.Time
	// ArchivedBy is the user who archived them ("" once that account is gone).
	ArchivedBy string
	// ArchivedReason is ArchivedRemoved or ArchivedGraduated.
	ArchivedReason string
}

// Archived says whether the person is archived.
func (a Archive) Archived() bool { return a.ArchivedAt != nil }

// Why a person was archived.
const (
	// ArchivedRemoved: DELETE /people/{id} of a person with history.
	ArchivedRemoved = "removed"
	// ArchivedGraduated: the academic-year rollover, in their final PGY level.
	ArchivedGraduated = "graduated"
)

// DefaultFinalPGY is the final level of a resident stored without one: a 3-year program (or
// their current level, if higher).
func DefaultFinalPGY(pgy int) int { return max(3, pgy) }

// PersonAttributes describe a person for coordinators; FacultyRole and AdminType are faculty's.
type PersonAttributes struct {
	PerformsProcedures       bool
	Specialties              []string
	PrimaryDuty              string
	FacultyRole              string
	AdminType                string
	MinClinicHalfdaysPerWeek int
}

// FacultyRoles are the values of PersonAttributes.FacultyRole.
var FacultyRoles = []string{"pd", "apd", "oic", "dept_chief", "sports_med", "core"}

const personColumns = `id, name, type, coalesce(email, ''), coalesce(pgy_level, 0), max_sessions_per_week, coalesce(user_id::text, ''),
	performs_procedures, specialties, coalesce(primary_duty, ''), coalesce(faculty_role, ''), coalesce(admin_type, ''), min_clinic_halfdays_per_week,
	coalesce(final_pgy_level, 0), archived_at, coalesce(archived_by::text, ''), coalesce(archived_reason, ''), credentials, created_at, updated_at`

func scanPerson(r pgx.Row) (PersonRecord, error) {
	var p PersonRecord
	var typ string
	a := &p.PersonAttributes
	err := r.Scan(&p.ID, &p.Name, &typ, &p.Email, &p.PGY, &p.MaxSessionsPerWeek, &p.UserID,
		&a.PerformsProcedures, &a.Specialties, &a.PrimaryDuty, &a.FacultyRole, &a.AdminType, &a.MinClinicHalfdaysPerWeek,
		&p.FinalPGY, &p.ArchivedAt, &p.ArchivedBy, &p.ArchivedReason, &p.Credentials, &p.CreatedAt, &p.UpdatedAt)
	p.Type = roster.PersonType(typ)
	if len(p.Credentials) == 0 {
		p.Credentials = nil
	}
	if len(a.Specialties) == 0 {
		a.Specialties = nil
	}
	return p, err
}

func specialties(a PersonAttributes) []string {
	if a.Specialties == nil {
		return []string{}
	}
	return a.Specialties
}

// credentials is a person's credentials as stored (never NULL).
func credentials(p roster.Person) []string {
	if p.Credentials == nil {
		return []string{}
	}
	return p.Credentials
}

func personArgs(p PersonRecord) (pgy, final *int, email, user *string) {
	if p.Type == roster.Resident {
		pgy, final = &p.PGY, &p.FinalPGY
		if p.FinalPGY == 0 {
			*final = DefaultFinalPGY(p.PGY)
		}
	}
	return pgy, final, nullable(p.Email), nullable(p.UserID)
}

// CreatePerson stores a person (ErrConflict for a taken e-mail or account).
func (s *Store) CreatePerson(ctx context.Context, p PersonRecord) (PersonRecord, error) {
	pgy, final, email, user := personArgs(p)
	a := p.PersonAttributes
	out, err := scanPerson(s.db.QueryRow(ctx, `INSERT INTO people (id, name, type, email, pgy_level, max_sessions_per_week, user_id,
		performs_procedures, specialties, primary_duty, faculty_role, admin_type, min_clinic_halfdays_per_week, final_pgy_level, credentials)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING `+personColumns,
		uuid.NewString(), p.Name, string(p.Type), email, pgy, p.MaxSessionsPerWeek, user,
		a.PerformsProcedures, specialties(a), nullable(a.PrimaryDuty), nullable(a.FacultyRole), nullable(a.AdminType), a.MinClinicHalfdaysPerWeek, final,
		credentials(p.Person)))
	if err != nil {
		return out, fmt.Errorf("store: creating a person: %w", pgErr(err))
	}
	return out, nil
}

// GetPerson reads one person.
func (s *Store) GetPerson(ctx context.Context, id string) (PersonRecord, error) {
	p, err := scanPerson(s.db.QueryRow(ctx, `SELECT `+personColumns+` FROM people WHERE id = $1`, id))
	return p, notFound(err, "reading a person")
}

// PersonOfUser is the person an account signs in as (ErrNotFound if none).
func (s *Store) PersonOfUser(ctx context.Context, userID string) (PersonRecord, error) {
	p, err := scanPerson(s.db.QueryRow(ctx, `SELECT `+personColumns+` FROM people WHERE user_id = $1`, userID))
	return p, notFound(err, "reading a person")
}

// PersonFilter selects people; Page counts from 1.
type PersonFilter struct {
	Type  roster.PersonType
	PGY   int
	Query string
	IDs   []string
	// FacultyRole, Specialty and PerformsProcedures filter on the predecessor's attributes.
	FacultyRole        string
	Specialty          string
	PerformsProcedures *bool
	// ActiveOnly leaves out archived people (the API's list does unless asked).
	ActiveOnly bool
	Page       int
	Size       int
}

// ListPeople returns one page of people ordered by type, level and name, and the total.
func (s *Store) ListPeople(ctx context.Context, f PersonFilter) ([]PersonRecord, int, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Type != "" {
		where = append(where, "type = "+arg(string(f.Type)))
	}
	if f.PGY != 0 {
		where = append(where, "pgy_level = "+arg(f.PGY))
	}
	if f.Query != "" {
		where = append(where, "name ILIKE "+arg("%"+EscapeLike(f.Query)+"%"))
	}
	if f.IDs != nil {
		where = append(where, "id = ANY("+arg(f.IDs)+"::uuid[])")
	}
	if f.FacultyRole != "" {
		where = append(where, "faculty_role = "+arg(f.FacultyRole))
	}
	if f.Specialty != "" {
		where = append(where, arg(f.Specialty)+" = ANY(specialties)")
	}
	if f.PerformsProcedures != nil {
		where = append(where, "performs_procedures = "+arg(*f.PerformsProcedures))
	}
	if f.ActiveOnly {
		where = append(where, "archived_at IS NULL")
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM people WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting people: %w", err)
	}
	if f.Size <= 0 {
		f.Size = 100000
	}
	if f.Page < 1 {
		f.Page = 1
	}
	limit, offset := arg(f.Size), arg((f.Page-1)*f.Size)
	rows, err := s.db.Query(ctx, `SELECT `+personColumns+` FROM people WHERE `+cond+
		` ORDER BY type DESC, pgy_level NULLS LAST, name, id LIMIT `+limit+` OFFSET `+offset, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing people: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PersonRecord, error) { return scanPerson(r) })
	return out, total, err
}

// UpdatePerson replaces a person's fields if the row is still at p.UpdatedAt (as read):
// ErrStale if someone changed it meanwhile, so a read-modify-write never loses their change.
func (s *Store) UpdatePerson(ctx context.Context, p PersonRecord) (PersonRecord, error) {
	pgy, final, email, user := personArgs(p)
	a := p.PersonAttributes
	out, err := scanPerson(s.db.QueryRow(ctx, `UPDATE people SET name = $2, type = $3, email = $4, pgy_level = $5,
		max_sessions_per_week = $6, user_id = $7, performs_procedures = $9, specialties = $10, primary_duty = $11, faculty_role = $12,
		admin_type = $13, min_clinic_halfdays_per_week = $14, final_pgy_level = $15, credentials = $16, updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = $1 AND updated_at = $8 RETURNING `+personColumns, p.ID, p.Name, string(p.Type), email, pgy, p.MaxSessionsPerWeek, user, p.UpdatedAt,
		a.PerformsProcedures, specialties(a), nullable(a.PrimaryDuty), nullable(a.FacultyRole), nullable(a.AdminType), a.MinClinicHalfdaysPerWeek, final,
		credentials(p.Person)))
	if isNoRows(err) {
		return out, s.staleOrGone(ctx, "people", p.ID)
	}
	return out, notFound(pgErr(err), "updating a person")
}

// RemovePerson deletes a person who has no history (no assignment, absence, run proposal or
// assignment a publication replaced),
// and archives one who has (ArchivedRemoved, by): deleted says which. The person's row is
// locked first, so no assignment or absence can be added between the look and the delete. An
// archived person stays archived as they were.
func (s *Store) RemovePerson(ctx context.Context, id, by string) (out PersonRecord, deleted bool, err error) {
	var history bool
	err = s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM assignments WHERE person_id = p.id)
		OR EXISTS (SELECT 1 FROM absences WHERE person_id = p.id)
		OR EXISTS (SELECT 1 FROM schedule_run_assignments WHERE person_id = p.id)
		OR EXISTS (SELECT 1 FROM schedule_publication_replaced WHERE person_id = p.id)
		FROM people p WHERE id = $1 FOR UPDATE`, id).Scan(&history)
	if err != nil {
		return out, false, notFound(err, "reading a person's history")
	}
	if !history {
		return out, true, s.deleteRow(ctx, "people", id)
	}
	out, err = scanPerson(s.db.QueryRow(ctx, `UPDATE people SET archived_at = coalesce(archived_at, now()),
		archived_by = CASE WHEN archived_at IS NULL THEN $2::uuid ELSE archived_by END, archived_reason = coalesce(archived_reason, $3),
		updated_at = CASE WHEN archived_at IS NULL THEN greatest(now(), updated_at + interval '1 microsecond') ELSE updated_at END
		WHERE id = $1 RETURNING `+personColumns, id, nullable(by), ArchivedRemoved))
	return out, false, notFound(err, "archiving a person")
}

// RestorePerson brings an archived person back: listed and scheduled again (a person who is
// not archived is returned as they are).
func (s *Store) RestorePerson(ctx context.Context, id string) (PersonRecord, error) {
	out, err := scanPerson(s.db.QueryRow(ctx, `UPDATE people SET archived_at = NULL, archived_by = NULL, archived_reason = NULL,
		updated_at = CASE WHEN archived_at IS NULL THEN updated_at ELSE greatest(now(), updated_at + interval '1 microsecond') END
		WHERE id = $1 RETURNING `+personColumns, id))
	return out, notFound(err, "restoring a person")
}

func (s *Store) deleteRow(ctx context.Context, table, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: deleting from %s: %w", table, pgErr(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// notFound maps pgx.ErrNoRows to ErrNotFound and wraps other errors.
func notFound(err error, doing string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrInUse), errors.Is(err, ErrOverlap):
		return err
	}
	return fmt.Errorf("store: %s: %w", doing, err)
}

// EscapeLike escapes LIKE's wildcards in user input (the user list and the people list search
// by name with it).
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

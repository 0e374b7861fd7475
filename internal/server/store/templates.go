package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// TemplateRecord is a stored rotation template.
type TemplateRecord struct {
	roster.Template
	CreatedAt time.Time
	UpdatedAt time.Time
}

const templateColumns = `id, name, activity_type, hours_per_session::float8, min_residents, max_residents, allowed_pgy_levels,
	supervision_required, weekends, holidays, max_learners, coalesce(rotation_id::text, ''), to_char(start_time, 'HH24:MI'), coalesce(required_credential, ''), min_faculty, call_every_nth_night, created_at, updated_at`

func scanTemplate(r pgx.Row) (TemplateRecord, error) {
	var t TemplateRecord
	var act string
	var start *string
	err := r.Scan(&t.ID, &t.Name, &act, &t.HoursPerSession, &t.MinResidents, &t.MaxResidents, &t.AllowedPGY,
		&t.SupervisionRequired, &t.Weekends, &t.Holidays, &t.MaxLearners, &t.RotationID, &start, &t.RequiredCredential, &t.MinFaculty, &t.EveryNthNight, &t.CreatedAt, &t.UpdatedAt)
	t.Activity = roster.Activity(act)
	if err == nil && start != nil {
		c, perr := roster.ParseClock(*start)
		if perr != nil {
			return t, fmt.Errorf("store: template %s: %w", t.ID, perr)
		}
		t.StartTime = &c
	}
	if len(t.AllowedPGY) == 0 {
		t.AllowedPGY = nil
	}
	return t, err
}

// rotationRef is a template's rotation_id: NULL for none.
func rotationRef(t roster.Template) *string {
	if t.RotationID == "" {
		return nil
	}
	return &t.RotationID
}

// startTime is a template's start_time: NULL for the half-day family.
func startTime(t roster.Template) *string {
	if t.StartTime == nil {
		return nil
	}
	v := t.StartTime.String()
	return &v
}

func levels(t roster.Template) []int {
	if t.AllowedPGY == nil {
		return []int{}
	}
	return t.AllowedPGY
}

// CreateTemplate stores a rotation template (ErrConflict for a taken name).
func (s *Store) CreateTemplate(ctx context.Context, t roster.Template) (TemplateRecord, error) {
	out, err := scanTemplate(s.db.QueryRow(ctx, `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, min_residents,
		max_residents, allowed_pgy_levels, supervision_required, weekends, holidays, max_learners, rotation_id, start_time, required_credential, min_faculty, call_every_nth_night)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::time, $14, $15, $16)
		RETURNING `+templateColumns,
		uuid.NewString(), t.Name, string(t.Activity), t.HoursPerSession, t.MinResidents, t.MaxResidents, levels(t), t.SupervisionRequired, t.Weekends, t.Holidays,
		t.MaxLearners, rotationRef(t), startTime(t), nullable(t.RequiredCredential), t.MinFaculty, t.EveryNthNight))
	if err != nil {
		return out, fmt.Errorf("store: creating a template: %w", pgErr(err))
	}
	return out, nil
}

// GetTemplate reads one template.
func (s *Store) GetTemplate(ctx context.Context, id string) (TemplateRecord, error) {
	t, err := scanTemplate(s.db.QueryRow(ctx, `SELECT `+templateColumns+` FROM rotation_templates WHERE id = $1`, id))
	return t, notFound(err, "reading a template")
}

// ListTemplates returns every template by name (a program has tens, not thousands).
func (s *Store) ListTemplates(ctx context.Context) ([]TemplateRecord, error) {
	rows, err := s.db.Query(ctx, `SELECT `+templateColumns+` FROM rotation_templates ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("store: listing templates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TemplateRecord, error) { return scanTemplate(r) })
}

// UpdateTemplate replaces a template's fields if the row is still at t.UpdatedAt (as read):
// ErrStale if someone changed it meanwhile.
func (s *Store) UpdateTemplate(ctx context.Context, t TemplateRecord) (TemplateRecord, error) {
	out, err := scanTemplate(s.db.QueryRow(ctx, `UPDATE rotation_templates SET name = $2, activity_type = $3, hours_per_session = $4,
		min_residents = $5, max_residents = $6, allowed_pgy_levels = $7, supervision_required = $8, weekends = $9,
		holidays = $11, max_learners = $12, rotation_id = $13, start_time = $14::time, required_credential = $15, min_faculty = $16, call_every_nth_night = $17, updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE id = $1 AND updated_at = $10 RETURNING `+templateColumns,
		t.ID, t.Name, string(t.Activity), t.HoursPerSession, t.MinResidents, t.MaxResidents, levels(t.Template), t.SupervisionRequired, t.Weekends, t.UpdatedAt,
		t.Holidays, t.MaxLearners, rotationRef(t.Template), startTime(t.Template), nullable(t.RequiredCredential), t.MinFaculty, t.EveryNthNight))
	if isNoRows(err) {
		return out, s.staleOrGone(ctx, "rotation_templates", t.ID)
	}
	return out, notFound(pgErr(err), "updating a template")
}

// DeleteTemplate removes a template no assignment uses (ErrInUse otherwise).
func (s *Store) DeleteTemplate(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "rotation_templates", id)
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rsched/rsched/internal/server/schedule"
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
		}
	}
	return err
}

// CreatePerson stores a person and returns its id.
func (s *Store) CreatePerson(ctx context.Context, p schedule.Person, email string) (string, error) {
	id := uuid.NewString()
	var pgy *int
	if p.Type == schedule.Resident {
		pgy = &p.PGY
	}
	var mail *string
	if email != "" {
		mail = &email
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO people (id, name, type, email, pgy_level, max_sessions_per_week) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, p.Name, string(p.Type), mail, pgy, p.MaxSessionsPerWeek)
	if err != nil {
		return "", fmt.Errorf("store: creating a person: %w", pgErr(err))
	}
	return id, nil
}

// CreateTemplate stores a rotation template and returns its id.
func (s *Store) CreateTemplate(ctx context.Context, t schedule.Template) (string, error) {
	id := uuid.NewString()
	levels := t.AllowedPGY
	if levels == nil {
		levels = []int{}
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, min_residents, max_residents,
		allowed_pgy_levels, supervision_required, weekends) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, t.Name, string(t.Activity), t.HoursPerSession, t.MinResidents, t.MaxResidents, levels, t.SupervisionRequired, t.Weekends)
	if err != nil {
		return "", fmt.Errorf("store: creating a template: %w", pgErr(err))
	}
	return id, nil
}

// StoredAssignment is an assignment row; UpdatedAt is its version for optimistic concurrency.
type StoredAssignment struct {
	ID string
	schedule.Assignment
	Source    string
	UpdatedAt time.Time
}

// CreateAssignment stores a manual assignment (ErrConflict if the person's half-day is taken).
func (s *Store) CreateAssignment(ctx context.Context, a schedule.Assignment) (StoredAssignment, error) {
	out := StoredAssignment{ID: uuid.NewString(), Assignment: a, Source: "manual"}
	err := s.Pool.QueryRow(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source)
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
	var out StoredAssignment
	var d time.Time
	var half string
	err := s.Pool.QueryRow(ctx, `UPDATE assignments SET rotation_template_id = $2, locked = $3, source = 'manual',
		updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = $1 AND updated_at = $4
		RETURNING id, person_id, date, time_of_day, rotation_template_id, locked, source, updated_at`,
		id, templateID, locked, ifUnmodifiedSince).Scan(&out.ID, &out.PersonID, &d, &half, &out.TemplateID, &out.Locked, &out.Source, &out.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM assignments WHERE id = $1)`, id).Scan(&exists); err != nil {
			return out, fmt.Errorf("store: %w", err)
		}
		if exists {
			return out, ErrStale
		}
		return out, ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("store: updating an assignment: %w", pgErr(err))
	}
	out.Slot = schedule.Slot{Date: schedule.DateOf(d), Half: schedule.Half(half)}
	return out, nil
}

// RunStart is what a schedule run was asked.
type RunStart struct {
	From, To schedule.Date
	Draft    bool
	Request  any
	// IdempotencyKey and RequestHash (SHA-256 of the canonical request) make a retried request
	// return the same run; CreatedBy scopes the key to its user.
	IdempotencyKey string
	RequestHash    []byte
	CreatedBy      string
}

// Run is a stored schedule run.
type Run struct {
	ID          string
	From, To    schedule.Date
	Status      string
	Draft       bool
	RequestHash []byte
	Stats       json.RawMessage
	Violations  *int
	Message     *string
	CreatedAt   time.Time
	FinishedAt  *time.Time
}

// ErrIdempotent is returned by BeginRun when the caller already used the key: Run is that run
// (compare its RequestHash: the same body replays it, a different one is a client error).
type ErrIdempotent struct{ Run Run }

func (e *ErrIdempotent) Error() string { return "the idempotency key was used before" }

// BeginRun records a run in progress over [From, To]: ErrOverlap if another run in progress
// overlaps it, *ErrIdempotent if the user already sent this key.
func (s *Store) BeginRun(ctx context.Context, r RunStart) (Run, error) {
	if r.IdempotencyKey != "" {
		if prev, err := s.runByKey(ctx, r.CreatedBy, r.IdempotencyKey); err == nil {
			return Run{}, &ErrIdempotent{Run: prev}
		} else if !errors.Is(err, ErrNotFound) {
			return Run{}, err
		}
	}
	req, err := json.Marshal(r.Request)
	if err != nil {
		return Run{}, fmt.Errorf("store: encoding the run request: %w", err)
	}
	var key, by *string
	if r.IdempotencyKey != "" {
		key = &r.IdempotencyKey
	}
	if r.CreatedBy != "" {
		by = &r.CreatedBy
	}
	run := Run{ID: uuid.NewString(), From: r.From, To: r.To, Status: "in_progress", Draft: r.Draft, RequestHash: r.RequestHash}
	err = s.Pool.QueryRow(ctx, `INSERT INTO schedule_runs (id, start_date, end_date, status, draft, request, idempotency_key, request_hash, created_by)
		VALUES ($1, $2, $3, 'in_progress', $4, $5, $6, $7, $8) RETURNING created_at`,
		run.ID, r.From.In(time.UTC), r.To.In(time.UTC), r.Draft, req, key, r.RequestHash, by).Scan(&run.CreatedAt)
	if err != nil {
		err = pgErr(err)
		if errors.Is(err, ErrConflict) && r.IdempotencyKey != "" {
			// The same key raced in from another replica: report the run that won.
			if prev, err2 := s.runByKey(ctx, r.CreatedBy, r.IdempotencyKey); err2 == nil {
				return Run{}, &ErrIdempotent{Run: prev}
			}
		}
		return Run{}, fmt.Errorf("store: starting a run: %w", err)
	}
	return run, nil
}

func (s *Store) runByKey(ctx context.Context, by, key string) (Run, error) {
	var id string
	err := s.Pool.QueryRow(ctx, `SELECT id FROM schedule_runs WHERE idempotency_key = $1 AND created_by IS NOT DISTINCT FROM $2`, key, nullable(by)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: %w", err)
	}
	return s.GetRun(ctx, id)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// GetRun reads one run.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	var r Run
	var from, to time.Time
	err := s.Pool.QueryRow(ctx, `SELECT id, start_date, end_date, status, draft, request_hash, stats, violations, message, created_at, finished_at
		FROM schedule_runs WHERE id = $1`, id).Scan(&r.ID, &from, &to, &r.Status, &r.Draft, &r.RequestHash, &r.Stats, &r.Violations, &r.Message, &r.CreatedAt, &r.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("store: reading a run: %w", err)
	}
	r.From, r.To = schedule.DateOf(from), schedule.DateOf(to)
	return r, nil
}

// RunResult is how a run ended.
type RunResult struct {
	Status      string // success, partial or failed
	Stats       any
	Violations  int
	Message     string
	Assignments []schedule.Assignment
}

// FinishRun records the run's outcome and proposed assignments in one transaction and, unless
// the run is a draft or failed, makes them the live schedule of its range: every unlocked
// assignment in the range is replaced, locked ones stay. Nothing is half-written: a crash or a
// lost connection leaves the previous schedule and an in-progress run.
func (s *Store) FinishRun(ctx context.Context, id string, res RunResult) error {
	stats, err := json.Marshal(res.Stats)
	if err != nil {
		return fmt.Errorf("store: encoding run statistics: %w", err)
	}
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var from, to time.Time
		var draft bool
		var status string
		if err := tx.QueryRow(ctx, `SELECT start_date, end_date, draft, status FROM schedule_runs WHERE id = $1 FOR UPDATE`, id).Scan(&from, &to, &draft, &status); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("store: %w", err)
		}
		if status != "in_progress" {
			return fmt.Errorf("store: run %s already finished (%s)", id, status)
		}
		rows := make([][]any, 0, len(res.Assignments))
		for _, a := range res.Assignments {
			rows = append(rows, []any{id, a.PersonID, a.Slot.Date.In(time.UTC), string(a.Slot.Half), a.TemplateID})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"schedule_run_assignments"},
			[]string{"run_id", "person_id", "date", "time_of_day", "rotation_template_id"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("store: recording the run's assignments: %w", err)
		}
		if !draft && res.Status != "failed" {
			if _, err := tx.Exec(ctx, `DELETE FROM assignments WHERE date BETWEEN $1 AND $2 AND NOT locked`, from, to); err != nil {
				return fmt.Errorf("store: clearing the range: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source, schedule_run_id)
				SELECT gen_random_uuid(), person_id, date, time_of_day, rotation_template_id, false, 'generated', run_id
				FROM schedule_run_assignments r WHERE run_id = $1
				AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = r.person_id AND a.date = r.date AND a.time_of_day = r.time_of_day)`, id); err != nil {
				return fmt.Errorf("store: writing the schedule: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE schedule_runs SET status = $2, stats = $3, violations = $4, message = $5, finished_at = now() WHERE id = $1`,
			id, res.Status, stats, res.Violations, nullable(res.Message))
		return err
	})
}

// Schedule reads the live assignments of [from, to].
func (s *Store) Schedule(ctx context.Context, from, to schedule.Date) ([]StoredAssignment, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, person_id, date, time_of_day, rotation_template_id, locked, source, updated_at
		FROM assignments WHERE date BETWEEN $1 AND $2 ORDER BY date, time_of_day, person_id`, from.In(time.UTC), to.In(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: reading the schedule: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredAssignment, error) {
		var a StoredAssignment
		var d time.Time
		var half string
		err := r.Scan(&a.ID, &a.PersonID, &d, &half, &a.TemplateID, &a.Locked, &a.Source, &a.UpdatedAt)
		a.Slot = schedule.Slot{Date: schedule.DateOf(d), Half: schedule.Half(half)}
		return a, err
	})
}

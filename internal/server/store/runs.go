package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// Run statuses.
const (
	RunInProgress = "in_progress"
	RunSuccess    = "success"
	RunPartial    = "partial"
	RunFailed     = "failed"
)

// ErrChanged: the data a run read changed before it could write its result; nothing was
// written (409).
var ErrChanged = errors.New("the schedule's data changed while the run was solving; nothing was written")

// RunStart is what a schedule run was asked.
type RunStart struct {
	From, To roster.Date
	Draft    bool
	Request  any
	// IdempotencyKey and RequestHash (SHA-256 of the canonical request) make a retried request
	// return the same run; CreatedBy scopes the key to its user.
	IdempotencyKey string
	RequestHash    []byte
	CreatedBy      string
	// AbandonAfter closes, before this run begins, runs in progress whose heartbeat is older
	// (their server died); 0 leaves them.
	AbandonAfter time.Duration
}

// Run is a stored schedule run.
type Run struct {
	ID          string
	From, To    roster.Date
	Status      string
	Draft       bool
	Request     json.RawMessage
	RequestHash []byte
	Progress    json.RawMessage
	Stats       json.RawMessage
	Violations  *int
	// ViolationList is what the run found, as the API shows it.
	ViolationList json.RawMessage
	// Shortfall is the required coverage the run left unfilled and why (nil: none).
	Shortfall json.RawMessage
	// Scope lists the people a filtered run rescheduled (nil: everyone).
	Scope []string
	// Fingerprint is the digest of the inputs the run solved on (nil before it finished).
	Fingerprint *string
	Message     *string
	CreatedBy   *string
	CreatedAt   time.Time
	HeartbeatAt *time.Time
	FinishedAt  *time.Time
}

// ErrIdempotent is returned by BeginRun when the caller already used the key: Run is that run
// (compare its RequestHash: the same body replays it, a different one is a client error).
type ErrIdempotent struct{ Run Run }

func (e *ErrIdempotent) Error() string { return "the idempotency key was used before" }

// BeginRun records a run in progress over [From, To]: ErrOverlap if another run in progress
// overlaps it, *ErrIdempotent if the user already sent this key for a run that did not fail (a
// failed run gives its key back, so a retry after a failure runs again).
func (s *Store) BeginRun(ctx context.Context, r RunStart) (Run, error) {
	if r.AbandonAfter > 0 {
		if _, err := s.Pool.Exec(ctx, `UPDATE schedule_runs SET status = 'failed', finished_at = now(),
			message = 'abandoned: the server running it stopped before it finished; nothing was written'
			WHERE status = 'in_progress' AND coalesce(heartbeat_at, created_at) < now() - $1::interval`, r.AbandonAfter); err != nil {
			return Run{}, fmt.Errorf("store: closing abandoned runs: %w", err)
		}
	}
	if r.IdempotencyKey != "" {
		if _, err := s.Pool.Exec(ctx, `UPDATE schedule_runs SET idempotency_key = NULL
			WHERE idempotency_key = $1 AND created_by IS NOT DISTINCT FROM $2 AND status = 'failed'`, r.IdempotencyKey, nullable(r.CreatedBy)); err != nil {
			return Run{}, fmt.Errorf("store: %w", err)
		}
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
	run := Run{ID: uuid.NewString(), From: r.From, To: r.To, Status: RunInProgress, Draft: r.Draft, RequestHash: r.RequestHash, Request: req}
	err = s.Pool.QueryRow(ctx, `INSERT INTO schedule_runs (id, start_date, end_date, status, draft, request, idempotency_key, request_hash, created_by, heartbeat_at)
		VALUES ($1, $2, $3, 'in_progress', $4, $5, $6, $7, $8, now()) RETURNING created_at`,
		run.ID, r.From.In(time.UTC), r.To.In(time.UTC), r.Draft, req, nullable(r.IdempotencyKey), r.RequestHash, nullable(r.CreatedBy)).Scan(&run.CreatedAt)
	if err != nil {
		err = pgErr(err)
		if errors.Is(err, ErrConflict) && r.IdempotencyKey != "" {
			// The same key raced in from another replica: report the run that won.
			if prev, err2 := s.runByKey(ctx, r.CreatedBy, r.IdempotencyKey); err2 == nil {
				return Run{}, &ErrIdempotent{Run: prev}
			}
		}
		if errors.Is(err, ErrOverlap) {
			return Run{}, err
		}
		return Run{}, fmt.Errorf("store: starting a run: %w", err)
	}
	return run, nil
}

func (s *Store) runByKey(ctx context.Context, by, key string) (Run, error) {
	var id string
	err := s.Pool.QueryRow(ctx, `SELECT id FROM schedule_runs WHERE idempotency_key = $1 AND created_by IS NOT DISTINCT FROM $2`, key, nullable(by)).Scan(&id)
	if isNoRows(err) {
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

const runColumns = `id, start_date, end_date, status, draft, request, request_hash, progress, stats, violations, violation_list,
	shortfall, scope::text[], fingerprint, message, created_by::text, created_at, heartbeat_at, finished_at`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	var from, to time.Time
	err := row.Scan(&r.ID, &from, &to, &r.Status, &r.Draft, &r.Request, &r.RequestHash, &r.Progress, &r.Stats, &r.Violations, &r.ViolationList,
		&r.Shortfall, &r.Scope, &r.Fingerprint, &r.Message, &r.CreatedBy, &r.CreatedAt, &r.HeartbeatAt, &r.FinishedAt)
	r.From, r.To = roster.DateOf(from), roster.DateOf(to)
	return r, err
}

// GetRun reads one run.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.Pool.QueryRow(ctx, `SELECT `+runColumns+` FROM schedule_runs WHERE id = $1`, id))
	return r, notFound(err, "reading a run")
}

// ListRuns returns one page of runs, newest first, and the total.
func (s *Store) ListRuns(ctx context.Context, page, size int) ([]Run, int, error) {
	var total int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM schedule_runs`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting runs: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+runColumns+` FROM schedule_runs ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`, size, (page-1)*size)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	return out, total, err
}

// RunAssignments reads the assignments a run proposed.
func (s *Store) RunAssignments(ctx context.Context, id string) ([]roster.Assignment, error) {
	rows, err := s.Pool.Query(ctx, `SELECT person_id, date, time_of_day, rotation_template_id FROM schedule_run_assignments
		WHERE run_id = $1 ORDER BY date, time_of_day, person_id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: reading a run's assignments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Assignment, error) {
		var a roster.Assignment
		var d time.Time
		var half string
		err := r.Scan(&a.PersonID, &d, &half, &a.TemplateID)
		a.Slot = roster.Slot{Date: roster.DateOf(d), Half: roster.Half(half)}
		return a, err
	})
}

// RunHeartbeat records a run's progress and that its server is alive.
func (s *Store) RunHeartbeat(ctx context.Context, id string, progress any) error {
	p, err := json.Marshal(progress)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `UPDATE schedule_runs SET progress = $2, heartbeat_at = now() WHERE id = $1 AND status = 'in_progress'`, id, p)
	return err
}

// Inputs is what a run reads: everything the solver and the validator need for [From, To] and
// the Margin days around it, and a fingerprint of it that FinishRun compares.
type Inputs struct {
	People      []PersonRecord
	Templates   []TemplateRecord
	Absences    []roster.Absence
	Assignments []StoredAssignment
	// Holidays are the program's holidays in the window.
	Holidays []roster.Holiday
	// Plan is the block plan's entries overlapping the window.
	Plan        []roster.PlanEntry
	Fingerprint string
}

// fingerprintSQL digests every row a run's result depends on. An insert, update or delete of a
// person, a template, an absence, an assignment or a block plan entry in the window changes it: each row's id and
// updated_at (bumped by every update) are part of it.
const fingerprintSQL = `SELECT md5(concat_ws('|',
	(SELECT string_agg(id::text || updated_at::text, ',' ORDER BY id) FROM people),
	(SELECT string_agg(id::text || updated_at::text, ',' ORDER BY id) FROM rotation_templates),
	(SELECT string_agg(id::text || updated_at::text, ',' ORDER BY id) FROM absences WHERE start_date <= $2 AND end_date >= $1),
	(SELECT string_agg(id::text || updated_at::text, ',' ORDER BY id) FROM assignments WHERE date BETWEEN $1 AND $2),
	(SELECT string_agg(id::text || date::text, ',' ORDER BY id) FROM holidays WHERE date BETWEEN $1 AND $2),
	(SELECT string_agg(id::text || updated_at::text, ',' ORDER BY id) FROM block_assignments WHERE start_date <= $2 AND end_date >= $1)))`

// LoadInputs reads a run's inputs for [from-margin, to+margin] in one repeatable-read snapshot.
func (s *Store) LoadInputs(ctx context.Context, from, to roster.Date, margin int) (Inputs, error) {
	var in Inputs
	lo, hi := from.AddDays(-margin).In(time.UTC), to.AddDays(margin).In(time.UTC)
	err := s.readSnapshot(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, fingerprintSQL, lo, hi).Scan(&in.Fingerprint); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+personColumns+` FROM people ORDER BY id`)
		if err != nil {
			return err
		}
		if in.People, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PersonRecord, error) { return scanPerson(r) }); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, `SELECT `+templateColumns+` FROM rotation_templates ORDER BY id`); err != nil {
			return err
		}
		if in.Templates, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TemplateRecord, error) { return scanTemplate(r) }); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, `SELECT person_id, start_date, end_date FROM absences WHERE status = 'approved'
			AND start_date <= $2 AND end_date >= $1 ORDER BY person_id, start_date`, lo, hi); err != nil {
			return err
		}
		if in.Absences, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Absence, error) {
			var a roster.Absence
			var s, e time.Time
			err := r.Scan(&a.PersonID, &s, &e)
			a.Start, a.End = roster.DateOf(s), roster.DateOf(e)
			return a, err
		}); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, `SELECT date, name FROM holidays WHERE date BETWEEN $1 AND $2 ORDER BY date`, lo, hi); err != nil {
			return err
		}
		if in.Holidays, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Holiday, error) {
			var h roster.Holiday
			var d time.Time
			err := r.Scan(&d, &h.Name)
			h.Date = roster.DateOf(d)
			return h, err
		}); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, planEntriesSQL, lo, hi); err != nil {
			return err
		}
		if in.Plan, err = pgx.CollectRows(rows, scanPlanEntry); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE date BETWEEN $1 AND $2 ORDER BY date, time_of_day, person_id`, lo, hi); err != nil {
			return err
		}
		in.Assignments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredAssignment, error) { return scanAssignment(r) })
		return err
	})
	if err != nil {
		return Inputs{}, fmt.Errorf("store: reading the run's inputs: %w", err)
	}
	return in, nil
}

// RunResult is how a run ended.
type RunResult struct {
	Status        string // success, partial or failed
	Stats         any
	Violations    int
	ViolationList any
	// Shortfall is the coverage left unfilled (a *roster.Shortfall; nil when every minimum is met).
	Shortfall   any
	Message     string
	Assignments []roster.Assignment
	// Fingerprint and Margin are what LoadInputs returned and was given: a live write happens
	// only if the inputs still have this fingerprint (ErrChanged otherwise; the run is then
	// recorded as failed and nothing else is written).
	Fingerprint string
	Margin      int
	// Scope lists the people a filtered run rescheduled (nil: everyone): only their unlocked
	// half-days in the range are replaced, and only theirs are written.
	Scope []string
	// Record, when set, is called inside the transaction that closes the run, with the status
	// it records: the run's audit entry commits with the outcome, and its error rolls the close
	// back (the run then stays in progress until it is closed or abandoned). What it tells
	// anyone outside the transaction (the audit stream) waits for the commit: it registers that
	// on tx with AfterCommit, which runs it only once the outcome is stored.
	Record RunRecorder
}

// RunRecorder writes the audit entry of a run's outcome inside the transaction that closes it.
// The transaction may still fail to commit after it returned: what it publishes, it publishes
// from AfterCommit(tx, ...).
type RunRecorder func(ctx context.Context, tx pgx.Tx, runID, status string) error

// FinishRun records the run's outcome and proposed assignments in one transaction and, unless
// the run is a draft or failed, makes them the live schedule of its range: the unlocked
// assignments of the people in the run's scope are replaced, everything else stays. Nothing is
// half-written: a crash or a lost connection leaves the previous schedule and a run in progress
// (closed as abandoned once its heartbeat is old). What res.Record registered with AfterCommit
// runs after the commit, before FinishRun returns nil; never when FinishRun returns an error
// other than ErrChanged (ErrChanged: the failure it then recorded on its own committed, with its
// own Record call).
func (s *Store) FinishRun(ctx context.Context, id string, res RunResult) error {
	err := s.inTxAfterCommit(ctx, func(tx pgx.Tx) error {
		var from, to time.Time
		var draft bool
		var status string
		var createdBy *string
		if err := tx.QueryRow(ctx, `SELECT start_date, end_date, draft, status, created_by::text FROM schedule_runs WHERE id = $1 FOR UPDATE`, id).
			Scan(&from, &to, &draft, &status, &createdBy); err != nil {
			if isNoRows(err) {
				return ErrNotFound
			}
			return fmt.Errorf("store: %w", err)
		}
		if status != RunInProgress {
			return fmt.Errorf("store: run %s already finished (%s)", id, status)
		}
		live := !draft && res.Status != RunFailed
		if live {
			if err := lockInputsUnchanged(ctx, tx, from, to, res); err != nil {
				return err
			}
		}
		if err := copyRunAssignments(ctx, tx, id, res.Assignments); err != nil {
			return err
		}
		if live {
			if _, err := publish(ctx, tx, id, from, to, res.Scope, createdBy); err != nil {
				return err
			}
		}
		return s.closeRun(ctx, tx, id, res)
	})
	if errors.Is(err, ErrChanged) {
		// Record the failure on its own (the transaction above rolled back) so the run frees its
		// range and says why.
		res := RunResult{Status: RunFailed, Stats: res.Stats, Violations: res.Violations, ViolationList: res.ViolationList, Shortfall: res.Shortfall,
			Message: ErrChanged.Error(), Scope: res.Scope, Record: res.Record}
		if err2 := s.inTxAfterCommit(ctx, func(tx pgx.Tx) error { return s.closeRun(ctx, tx, id, res) }); err2 != nil {
			return fmt.Errorf("store: recording a failed run: %w", err2)
		}
	}
	return err
}

func (s *Store) closeRun(ctx context.Context, tx pgx.Tx, id string, res RunResult) error {
	stats, err := json.Marshal(res.Stats)
	if err != nil {
		return fmt.Errorf("store: encoding run statistics: %w", err)
	}
	list, err := json.Marshal(res.ViolationList)
	if err != nil {
		return fmt.Errorf("store: encoding the violations: %w", err)
	}
	shortfall, err := json.Marshal(res.Shortfall)
	if err != nil {
		return fmt.Errorf("store: encoding the shortfall: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE schedule_runs SET status = $2, stats = $3, violations = $4, violation_list = $5, message = $6, scope = $7,
		shortfall = nullif($8::jsonb, 'null'::jsonb), fingerprint = $9, margin = $10, finished_at = now()
		WHERE id = $1 AND status = 'in_progress'`, id, res.Status, stats, res.Violations, list, nullable(res.Message), res.Scope, shortfall,
		nullable(res.Fingerprint), res.Margin)
	if err != nil || res.Record == nil {
		return err
	}
	return res.Record(ctx, tx, id, res.Status)
}

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

// Draft -> publish -> roll back. A publication makes a finished run's schedule the live
// schedule of its range: a live run's at its finish (FinishRun), a draft's when it is published
// (PublishDraft). It keeps what it replaced, so RollbackPublication can put that back while the
// range is still exactly what the publication wrote.

// The refusals of PublishDraft and RollbackPublication (the API answers 409 with the message).
var (
	ErrNotDraft          = errors.New("the run is not a draft: a live run's schedule was published when it finished")
	ErrNotPublishable    = errors.New("only a finished run (success or partial) can be published")
	ErrIncomplete        = errors.New("the draft is partial (incomplete coverage or hard violations): publish it with accept_incomplete to make it live anyway")
	ErrPublished         = errors.New("the draft has been published already")
	ErrDraftStale        = errors.New("people, templates, absences or assignments changed since the draft was made; nothing was published: generate a new draft")
	ErrRolledBack        = errors.New("the publication has been rolled back already")
	ErrRangeChangedSince = errors.New("the schedule of the publication's range changed since it was published (an edit or a later publication); rolling back would undo that, so nothing was changed")
)

// Publication is one stored publication.
type Publication struct {
	ID           string
	RunID        string
	From, To     roster.Date
	Scope        []string
	PublishedBy  *string
	PublishedAt  time.Time
	Replaced     int
	Written      int
	RolledBackAt *time.Time
	RolledBackBy *string
}

// PublicationRecorder writes the audit entry of a publication inside its
// transaction (see RunRecorder for what it may publish after the commit).
type PublicationRecorder func(ctx context.Context, tx pgx.Tx, p Publication) error

// assignmentsDigestSQL digests the live assignments of [$1, $2]: any insert, update or delete
// there changes it.
const assignmentsDigestSQL = `SELECT coalesce(md5(string_agg(id::text || updated_at::text, ',' ORDER BY id)), '')
	FROM assignments WHERE date BETWEEN $1 AND $2`

// publish makes run id's assignments the live schedule of [from, to] for scope (nil: everyone)
// in tx, keeping what it replaces, and records the publication. The caller holds the locks of
// lockInputsUnchanged.
func publish(ctx context.Context, tx pgx.Tx, runID string, from, to time.Time, scope []string, by *string) (Publication, error) {
	pub := Publication{ID: uuid.NewString(), RunID: runID, From: roster.DateOf(from), To: roster.DateOf(to), Scope: scope, PublishedBy: by}
	if err := tx.QueryRow(ctx, `INSERT INTO schedule_publications (id, run_id, start_date, end_date, scope, published_by, replaced, written, assignments_digest)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0, '') RETURNING published_at`, pub.ID, runID, from, to, scope, by).Scan(&pub.PublishedAt); err != nil {
		if errors.Is(pgErr(err), ErrConflict) {
			return Publication{}, ErrPublished
		}
		return Publication{}, fmt.Errorf("store: recording the publication: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO schedule_publication_replaced (publication_id, assignment_id, created_at, updated_at,
			person_id, date, time_of_day, rotation_template_id, source, schedule_run_id)
		SELECT $1, id, created_at, updated_at, person_id, date, time_of_day, rotation_template_id, source, schedule_run_id FROM assignments
		WHERE date BETWEEN $2 AND $3 AND NOT locked AND ($4::uuid[] IS NULL OR person_id = ANY($4::uuid[]))`, pub.ID, from, to, scope)
	if err != nil {
		return Publication{}, fmt.Errorf("store: keeping the replaced schedule: %w", err)
	}
	pub.Replaced = int(tag.RowsAffected())
	if pub.Written, err = publishRun(ctx, tx, runID, from, to, scope); err != nil {
		return Publication{}, err
	}
	var digest string
	if err := tx.QueryRow(ctx, assignmentsDigestSQL, from, to).Scan(&digest); err != nil {
		return Publication{}, fmt.Errorf("store: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE schedule_publications SET replaced = $2, written = $3, assignments_digest = $4 WHERE id = $1`,
		pub.ID, pub.Replaced, pub.Written, digest); err != nil {
		return Publication{}, fmt.Errorf("store: %w", err)
	}
	return pub, nil
}

// PublishDraft makes a finished draft the live schedule of its range, in one transaction with
// record's audit entry: only onto the data the draft was made from (ErrDraftStale otherwise), a
// partial draft only with acceptIncomplete, once.
func (s *Store) PublishDraft(ctx context.Context, runID, by string, acceptIncomplete bool, record PublicationRecorder) (Publication, error) {
	var pub Publication
	err := s.inTxAfterCommit(ctx, func(tx pgx.Tx) error {
		var from, to time.Time
		var draft bool
		var status string
		var fingerprint *string
		var margin *int
		var scope []string
		if err := tx.QueryRow(ctx, `SELECT start_date, end_date, draft, status, fingerprint, margin, scope::text[] FROM schedule_runs WHERE id = $1 FOR UPDATE`, runID).
			Scan(&from, &to, &draft, &status, &fingerprint, &margin, &scope); err != nil {
			return notFound(err, "reading the draft")
		}
		switch {
		case !draft:
			return ErrNotDraft
		case status != RunSuccess && status != RunPartial:
			return ErrNotPublishable
		case status == RunPartial && !acceptIncomplete:
			return ErrIncomplete
		case fingerprint == nil || margin == nil:
			return ErrDraftStale // finished before drafts kept their fingerprint
		}
		if err := lockInputsUnchanged(ctx, tx, from, to, RunResult{Fingerprint: *fingerprint, Margin: *margin}); err != nil {
			if errors.Is(err, ErrChanged) {
				return ErrDraftStale
			}
			return err
		}
		var err error
		if pub, err = publish(ctx, tx, runID, from, to, scope, nullable(by)); err != nil {
			return err
		}
		if record != nil {
			return record(ctx, tx, pub)
		}
		return nil
	})
	return pub, err
}

// RollbackPublication puts back what publication id replaced, in the change's transaction (the
// store must be bound to it: On), while its range is still exactly what it wrote
// (ErrRangeChangedSince otherwise). The caller judges the schedule before and after it and
// records the audit entry in that transaction (scheduling.Service.Rollback).
func (s *Store) RollbackPublication(ctx context.Context, id, by string) (Publication, error) {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return Publication{}, errors.New("store: RollbackPublication needs a transaction (Store.On)")
	}
	var pub Publication
	var from, to time.Time
	var digest string
	err := tx.QueryRow(ctx, `SELECT `+publicationColumns+`, assignments_digest FROM schedule_publications WHERE id = $1 FOR UPDATE`, id).
		Scan(append(pub.fields(&from, &to), &digest)...)
	if err != nil {
		return Publication{}, notFound(err, "reading the publication")
	}
	pub.From, pub.To = roster.DateOf(from), roster.DateOf(to)
	if pub.RolledBackAt != nil {
		return Publication{}, ErrRolledBack
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return Publication{}, err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE assignments IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return Publication{}, fmt.Errorf("store: locking the assignments: %w", err)
	}
	var now string
	if err := tx.QueryRow(ctx, assignmentsDigestSQL, from, to).Scan(&now); err != nil {
		return Publication{}, fmt.Errorf("store: %w", err)
	}
	if now != digest {
		return Publication{}, ErrRangeChangedSince
	}
	if _, err := tx.Exec(ctx, `DELETE FROM assignments WHERE date BETWEEN $1 AND $2 AND NOT locked AND schedule_run_id = $3
		AND ($4::uuid[] IS NULL OR person_id = ANY($4::uuid[]))`, from, to, pub.RunID, pub.Scope); err != nil {
		return Publication{}, fmt.Errorf("store: removing the published schedule: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source, schedule_run_id, created_at, updated_at)
		SELECT assignment_id, person_id, date, time_of_day, rotation_template_id, false, source,
			(SELECT id FROM schedule_runs WHERE id = r.schedule_run_id), created_at, updated_at
		FROM schedule_publication_replaced r WHERE publication_id = $1`, id); err != nil {
		return Publication{}, fmt.Errorf("store: restoring the replaced schedule: %w", pgErr(err))
	}
	if err := tx.QueryRow(ctx, `UPDATE schedule_publications SET rolled_back_at = now(), rolled_back_by = $2 WHERE id = $1
		RETURNING rolled_back_at, rolled_back_by::text`, id, nullable(by)).Scan(&pub.RolledBackAt, &pub.RolledBackBy); err != nil {
		return Publication{}, fmt.Errorf("store: %w", err)
	}
	return pub, nil
}

const publicationColumns = `id, run_id::text, start_date, end_date, scope::text[], published_by::text, published_at, replaced, written, rolled_back_at, rolled_back_by::text`

func (p *Publication) fields(from, to *time.Time) []any {
	return []any{&p.ID, &p.RunID, from, to, &p.Scope, &p.PublishedBy, &p.PublishedAt, &p.Replaced, &p.Written, &p.RolledBackAt, &p.RolledBackBy}
}

func scanPublication(row pgx.Row) (Publication, error) {
	var p Publication
	var from, to time.Time
	err := row.Scan(p.fields(&from, &to)...)
	p.From, p.To = roster.DateOf(from), roster.DateOf(to)
	return p, err
}

// ListPublications returns one page of publications, newest first, and the total.
func (s *Store) ListPublications(ctx context.Context, page, size int) ([]Publication, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM schedule_publications`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting publications: %w", err)
	}
	rows, err := s.db.Query(ctx, `SELECT `+publicationColumns+` FROM schedule_publications ORDER BY published_at DESC, id LIMIT $1 OFFSET $2`, size, (page-1)*size)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing publications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Publication, error) { return scanPublication(r) })
	return out, total, err
}

// GetPublication reads one publication.
func (s *Store) GetPublication(ctx context.Context, id string) (Publication, error) {
	p, err := scanPublication(s.db.QueryRow(ctx, `SELECT `+publicationColumns+` FROM schedule_publications WHERE id = $1`, id))
	return p, notFound(err, "reading a publication")
}

// PublicationOfRun reads the publication of a run (ErrNotFound: never published).
func (s *Store) PublicationOfRun(ctx context.Context, runID string) (Publication, error) {
	p, err := scanPublication(s.db.QueryRow(ctx, `SELECT `+publicationColumns+` FROM schedule_publications WHERE run_id = $1`, runID))
	return p, notFound(err, "reading a run's publication")
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// AssignmentChange is one audit entry of a manual change to an assignment (assignment.create,
// .update, .delete), with the assignment as it stands now: nil PersonID and Date when it has
// been deleted since.
type AssignmentChange struct {
	Seq        int64
	At         time.Time
	Actor      string // the user's name, or the entry's actor when the user is gone
	Action     string
	Target     string
	PersonID   *string
	Date       *roster.Date
	Half       string
	TemplateID string
	// Details is the entry's details (JSON): what the edit caused, and the override reason
	// of one that broke a hard rule.
	Details string
}

// AssignmentChanges lists the audit log's manual assignment changes that concern [from, to]:
// those of assignments now in the range, and those of since-deleted assignments made during the
// range's days (in loc), oldest first. person, when set, keeps that person's only (a deleted
// assignment's person is unknown, so those are left out then).
func (s *Store) AssignmentChanges(ctx context.Context, from, to roster.Date, loc *time.Location, person string) ([]AssignmentChange, error) {
	rows, err := s.db.Query(ctx, `SELECT l.seq, l.at, coalesce(u.username, l.actor), l.action, l.target,
			a.person_id::text, a.date, coalesce(a.time_of_day, ''), coalesce(a.rotation_template_id::text, ''), l.details
		FROM audit_log l
		LEFT JOIN assignments a ON l.target = 'assignment:' || a.id::text
		LEFT JOIN users u ON l.actor = u.id::text
		WHERE l.action IN ('assignment.create', 'assignment.update', 'assignment.delete', 'schedule.repair')
		  AND (a.date BETWEEN $1 AND $2 OR (a.id IS NULL AND $5 = '' AND l.at >= $3 AND l.at < $4))
		  AND ($5 = '' OR a.person_id::text = $5)
		ORDER BY l.seq`, from.In(time.UTC), to.In(time.UTC), from.In(loc), to.AddDays(1).In(loc), person)
	if err != nil {
		return nil, fmt.Errorf("store: reading assignment changes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AssignmentChange, error) {
		var c AssignmentChange
		var d *time.Time
		err := r.Scan(&c.Seq, &c.At, &c.Actor, &c.Action, &c.Target, &c.PersonID, &d, &c.Half, &c.TemplateID, &c.Details)
		if d != nil {
			day := roster.DateOf(*d)
			c.Date = &day
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading assignment changes: %w", err)
	}
	return out, nil
}

// RollbackOverride is the audit entry of a publication rolled back although the restored
// schedule broke a hard rule: its override reason and the rules are in Details.
type RollbackOverride struct {
	Seq      int64
	At       time.Time
	Actor    string
	Target   string
	From, To roster.Date // the publication's range
	Details  string
}

// RollbackOverrides lists the audit log's overridden rollbacks of publications whose range
// meets [from, to], oldest first.
func (s *Store) RollbackOverrides(ctx context.Context, from, to roster.Date) ([]RollbackOverride, error) {
	rows, err := s.db.Query(ctx, `SELECT l.seq, l.at, coalesce(u.username, l.actor), l.target, p.start_date, p.end_date, l.details
		FROM audit_log l
		JOIN schedule_publications p ON l.target = 'schedule_publication:' || p.id::text
		LEFT JOIN users u ON l.actor = u.id::text
		WHERE l.action = 'schedule.rollback' AND l.details::jsonb ? 'override_reason'
		  AND p.start_date <= $2 AND p.end_date >= $1
		ORDER BY l.seq`, from.In(time.UTC), to.In(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: reading rollback overrides: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RollbackOverride, error) {
		var o RollbackOverride
		var f, t time.Time
		err := r.Scan(&o.Seq, &o.At, &o.Actor, &o.Target, &f, &t, &o.Details)
		o.From, o.To = roster.DateOf(f), roster.DateOf(t)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading rollback overrides: %w", err)
	}
	return out, nil
}

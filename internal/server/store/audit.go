package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit log's statements (audit_log and audit_anchor, migration 003). The hash chain itself
// (what is hashed, what a broken chain is) is the audit package's; these only read and write rows.
// Appends and prunes run in a transaction (On) that holds the chain's lock to its end.

// auditChainLock is the key of the transaction advisory lock that serialises appends and prunes
// across replicas: each append needs the previous entry's hash.
const auditChainLock int64 = 0x72736368656401

// AuditRow is a row of audit_log. Details is the redacted canonical JSON that was hashed.
type AuditRow struct {
	Seq                                             int64
	At                                              time.Time
	Actor, Action, Target, IP, UserAgent, RequestID string
	Details                                         string
	PrevHash, Hash                                  []byte
}

// LockAuditChain takes the chain's lock until the end of the transaction the store runs on (On).
func (s *Store) LockAuditChain(ctx context.Context) error {
	_, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", auditChainLock)
	return err
}

// AuditHead returns the newest entry's sequence number and hash; ok is false when the log is empty.
func (s *Store) AuditHead(ctx context.Context) (seq int64, hash []byte, ok bool, err error) {
	return scanSeqHash(s.db.QueryRow(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
}

// InsertAuditEntry inserts r as it is: sequence number, time and hashes come from the caller.
func (s *Store) InsertAuditEntry(ctx context.Context, r AuditRow) error {
	_, err := s.db.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, target, ip, user_agent, request_id, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.Seq, r.At, r.Actor, r.Action, r.Target, r.IP, r.UserAgent, r.RequestID, r.Details, r.PrevHash, r.Hash)
	return err
}

// AuditAnchor returns the chain's anchor, the last entry a prune deleted; ok is false when the log
// was never pruned.
func (s *Store) AuditAnchor(ctx context.Context) (seq int64, hash []byte, ok bool, err error) {
	return scanSeqHash(s.db.QueryRow(ctx, "SELECT seq, hash FROM audit_anchor WHERE id = 1"))
}

// AuditPruneAnchor returns the newest entry before cutoff that is not the newest entry of all (the
// chain keeps a head to append to); ok is false when there is none.
func (s *Store) AuditPruneAnchor(ctx context.Context, cutoff time.Time) (seq int64, hash []byte, ok bool, err error) {
	return scanSeqHash(s.db.QueryRow(ctx, `SELECT seq, hash FROM audit_log WHERE at < $1 AND seq < (SELECT max(seq) FROM audit_log)
			ORDER BY seq DESC LIMIT 1`, cutoff))
}

// DeleteAuditThrough deletes the entries up to and including seq and says how many.
func (s *Store) DeleteAuditThrough(ctx context.Context, seq int64) (int64, error) {
	tag, err := s.db.Exec(ctx, "DELETE FROM audit_log WHERE seq <= $1", seq)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// SetAuditAnchor records seq and hash as the chain's anchor.
func (s *Store) SetAuditAnchor(ctx context.Context, seq int64, hash []byte) error {
	_, err := s.db.Exec(ctx, `INSERT INTO audit_anchor (id, seq, hash) VALUES (1, $1, $2)
			ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`, seq, hash)
	return err
}

func scanSeqHash(row pgx.Row) (seq int64, hash []byte, ok bool, err error) {
	err = row.Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	return seq, hash, true, nil
}

// AuditRows walks the audit log in sequence order; Close it when done.
type AuditRows struct{ rows pgx.Rows }

// AuditEntries returns every entry, oldest first.
func (s *Store) AuditEntries(ctx context.Context) (*AuditRows, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, at, actor, action, target, ip, user_agent, request_id, details, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	return &AuditRows{rows: rows}, nil
}

// Next advances to the next entry; false at the end or on an error (see Err).
func (a *AuditRows) Next() bool { return a.rows.Next() }

// Row reads the current entry.
func (a *AuditRows) Row() (AuditRow, error) {
	var r AuditRow
	err := a.rows.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.Target, &r.IP, &r.UserAgent, &r.RequestID, &r.Details, &r.PrevHash, &r.Hash)
	return r, err
}

// Err is the error that ended the walk, if any.
func (a *AuditRows) Err() error { return a.rows.Err() }

// Close releases the rows.
func (a *AuditRows) Close() { a.rows.Close() }

// AuditFilter selects entries for ListAuditEntries. Zero fields do not filter.
type AuditFilter struct {
	Actor, Action, Target string
	Since, Until          time.Time
	Page, PageSize        int
}

// where is the filter's condition and its arguments. Action matches a prefix, with LIKE's
// wildcards escaped.
func (f AuditFilter) where() (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.Action != "" {
		add(`action LIKE $%d || '%%'`, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Action))
	}
	if f.Target != "" {
		add("target = $%d", f.Target)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until)
	}
	if len(where) == 0 {
		return "true", args
	}
	return strings.Join(where, " AND "), args
}

// ListAuditEntries returns a page of the entries f selects, newest first, and how many match
// (PrevHash is not read).
func (s *Store) ListAuditEntries(ctx context.Context, f AuditFilter) ([]AuditRow, int, error) {
	cond, args := f.where()
	var total int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE "+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	args = append(args, f.PageSize, (f.Page-1)*f.PageSize)
	rows, err := s.db.Query(ctx, fmt.Sprintf(`SELECT seq, at, actor, action, target, ip, user_agent, request_id, details, hash
		FROM audit_log WHERE %s ORDER BY seq DESC LIMIT $%d OFFSET $%d`, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRow, error) {
		var r AuditRow
		err := row.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.Target, &r.IP, &r.UserAgent, &r.RequestID, &r.Details, &r.Hash)
		return r, err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

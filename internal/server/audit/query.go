package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Filter selects entries for List. Zero fields do not filter.
type Filter struct {
	Actor, Action, Target string
	Since, Until          time.Time
	Page, PageSize        int
}

// Record is an entry as the API shows it.
type Record struct {
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
	Hash      string          `json:"hash"`
}

// List returns a page of entries, newest first, and how many match. Action matches a prefix
// ("auth.login" finds auth.login.failed and auth.login.succeeded).
func (l *Log) List(ctx context.Context, f Filter) ([]Record, int, error) {
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
	cond := "true"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	var total int
	if err := l.pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE "+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	args = append(args, f.PageSize, (f.Page-1)*f.PageSize)
	rows, err := l.pool.Query(ctx, fmt.Sprintf(`SELECT seq, at, actor, action, target, ip, user_agent, request_id, details, hash
		FROM audit_log WHERE %s ORDER BY seq DESC LIMIT $%d OFFSET $%d`, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var details string
		var hash []byte
		err := row.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.Target, &r.IP, &r.UserAgent, &r.RequestID, &details, &hash)
		r.Details, r.Hash = json.RawMessage(details), hex.EncodeToString(hash)
		return r, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	return out, total, nil
}

// Prune deletes entries older than retention and moves the chain's anchor to the last deleted
// entry, so Verify still checks everything that remains. The pruning is itself appended to the
// chain (action audit.pruned, with the anchor), so a forged anchor contradicts the log and the
// stream a SIEM kept. Returns how many entries were deleted.
func (l *Log) Prune(ctx context.Context, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, errors.New("audit: retention must be positive")
	}
	cutoff := l.now().Add(-retention)
	var deleted, anchorSeq int64
	var anchorHash []byte
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLock); err != nil {
			return err
		}
		// Never delete the newest entry: the chain must keep a head to append to.
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log WHERE at < $1 AND seq < (SELECT max(seq) FROM audit_log)
			ORDER BY seq DESC LIMIT 1`, cutoff).Scan(&anchorSeq, &anchorHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM audit_log WHERE seq <= $1", anchorSeq)
		if err != nil {
			return err
		}
		deleted = tag.RowsAffected()
		_, err = tx.Exec(ctx, `INSERT INTO audit_anchor (id, seq, hash) VALUES (1, $1, $2)
			ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`, anchorSeq, anchorHash)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	if deleted > 0 {
		if _, err := l.Append(ctx, Event{Actor: "system", Action: "audit.pruned", Target: "audit_log",
			Details: map[string]any{"deleted": deleted, "anchor_seq": anchorSeq, "anchor_hash": hex.EncodeToString(anchorHash),
				"retention": retention.String()}}); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/store"
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
	rows, total, err := l.st.ListAuditEntries(ctx, store.AuditFilter(f))
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = Record{Seq: r.Seq, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, IP: r.IP,
			UserAgent: r.UserAgent, RequestID: r.RequestID, Details: json.RawMessage(r.Details), Hash: hex.EncodeToString(r.Hash)}
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
	err := pgx.BeginFunc(ctx, l.st.Pool, func(tx pgx.Tx) error {
		db := l.st.On(tx)
		if err := db.LockAuditChain(ctx); err != nil {
			return err
		}
		// Never delete the newest entry: the chain must keep a head to append to.
		var ok bool
		var err error
		anchorSeq, anchorHash, ok, err = db.AuditPruneAnchor(ctx, cutoff)
		if err != nil || !ok {
			return err
		}
		if deleted, err = db.DeleteAuditThrough(ctx, anchorSeq); err != nil {
			return err
		}
		return db.SetAuditAnchor(ctx, anchorSeq, anchorHash)
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

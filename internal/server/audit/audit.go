// Package audit records security events and data changes in PostgreSQL as a hash chain: every
// entry's hash covers the previous entry's hash and its own fields, so a row edited, deleted or
// slipped in anywhere is found by Verify. Secrets never enter it: details are redacted before
// they are hashed or stored.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/store"
)

// Event is one audited action.
type Event struct {
	Actor     string         // user id, or "anonymous", or "system"
	Action    string         // e.g. "auth.login.failed", "user.role.changed"
	Target    string         // what was acted on, e.g. "user:8f14e45f"
	IP        string         // client address as the server determined it
	UserAgent string         //
	RequestID string         //
	Details   map[string]any // old/new values and the like; redacted before storage
}

// Entry is a stored event.
type Entry struct {
	Event
	Seq  int64
	At   time.Time
	Hash []byte
	prev []byte
	// details is the redacted, canonical JSON that was hashed and stored.
	details string
	// committed, when set, is false until the transaction AppendTx wrote the entry in has
	// committed (a transaction that tells its commit: store.AfterCommit); Stream waits for it.
	committed *atomic.Bool
}

func prevOf(e Entry) []byte { return e.prev }

// Log appends to and verifies the audit log, whose rows the store keeps (store/audit.go).
type Log struct {
	st  *store.Store
	now func() time.Time
	// stream, when set, receives every appended entry as one JSON line (SIEM forwarding).
	stream   io.Writer
	streamMu sync.Mutex
}

// StreamTo sends every appended entry, with its sequence number and hash, as one JSON line to w
// (the server passes stdout, where a log shipper forwards it). Details are already redacted.
func (l *Log) StreamTo(w io.Writer) { l.stream = w }

// New returns a Log on st; now is the clock (time.Now when nil).
func New(st *store.Store, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{st: st, now: now}
}

// genesis is the "previous hash" of the first entry.
var genesis = make([]byte, sha256.Size)

// Append records e in a transaction of its own and returns the stored entry. It is for events
// that are not part of a change (a refused sign-in, a permission denied, a report received);
// a change records its entry with WithTx, in the change's own transaction.
func (l *Log) Append(ctx context.Context, e Event) (Entry, error) {
	var out Entry
	err := pgx.BeginFunc(ctx, l.st.Pool, func(tx pgx.Tx) error {
		var err error
		out, err = l.appendIn(ctx, tx, e)
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	l.streamOut(out)
	return out, nil
}

// Recorder collects the events of one change for WithTx.
type Recorder struct{ events []Event }

// Record notes e; WithTx appends it once the change's writes are done.
func (r *Recorder) Record(e Event) { r.events = append(r.events, e) }

// Beginner starts a transaction: a pool, a connection, or a transaction (then a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// WithTx runs fn in one transaction on db, then appends the events fn recorded in that same
// transaction: the change and its audit entries commit together or not at all, so a change is
// never without its record, and a failed append rolls the change back. The entries are appended
// last, just before the commit, because each append holds the chain's lock to the end of its
// transaction: taken last, it is never held while the change waits for a row. Entries reach the
// stream only once committed.
func (l *Log) WithTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx, rec *Recorder) error) error {
	var out []Entry
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		out = out[:0]
		var rec Recorder
		if err := fn(tx, &rec); err != nil {
			return err
		}
		for _, e := range rec.events {
			entry, err := l.appendIn(ctx, tx, e)
			if err != nil {
				return fmt.Errorf("audit: append: %w", err)
			}
			out = append(out, entry)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.streamOut(out...)
	return nil
}

// AppendTx appends e inside tx, a transaction the caller began for the change e records and
// ends itself; the caller hands the entry to Stream once tx has committed. As in WithTx, append
// last: the chain's lock is held until tx ends. (WithTx does all of this for a change that can
// run in a transaction of its own.) When tx tells its commit (store.AfterCommit: the
// transaction that closes a schedule run), Stream does not rely on the caller: it sends the
// entry only once tx has committed.
func (l *Log) AppendTx(ctx context.Context, tx pgx.Tx, e Event) (Entry, error) {
	out, err := l.appendIn(ctx, tx, e)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	committed := new(atomic.Bool)
	if store.AfterCommit(tx, func() { committed.Store(true) }) {
		out.committed = committed
	}
	return out, nil
}

// Stream sends entries appended with AppendTx to the stream, once their transaction committed.
// An entry whose transaction is known not to have committed (rolled back, its commit failed, or
// still open) is left out: a listener never sees an entry the log does not hold.
func (l *Log) Stream(entries ...Entry) {
	for _, e := range entries {
		if e.committed == nil || e.committed.Load() {
			l.streamOut(e)
		}
	}
}

// appendIn appends e inside tx, under the chain's lock, which tx holds until it ends.
func (l *Log) appendIn(ctx context.Context, tx pgx.Tx, e Event) (Entry, error) {
	if e.Actor == "" || e.Action == "" {
		return Entry{}, errors.New("audit: an event needs an actor and an action")
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return Entry{}, err
	}
	// PostgreSQL keeps microseconds; hash what will be read back.
	at := l.now().UTC().Truncate(time.Microsecond)
	db := l.st.On(tx)
	if err := db.LockAuditChain(ctx); err != nil {
		return Entry{}, err
	}
	prev, seq := genesis, int64(1)
	headSeq, headHash, ok, err := db.AuditHead(ctx)
	if err != nil {
		return Entry{}, err
	}
	if ok {
		prev, seq = headHash, headSeq+1
	}
	h := entryHash(prev, seq, at, e, details)
	if err := db.InsertAuditEntry(ctx, store.AuditRow{Seq: seq, At: at, Actor: e.Actor, Action: e.Action, Target: e.Target,
		IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Details: details, PrevHash: prev, Hash: h}); err != nil {
		return Entry{}, err
	}
	return Entry{Event: e, Seq: seq, At: at, Hash: h, prev: prev, details: details}, nil
}

// streamOut sends committed entries to the stream, one JSON line each.
func (l *Log) streamOut(entries ...Entry) {
	if l.stream == nil {
		return
	}
	for _, out := range entries {
		e := out.Event
		line, _ := json.Marshal(map[string]any{"audit": true, "seq": out.Seq, "at": out.At, "actor": e.Actor, "action": e.Action,
			"target": e.Target, "ip": e.IP, "user_agent": e.UserAgent, "request_id": e.RequestID,
			"details": json.RawMessage(out.details), "prev_hash": hex.EncodeToString(prevOf(out)), "hash": hex.EncodeToString(out.Hash)})
		l.streamMu.Lock()
		_, _ = l.stream.Write(append(line, '\n'))
		l.streamMu.Unlock()
	}
}

// entryHash is SHA-256 over the previous hash and every field, each length-prefixed so no two
// different entries encode alike.
func entryHash(prev []byte, seq int64, at time.Time, e Event, details string) []byte {
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:])
	for _, f := range []string{at.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.IP, e.UserAgent, e.RequestID, details} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// ErrTampered is returned by Verify when the chain is broken.
var ErrTampered = errors.New("audit: the audit log has been altered")

// Verify recomputes the chain from its start (the first entry, or the anchor left by Prune) and
// returns how many entries it checked. A broken chain is ErrTampered, wrapped with the first
// sequence number that fails. It reads one snapshot, so appends and prunes meanwhile do not
// disturb it.
func (l *Log) Verify(ctx context.Context) (int64, error) {
	tx, err := l.st.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	db := l.st.On(tx)
	prev, want := genesis, int64(1)
	anchorSeq, anchorHash, ok, err := db.AuditAnchor(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	if ok {
		prev, want = anchorHash, anchorSeq+1
	}
	rows, err := db.AuditEntries(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	var checked int64
	for rows.Next() {
		r, err := rows.Row()
		if err != nil {
			return checked, fmt.Errorf("audit: verify: %w", err)
		}
		if r.Seq != want {
			return checked, fmt.Errorf("%w: entry %d is missing", ErrTampered, want)
		}
		e := Event{Actor: r.Actor, Action: r.Action, Target: r.Target, IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID}
		if string(r.PrevHash) != string(prev) || string(entryHash(prev, r.Seq, r.At, e, r.Details)) != string(r.Hash) {
			return checked, fmt.Errorf("%w: entry %d does not match its hash", ErrTampered, r.Seq)
		}
		prev, want = r.Hash, want+1
		checked++
	}
	return checked, rows.Err()
}

// sensitive names details keys whose values never enter the log.
var sensitive = []string{"password", "passwd", "secret", "token", "authorization", "cookie", "key", "totp", "otp", "recovery"}

// canonicalDetails redacts secrets and encodes details as JSON with sorted keys. It goes through
// a generic JSON value first, so that nested maps and structs of any type are redacted too.
func canonicalDetails(d map[string]any) (string, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("audit: details: %w", err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return "", fmt.Errorf("audit: details: %w", err)
	}
	b, err := json.Marshal(redact(generic))
	if err != nil {
		return "", fmt.Errorf("audit: details: %w", err)
	}
	return string(b), nil
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			lk := strings.ToLower(k)
			hidden := false
			for _, s := range sensitive {
				if strings.Contains(lk, s) {
					hidden = true
					break
				}
			}
			if hidden {
				out[k] = "[redacted]"
			} else {
				out[k] = redact(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redact(val)
		}
		return out
	}
	return v
}

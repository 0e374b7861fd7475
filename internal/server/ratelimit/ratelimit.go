package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Limit allows Requests per Period.
type Limit struct {
	Requests int
	Period   time.Duration
}

// Decision is the outcome of one request.
type Decision struct {
	Allowed bool
	// Limit and Remaining feed X-RateLimit-Limit / X-RateLimit-Remaining.
	Limit, Remaining int
	// Reset is when the current window ends (X-RateLimit-Reset).
	Reset time.Time
	// RetryAfter is how long a refused client should wait (Retry-After), zero when allowed.
	RetryAfter time.Duration
}

// Limiter counts in the rate_limits table (migration 002).
type Limiter struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New returns a Limiter on pool; now is the clock (time.Now when nil).
func New(pool *pgxpool.Pool, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{pool: pool, now: now}
}

const upsert = `
INSERT INTO rate_limits AS r (key_hash, window_start, prev_count, curr_count, expires_at)
VALUES ($1, $2, 0, 1, $3)
ON CONFLICT (key_hash) DO UPDATE SET
    prev_count = CASE
        WHEN r.window_start = EXCLUDED.window_start THEN r.prev_count
        WHEN r.window_start = EXCLUDED.window_start - $4::interval THEN r.curr_count
        ELSE 0 END,
    curr_count = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.curr_count + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start,
    expires_at = EXCLUDED.expires_at
RETURNING prev_count, curr_count`

// Allow counts one request for key under limit and says whether it may proceed. Refused requests
// count too: hammering a refused endpoint keeps it refused. An error (database unavailable)
// means the caller must refuse the request.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	if limit.Requests < 1 || limit.Period < time.Second {
		return Decision{}, errors.New("ratelimit: a limit needs at least 1 request per at least 1s")
	}
	now := l.now()
	start := now.Truncate(limit.Period)
	reset := start.Add(limit.Period)
	digest := sha256.Sum256([]byte(key))
	var prev, curr int
	err := l.pool.QueryRow(ctx, upsert, digest[:], start, start.Add(2*limit.Period),
		fmt.Sprintf("%d microseconds", limit.Period.Microseconds())).Scan(&prev, &curr)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	// The share of the previous window still inside the last Period.
	overlap := 1 - float64(now.Sub(start))/float64(limit.Period)
	estimate := float64(curr) + float64(prev)*overlap
	d := Decision{Limit: limit.Requests, Reset: reset}
	if estimate <= float64(limit.Requests) {
		d.Allowed = true
		d.Remaining = int(math.Floor(float64(limit.Requests) - estimate))
		return d, nil
	}
	// Refused: wait until the estimate falls back under the limit, at the latest the window end.
	d.RetryAfter = reset.Sub(now)
	if prev > 0 && float64(curr) <= float64(limit.Requests) {
		// The previous window's weight decays linearly; solve curr + prev*overlap(t) = limit.
		needed := (estimate - float64(limit.Requests)) / float64(prev) * float64(limit.Period)
		if w := time.Duration(needed); w < d.RetryAfter {
			d.RetryAfter = w
		}
	}
	d.RetryAfter = max(d.RetryAfter.Round(time.Second), time.Second)
	return d, nil
}

// Cleanup deletes counters whose windows have passed; run it periodically.
func (l *Limiter) Cleanup(ctx context.Context) (int64, error) {
	tag, err := l.pool.Exec(ctx, "DELETE FROM rate_limits WHERE expires_at < $1", l.now())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: cleanup: %w", err)
	}
	return tag.RowsAffected(), nil
}

package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"
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

// Counters is the storage of the counters: the rate_limits table (migration 002), shared by every
// replica. *store.Store implements it.
type Counters interface {
	// CountRateLimitHit counts one request for keyHash in the window starting at windowStart
	// (period long; the counter may be deleted after expiresAt) and returns the previous and the
	// current window's counts.
	CountRateLimitHit(ctx context.Context, keyHash []byte, windowStart, expiresAt time.Time,
		period time.Duration) (prev, curr int, err error)
	// AddRateLimitHits adds deltas to the counters of hashes in one window and returns their
	// previous and current counts, in the order of hashes.
	AddRateLimitHits(ctx context.Context, hashes [][]byte, deltas []int32, windowStart, expiresAt time.Time,
		period time.Duration) (prev, curr []int, err error)
	// DeleteExpiredRateLimits deletes the counters that expired before now.
	DeleteExpiredRateLimits(ctx context.Context, now time.Time) (int64, error)
}

// Limiter counts in Counters.
type Limiter struct {
	db  Counters
	now func() time.Time
}

// New returns a Limiter on db; now is the clock (time.Now when nil).
func New(db Counters, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, now: now}
}

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
	prev, curr, err := l.db.CountRateLimitHit(ctx, digest[:], start, start.Add(2*limit.Period), limit.Period)
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
	deleted, err := l.db.DeleteExpiredRateLimits(ctx, l.now())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: cleanup: %w", err)
	}
	return deleted, nil
}

package store

import (
	"context"
	"fmt"
	"time"
)

const rateLimitUpsert = `
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

// CountRateLimitHit counts one request against the counter keyHash (rate_limits, migration 002)
// in the window that starts at windowStart and lasts period, in one upsert so that replicas count
// together: a counter whose window is the previous one carries its count over as prev, an older
// one starts again. It returns the previous and the current window's counts after this request.
// Counters never run in a change's transaction: they use the pool.
func (s *Store) CountRateLimitHit(ctx context.Context, keyHash []byte, windowStart, expiresAt time.Time,
	period time.Duration) (prev, curr int, err error) {
	err = s.Pool.QueryRow(ctx, rateLimitUpsert, keyHash, windowStart, expiresAt,
		fmt.Sprintf("%d microseconds", period.Microseconds())).Scan(&prev, &curr)
	return prev, curr, err
}

const rateLimitAddBatch = `
INSERT INTO rate_limits AS r (key_hash, window_start, prev_count, curr_count, expires_at)
SELECT k, $3, 0, n, $4 FROM unnest($1::bytea[], $2::int[]) AS t(k, n)
ON CONFLICT (key_hash) DO UPDATE SET
    prev_count = CASE
        WHEN r.window_start = EXCLUDED.window_start THEN r.prev_count
        WHEN r.window_start = EXCLUDED.window_start - $5::interval THEN r.curr_count
        ELSE 0 END,
    curr_count = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.curr_count + EXCLUDED.curr_count
        ELSE EXCLUDED.curr_count END,
    window_start = EXCLUDED.window_start,
    expires_at = EXCLUDED.expires_at
RETURNING key_hash, prev_count, curr_count`

// AddRateLimitHits adds deltas to the counters of hashes (distinct) in the window that starts at
// windowStart, in one statement, and returns every counter's previous and current counts after
// the addition, in the order of hashes (the synchronisation of the in-memory limits).
func (s *Store) AddRateLimitHits(ctx context.Context, hashes [][]byte, deltas []int32, windowStart, expiresAt time.Time,
	period time.Duration) (prev, curr []int, err error) {
	rows, err := s.Pool.Query(ctx, rateLimitAddBatch, hashes, deltas, windowStart, expiresAt,
		fmt.Sprintf("%d microseconds", period.Microseconds()))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	index := make(map[string]int, len(hashes))
	for i, h := range hashes {
		index[string(h)] = i
	}
	prev, curr = make([]int, len(hashes)), make([]int, len(hashes))
	for rows.Next() {
		var h []byte
		var p, c int
		if err := rows.Scan(&h, &p, &c); err != nil {
			return nil, nil, err
		}
		if i, ok := index[string(h)]; ok {
			prev[i], curr[i] = p, c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return prev, curr, nil
}

// DeleteExpiredRateLimits deletes the counters whose expiry is before now and says how many.
func (s *Store) DeleteExpiredRateLimits(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.Pool.Exec(ctx, "DELETE FROM rate_limits WHERE expires_at < $1", now)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

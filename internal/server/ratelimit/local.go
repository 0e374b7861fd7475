package ratelimit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// Local is the lighter whole-API limit. It decides in memory, so a request costs no database
// round trip, and every SyncEvery it adds what it counted to the shared counters in PostgreSQL
// and reads back the totals of all replicas, so the limit holds across replicas up to one sync
// interval of lag. When the database cannot be reached it keeps deciding on its own counts (this
// limit protects capacity, not credentials: those limits are the exact, fail-closed Allow).
type Local struct {
	limit  Limit
	shared *Limiter
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*window
	swept   time.Time
}

type window struct {
	start time.Time
	// own counts of this replica; delta is the part not yet added to the shared counter.
	prev, curr, delta int
	// shared totals of all replicas at the last sync (zero before the first).
	sharedPrev, sharedCurr int
}

// NewLocal returns a Local limiter for l; shared may be nil (no cross-replica sync).
func NewLocal(l Limit, shared *Limiter, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{limit: l, shared: shared, now: now, windows: map[string]*window{}}
}

// Limit is the configured limit.
func (l *Local) Limit() Limit { return l.limit }

// Allow counts one request for key and says whether it may proceed, and if not, for how long the
// client should wait.
func (l *Local) Allow(key string) (bool, time.Duration) {
	now := l.now()
	start := now.Truncate(l.limit.Period)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 2*l.limit.Period {
		// Forget keys idle for two windows so the map stays bounded by the active clients.
		for k, w := range l.windows {
			if now.Sub(w.start) > 2*l.limit.Period {
				delete(l.windows, k)
			}
		}
		l.swept = now
	}
	w := l.windows[key]
	if w == nil {
		w = &window{start: start}
		l.windows[key] = w
	}
	w.roll(start, l.limit.Period)
	w.curr++
	w.delta++
	curr := max(w.curr, w.sharedCurr+w.delta)
	prev := max(w.prev, w.sharedPrev)
	overlap := 1 - float64(now.Sub(start))/float64(l.limit.Period)
	if float64(curr)+float64(prev)*overlap <= float64(l.limit.Requests) {
		return true, 0
	}
	return false, max(start.Add(l.limit.Period).Sub(now), time.Second)
}

// roll moves w into the window beginning at start.
func (w *window) roll(start time.Time, period time.Duration) {
	switch {
	case w.start.Equal(start):
	case w.start.Add(period).Equal(start):
		w.prev, w.sharedPrev = w.curr, w.sharedCurr
		w.curr, w.sharedCurr, w.delta, w.start = 0, 0, 0, start
	default:
		*w = window{start: start}
	}
}

// Sync adds the counts made since the last sync to the shared counters (one statement for all
// keys) and takes the totals of every replica back into the local windows.
func (l *Local) Sync(ctx context.Context) error {
	if l.shared == nil {
		return nil
	}
	now := l.now()
	start := now.Truncate(l.limit.Period)
	l.mu.Lock()
	keys := make([]string, 0, len(l.windows))
	hashes := make([][]byte, 0, len(l.windows))
	deltas := make([]int32, 0, len(l.windows))
	for k, w := range l.windows {
		// Keys with nothing new are sent too (adding 0): their totals still have to come back,
		// since other replicas may have counted them.
		if w.start.Equal(start) {
			digest := sha256.Sum256([]byte("api:" + k))
			keys, hashes, deltas = append(keys, k), append(hashes, digest[:]), append(deltas, int32(w.delta))
		}
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	prev, curr, err := l.shared.add(ctx, hashes, deltas, start, l.limit.Period)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, k := range keys {
		w := l.windows[k]
		if w == nil || !w.start.Equal(start) {
			continue // the window moved on meanwhile; its next sync starts afresh
		}
		w.delta -= int(deltas[i])
		w.sharedPrev, w.sharedCurr = prev[i], curr[i]
	}
	return nil
}

// Run syncs every interval until ctx ends, calling failed with each error.
func (l *Local) Run(ctx context.Context, interval time.Duration, failed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
				failed(err)
			}
		}
	}
}

// add adds deltas to the counters of hashes (distinct) in the window beginning at start and
// returns every counter's totals, in the order of hashes.
func (l *Limiter) add(ctx context.Context, hashes [][]byte, deltas []int32, start time.Time, period time.Duration) ([]int, []int, error) {
	prev, curr, err := l.db.AddRateLimitHits(ctx, hashes, deltas, start, start.Add(2*period), period)
	if err != nil {
		return nil, nil, fmt.Errorf("ratelimit: sync: %w", err)
	}
	return prev, curr, nil
}

package httpapi

import (
	"sync"
	"time"

	"github.com/rsched/rsched/internal/server/ratelimit"
)

// localLimiter is the whole-API limit, counted in this replica's memory with the same sliding
// window as the shared limiter. A database round trip per request would cost more than most
// requests; the limits that guard credentials are the shared, exact ones (internal/server/ratelimit).
// With N replicas behind a balancer a client gets at most N times this limit.
type localLimiter struct {
	limit ratelimit.Limit
	now   func() time.Time

	mu      sync.Mutex
	windows map[string]*window
	swept   time.Time
}

type window struct {
	start      time.Time
	prev, curr int
}

func newLocalLimiter(l ratelimit.Limit) *localLimiter {
	return &localLimiter{limit: l, now: time.Now, windows: map[string]*window{}}
}

// allow counts one request for key; when refused it says how long to wait.
func (l *localLimiter) allow(key string) (bool, time.Duration) {
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
	switch {
	case w == nil:
		w = &window{start: start}
		l.windows[key] = w
	case w.start.Equal(start):
	case w.start.Add(l.limit.Period).Equal(start):
		w.prev, w.curr, w.start = w.curr, 0, start
	default:
		w.prev, w.curr, w.start = 0, 0, start
	}
	w.curr++
	overlap := 1 - float64(now.Sub(start))/float64(l.limit.Period)
	if float64(w.curr)+float64(w.prev)*overlap <= float64(l.limit.Requests) {
		return true, 0
	}
	return false, max(start.Add(l.limit.Period).Sub(now), time.Second)
}

package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestLocalLimitSlidesAndTellsWhenToRetry(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	l := NewLocal(Limit{Requests: 3, Period: time.Minute}, nil, clock)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry != time.Minute {
		t.Fatalf("4th: allowed %v, retry %s", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("keys are independent")
	}
	// Half-way through the next window, half of the previous window's 4 still count: 2 + 1 <= 3.
	t1 := t0.Add(90 * time.Second)
	now.Store(&t1)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("sliding window refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("sliding window let a burst through")
	}
	// Idle keys are forgotten.
	t2 := t0.Add(10 * time.Minute)
	now.Store(&t2)
	l.Allow("c")
	l.mu.Lock()
	n := len(l.windows)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d windows kept, want only the active key", n)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal("Sync without a shared limiter must be a no-op")
	}
}

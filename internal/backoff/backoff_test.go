package backoff

import (
	"testing"
	"time"
)

func TestAfter(t *testing.T) {
	e := Exponential{Base: 10 * time.Second, Max: 10 * time.Minute}
	cases := []struct {
		failures int
		want     time.Duration
	}{
		{-1, 0},
		{0, 0},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{6, 320 * time.Second},
		{7, 10 * time.Minute}, // 640 s, capped
		{8, 10 * time.Minute},
		{1 << 30, 10 * time.Minute}, // no overflow and no long loop: doubling stops at Max
	}
	for _, c := range cases {
		if got := e.After(c.failures); got != c.want {
			t.Errorf("After(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

func TestMaxBelowBaseCapsAtMax(t *testing.T) {
	e := Exponential{Base: time.Minute, Max: 30 * time.Second}
	if got := e.After(1); got != 30*time.Second {
		t.Fatalf("After(1) = %v, want the cap 30s", got)
	}
	if got := (Exponential{}).After(3); got != 0 {
		t.Fatalf("a zero backoff waits %v, want 0", got)
	}
}

func TestRemaining(t *testing.T) {
	e := Exponential{Base: 5 * time.Second, Max: 5 * time.Minute}
	last := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	if got := e.Remaining(last, last.Add(3*time.Second), 2); got != 7*time.Second {
		t.Fatalf("Remaining 3 s into a 10 s backoff = %v, want 7s", got)
	}
	if got := e.Remaining(last, last.Add(10*time.Second), 2); got != 0 {
		t.Fatalf("Remaining at its end = %v, want 0", got)
	}
	if got := e.Until(last, 3); !got.Equal(last.Add(20 * time.Second)) {
		t.Fatalf("Until = %v, want last + 20s", got)
	}
}

package store

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// The batch add returns each counter's totals in the order the hashes were given, carries the
// previous window's count over, and sums with the single-request upsert.
func TestRateLimitBatchAddReturnsTotalsInTheOrderOfTheHashes(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ha, hb := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	a, b := ha[:], hb[:]
	if _, _, err := s.CountRateLimitHit(ctx, a, start, start.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	prev, curr, err := s.AddRateLimitHits(ctx, [][]byte{b, a}, []int32{4, 2}, start, start.Add(2*time.Minute), time.Minute)
	if err != nil || prev[0] != 0 || curr[0] != 4 || prev[1] != 0 || curr[1] != 3 {
		t.Fatalf("same window: prev %v curr %v (%v), want [0 0] [4 3]", prev, curr, err)
	}
	next := start.Add(time.Minute)
	prev, curr, err = s.AddRateLimitHits(ctx, [][]byte{a, b}, []int32{1, 1}, next, next.Add(2*time.Minute), time.Minute)
	if err != nil || prev[0] != 3 || curr[0] != 1 || prev[1] != 4 || curr[1] != 1 {
		t.Fatalf("next window: prev %v curr %v (%v), want [3 4] [1 1]", prev, curr, err)
	}
	if n, err := s.DeleteExpiredRateLimits(ctx, next.Add(3*time.Minute)); err != nil || n != 2 {
		t.Fatalf("cleanup deleted %d (%v), want 2", n, err)
	}
}

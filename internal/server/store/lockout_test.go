package store

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// A name's counter is created on its first failure, read back as written, and forgotten.
func TestLoginFailuresAreCreatedWrittenAndCleared(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("dr_jones"))
	nh := sum[:]
	if _, ok, err := s.LoginLockedUntil(ctx, nh); ok || err != nil {
		t.Fatalf("a name never seen has a counter (%v)", err)
	}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	f, err := s.LockLoginFailures(ctx, nh, now)
	if err != nil || f.Failures != 0 || f.Lockouts != 0 || !f.UpdatedAt.Equal(now) || f.LockedUntil != nil {
		t.Fatalf("a new counter: %+v (%v), want zero counts stamped now", f, err)
	}
	until := now.Add(time.Minute)
	if err := s.SetLoginFailures(ctx, nh, LoginFailures{Failures: 5, Lockouts: 1, UpdatedAt: now, LockedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.LockLoginFailures(ctx, nh, now.Add(time.Hour)); err != nil || f.Failures != 5 || f.Lockouts != 1 || !f.UpdatedAt.Equal(now) {
		t.Fatalf("an existing counter: %+v (%v), want it as written and not restamped", f, err)
	}
	if got, ok, err := s.LoginLockedUntil(ctx, nh); err != nil || !ok || got == nil || !got.Equal(until) {
		t.Fatalf("locked until %v %v (%v), want %v", got, ok, err, until)
	}
	if err := s.ClearLoginFailures(ctx, nh); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LoginLockedUntil(ctx, nh); ok || err != nil {
		t.Fatalf("a cleared name still has a counter (%v)", err)
	}
}

package store

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// A challenge is read back as created, counts its attempts, and ends alone or with all of its user's.
func TestMFAChallengesAreCountedAndEnded(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	var user string
	if err := s.Pool.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash)
		VALUES (gen_random_uuid(), 'dr_jones', 'jones@hospital.example', 'faculty', '!') RETURNING id`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	h := func(x string) []byte { sum := sha256.Sum256([]byte(x)); return sum[:] }
	if _, ok, err := s.LockMFAChallenge(ctx, h("none")); ok || err != nil {
		t.Fatalf("an unknown challenge is found (%v)", err)
	}
	exp := time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC)
	for _, tok := range []string{"a", "b", "c"} {
		if err := s.CreateMFAChallenge(ctx, h(tok), user, exp); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.CountMFAChallengeAttempt(ctx, h("a")); err != nil {
			t.Fatal(err)
		}
	}
	c, ok, err := s.LockMFAChallenge(ctx, h("a"))
	if err != nil || !ok || c.UserID.String() != user || !c.ExpiresAt.Equal(exp) || c.Attempts != 2 {
		t.Fatalf("challenge %+v %v (%v), want the user's, expiring %v, 2 attempts", c, ok, err, exp)
	}
	if err := s.DeleteMFAChallenge(ctx, h("a")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LockMFAChallenge(ctx, h("a")); ok || err != nil {
		t.Fatalf("a deleted challenge is found (%v)", err)
	}
	if _, ok, _ := s.LockMFAChallenge(ctx, h("b")); !ok {
		t.Fatal("deleting one challenge ended another")
	}
	if err := s.DeleteUserMFAChallenges(ctx, user); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"b", "c"} {
		if _, ok, err := s.LockMFAChallenge(ctx, h(tok)); ok || err != nil {
			t.Fatalf("challenge %s outlives its user's (%v)", tok, err)
		}
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The history is read newest first, trimmed to its size, and a new password is set with
// must_change_password cleared.
func TestPasswordHistoryIsNewestFirstAndTrimmed(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	if _, err := s.UserPasswordHash(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("no such user: %v, want pgx.ErrNoRows", err)
	}
	var id string
	if err := s.Pool.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash, must_change_password)
		VALUES (gen_random_uuid(), 'dr_jones', 'jones@hospital.example', 'faculty', 'h0', true) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range 4 {
		if err := s.AddPasswordHistory(ctx, id, fmt.Sprintf("h%d", i), t0.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.RecentPasswordHashes(ctx, id, 3); err != nil || fmt.Sprint(got) != "[h3 h2 h1]" {
		t.Fatalf("recent: %v (%v), want [h3 h2 h1]", got, err)
	}
	if err := s.TrimPasswordHistory(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RecentPasswordHashes(ctx, id, 10); err != nil || fmt.Sprint(got) != "[h3 h2]" {
		t.Fatalf("after trimming to 2: %v (%v), want [h3 h2]", got, err)
	}
	if err := s.SetUserPassword(ctx, id, "h4", t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var must bool
	if err := s.Pool.QueryRow(ctx, "SELECT must_change_password FROM users WHERE id = $1", id).Scan(&must); err != nil || must {
		t.Fatalf("must_change_password %v (%v), want cleared", must, err)
	}
	if h, err := s.UserPasswordHash(ctx, id); err != nil || h != "h4" {
		t.Fatalf("hash %q (%v), want h4", h, err)
	}
}

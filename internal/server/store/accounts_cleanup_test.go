package store

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// Cleanup deletes each table's rows past their time and keeps the rest: a revoked session ends at
// its revocation, a counter under a running lockout stays however old.
func TestAccountsCleanupDeletesOnlyWhatIsPastItsTime(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	old, recent := now.Add(-48*time.Hour), now.Add(-time.Minute)
	h := func(x string) []byte { sum := sha256.Sum256([]byte(x)); return sum[:] }
	var user string
	if err := s.Pool.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash)
		VALUES (gen_random_uuid(), 'dr_jones', 'jones@hospital.example', 'faculty', '!') RETURNING id`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO revoked_tokens (jti, expires_at) VALUES ('gone', $1), ('kept', $2)", []any{recent, now.Add(time.Minute)}},
		{`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, csrf_hash, ip, user_agent) VALUES
			(gen_random_uuid(), $1, $2, $2, $4, $2, $5, '', ''), (gen_random_uuid(), $1, $2, $2, $3, NULL, $5, '', ''),
			(gen_random_uuid(), $1, $2, $2, $4, NULL, $5, '', '')`, []any{user, old, recent, now.Add(time.Hour), h("csrf")}},
		{"INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES ($1, $3, $4), ($2, $3, $5)", []any{h("c1"), h("c2"), user, recent, now.Add(time.Minute)}},
		{`INSERT INTO login_failures (name_hash, updated_at, locked_until) VALUES ($1, $4, NULL), ($2, $4, $5), ($3, $6, NULL)`,
			[]any{h("n1"), h("n2"), h("n3"), old, now.Add(time.Hour), recent}},
	} {
		if _, err := s.Pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	// revoked_tokens 1, sessions 1 (the revoked one), mfa_challenges 1, login_failures 1.
	n, err := s.CleanupAccounts(ctx, AccountsCleanup{Now: now, SessionsEndedBefore: now.Add(-time.Hour), FailuresBefore: now.Add(-24 * time.Hour)})
	if err != nil || n != 4 {
		t.Fatalf("deleted %d (%v), want 4", n, err)
	}
	for table, want := range map[string]int{"revoked_tokens": 1, "sessions": 2, "mfa_challenges": 1, "login_failures": 2} {
		var got int
		if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&got); err != nil || got != want {
			t.Errorf("%s keeps %d (%v), want %d", table, got, err, want)
		}
	}
}

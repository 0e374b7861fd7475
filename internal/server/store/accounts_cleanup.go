package store

import (
	"context"
	"time"
)

// AccountsCleanup says what CleanupAccounts may delete.
type AccountsCleanup struct {
	// Now: revoked access token ids and MFA challenges that expired before it.
	Now time.Time
	// SessionsEndedBefore: sessions revoked or expired before it (their refresh tokens with them).
	SessionsEndedBefore time.Time
	// FailuresBefore: failure counters last moved before it whose lockout, if any, ended before Now.
	FailuresBefore time.Time
}

// CleanupAccounts deletes what can no longer matter to the account flows, one table after the
// other, and says how many rows it deleted; on an error, how many it had deleted before.
func (s *Store) CleanupAccounts(ctx context.Context, c AccountsCleanup) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM revoked_tokens WHERE expires_at < $1", []any{c.Now}},
		{"DELETE FROM sessions WHERE coalesce(revoked_at, expires_at) < $1", []any{c.SessionsEndedBefore}},
		{"DELETE FROM mfa_challenges WHERE expires_at < $1", []any{c.Now}},
		{"DELETE FROM login_failures WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $2)", []any{c.FailuresBefore, c.Now}},
	} {
		tag, err := s.db.Exec(ctx, q.sql, q.args...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The lockout of account names: failures counted per name (whether or not an account bears it),
// the lock they start, and its check before any password is hashed.

// loginFailed counts a failure against the name and returns the error for the caller: the
// generic credentials error, or the lockout that this failure started.
func (s *Service) loginFailed(ctx context.Context, nh []byte, userID string, c Client) error {
	target := "account:unknown"
	if userID != "" {
		target = userTarget(userID)
	}
	locked, err := s.recordFailure(ctx, nh)
	if err != nil {
		return fmt.Errorf("accounts: counting a failed login: %w", err)
	}
	if locked != nil {
		s.record(ctx, c, "anonymous", "auth.lockout.started", target, map[string]any{"seconds": int(locked.RetryAfter.Seconds())})
		return locked
	}
	s.record(ctx, c, "anonymous", "auth.login.failed", target, nil)
	return ErrBadCredentials
}

// clearFailures forgets a name's failures after a complete sign-in.
func (s *Service) clearFailures(ctx context.Context, nh []byte) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM login_failures WHERE name_hash = $1", nh); err != nil {
		return fmt.Errorf("accounts: login: %w", err)
	}
	return nil
}

// checkLock refuses a name that is locked out.
func (s *Service) checkLock(ctx context.Context, nh []byte) error {
	var until *time.Time
	err := s.pool.QueryRow(ctx, "SELECT locked_until FROM login_failures WHERE name_hash = $1", nh).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("accounts: reading lockout: %w", err)
	}
	if l := lockedOut(until, s.now()); l != nil {
		return l
	}
	return nil
}

// lockoutMemory is how long past lockouts keep counting towards the next one's length.
const lockoutMemory = 24 * time.Hour

// recordFailure counts one failure for a name (countFailure) and returns the lockout it is
// under, if any. The row is locked while it is read and written, so replicas counting at once
// never lose a failure.
func (s *Service) recordFailure(ctx context.Context, nh []byte) (*LockedError, error) {
	var locked *LockedError
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO login_failures (name_hash, updated_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, nh, now); err != nil {
			return err
		}
		var row failureRow
		if err := tx.QueryRow(ctx, "SELECT failures, lockouts, updated_at, locked_until FROM login_failures WHERE name_hash = $1 FOR UPDATE", nh).
			Scan(&row.failures, &row.lockouts, &row.updatedAt, &row.lockedUntil); err != nil {
			return err
		}
		d := countFailure(row, now, s.cfg)
		locked = d.locked
		if d.outcome == failureLockStands {
			return nil
		}
		_, err := tx.Exec(ctx, "UPDATE login_failures SET failures = $2, lockouts = $3, locked_until = $4, updated_at = $5 WHERE name_hash = $1",
			nh, d.next.failures, d.next.lockouts, d.next.lockedUntil, d.next.updatedAt)
		return err
	})
	return locked, err
}

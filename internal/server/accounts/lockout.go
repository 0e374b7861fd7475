package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/store"
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
	if err := s.st.ClearLoginFailures(ctx, nh); err != nil {
		return fmt.Errorf("accounts: login: %w", err)
	}
	return nil
}

// checkLock refuses a name that is locked out.
func (s *Service) checkLock(ctx context.Context, nh []byte) error {
	until, ok, err := s.st.LoginLockedUntil(ctx, nh)
	if err != nil {
		return fmt.Errorf("accounts: reading lockout: %w", err)
	}
	if !ok {
		return nil
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
		db := s.st.On(tx)
		f, err := db.LockLoginFailures(ctx, nh, now)
		if err != nil {
			return err
		}
		d := countFailure(failureRow{failures: f.Failures, lockouts: f.Lockouts, updatedAt: f.UpdatedAt, lockedUntil: f.LockedUntil}, now, s.cfg)
		locked = d.locked
		if d.outcome == failureLockStands {
			return nil
		}
		return db.SetLoginFailures(ctx, nh, store.LoginFailures{Failures: d.next.failures, Lockouts: d.next.lockouts,
			LockedUntil: d.next.lockedUntil, UpdatedAt: d.next.updatedAt})
	})
	return locked, err
}

package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The lockout counters of account names (login_failures), keyed by a hash of the name so that the
// table never holds a name in clear.

// LoginFailures is a name's failure counter.
type LoginFailures struct {
	Failures, Lockouts int
	UpdatedAt          time.Time
	LockedUntil        *time.Time
}

// LoginLockedUntil returns the end of the name's lockout (nil when its counter has none); ok is
// false when the name has no counter.
func (s *Store) LoginLockedUntil(ctx context.Context, nameHash []byte) (until *time.Time, ok bool, err error) {
	err = s.db.QueryRow(ctx, "SELECT locked_until FROM login_failures WHERE name_hash = $1", nameHash).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return until, true, nil
}

// LockLoginFailures creates the name's counter if it has none (stamped now) and returns it, locked
// (FOR UPDATE) until the end of the transaction the store runs on (On), so that replicas counting
// at once never lose a failure.
func (s *Store) LockLoginFailures(ctx context.Context, nameHash []byte, now time.Time) (LoginFailures, error) {
	var f LoginFailures
	if _, err := s.db.Exec(ctx, `INSERT INTO login_failures (name_hash, updated_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, nameHash, now); err != nil {
		return f, err
	}
	err := s.db.QueryRow(ctx, "SELECT failures, lockouts, updated_at, locked_until FROM login_failures WHERE name_hash = $1 FOR UPDATE", nameHash).
		Scan(&f.Failures, &f.Lockouts, &f.UpdatedAt, &f.LockedUntil)
	return f, err
}

// SetLoginFailures writes the name's counter.
func (s *Store) SetLoginFailures(ctx context.Context, nameHash []byte, f LoginFailures) error {
	_, err := s.db.Exec(ctx, "UPDATE login_failures SET failures = $2, lockouts = $3, locked_until = $4, updated_at = $5 WHERE name_hash = $1",
		nameHash, f.Failures, f.Lockouts, f.LockedUntil, f.UpdatedAt)
	return err
}

// ClearLoginFailures forgets the name's failures and lockout.
func (s *Store) ClearLoginFailures(ctx context.Context, nameHash []byte) error {
	_, err := s.db.Exec(ctx, "DELETE FROM login_failures WHERE name_hash = $1", nameHash)
	return err
}

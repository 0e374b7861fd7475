package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Second-factor challenges (mfa_challenges), keyed by the hash of the token handed to the client:
// the token itself is never stored.

// MFAChallenge is a pending second step.
type MFAChallenge struct {
	UserID    uuid.UUID
	ExpiresAt time.Time
	Attempts  int
}

// CreateMFAChallenge records a challenge for the user, valid until expiresAt.
func (s *Store) CreateMFAChallenge(ctx context.Context, tokenHash []byte, userID string, expiresAt time.Time) error {
	_, err := s.db.Exec(ctx, "INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
		tokenHash, userID, expiresAt)
	return err
}

// LockMFAChallenge returns the challenge, locked (FOR UPDATE) until the end of the transaction the
// store runs on (On); ok is false when there is none.
func (s *Store) LockMFAChallenge(ctx context.Context, tokenHash []byte) (c MFAChallenge, ok bool, err error) {
	err = s.db.QueryRow(ctx, "SELECT user_id, expires_at, attempts FROM mfa_challenges WHERE token_hash = $1 FOR UPDATE", tokenHash).
		Scan(&c.UserID, &c.ExpiresAt, &c.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return MFAChallenge{}, false, nil
	}
	if err != nil {
		return MFAChallenge{}, false, err
	}
	return c, true, nil
}

// DeleteMFAChallenge ends the challenge.
func (s *Store) DeleteMFAChallenge(ctx context.Context, tokenHash []byte) error {
	_, err := s.db.Exec(ctx, "DELETE FROM mfa_challenges WHERE token_hash = $1", tokenHash)
	return err
}

// CountMFAChallengeAttempt counts one more wrong code against the challenge.
func (s *Store) CountMFAChallengeAttempt(ctx context.Context, tokenHash []byte) error {
	_, err := s.db.Exec(ctx, "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1", tokenHash)
	return err
}

// DeleteUserMFAChallenges ends every pending challenge of the user.
func (s *Store) DeleteUserMFAChallenges(ctx context.Context, userID string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM mfa_challenges WHERE user_id = $1", userID)
	return err
}

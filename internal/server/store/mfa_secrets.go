package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Users' second factors: the TOTP secret, its pending enrolment and last accepted step
// (users.totp_secret, totp_pending, totp_last_step, mfa_enabled), and the recovery codes
// (mfa_recovery_codes, as hashes). Secrets are stored sealed by the caller (fieldcrypt); the
// store never sees them in clear.

// LockUserSecondFactor returns the user (not deleted) with its sealed TOTP secret (nil when none)
// and last accepted step, locked (FOR UPDATE) until the end of the transaction the store runs on
// (On), so that a code is accepted at most once; ok is false when there is no such user.
func (s *Store) LockUserSecondFactor(ctx context.Context, id string) (u User, sealed *string, lastStep int64, ok bool, err error) {
	u, err = scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+`, totp_secret, totp_last_step FROM users
		WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id), &sealed, &lastStep)
	ok, err = found(err)
	return u, sealed, lastStep, ok, err
}

// LockTOTPSecret returns the user's sealed TOTP secret (nil when none) and last accepted step,
// locked as LockUserSecondFactor does.
func (s *Store) LockTOTPSecret(ctx context.Context, id string) (sealed *string, lastStep int64, err error) {
	err = s.db.QueryRow(ctx, "SELECT totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE", id).Scan(&sealed, &lastStep)
	return sealed, lastStep, err
}

// SetTOTPLastStep records the step of the code just accepted, so that it is never accepted again.
func (s *Store) SetTOTPLastStep(ctx context.Context, id string, step int64) error {
	_, err := s.db.Exec(ctx, "UPDATE users SET totp_last_step = $2 WHERE id = $1", id, step)
	return err
}

// SetTOTPPending stores a sealed secret offered to the user, until confirmed.
func (s *Store) SetTOTPPending(ctx context.Context, id, sealed string, at time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE users SET totp_pending = $2, updated_at = $3 WHERE id = $1", id, sealed, at)
	return err
}

// LockTOTPEnrolment returns the user's pending sealed secret (nil when none) and whether MFA is
// enabled, locked (FOR UPDATE) until the end of the transaction the store runs on (On).
func (s *Store) LockTOTPEnrolment(ctx context.Context, id string) (pending *string, enabled bool, err error) {
	err = s.db.QueryRow(ctx, "SELECT totp_pending, mfa_enabled FROM users WHERE id = $1 FOR UPDATE", id).Scan(&pending, &enabled)
	return pending, enabled, err
}

// EnableTOTP turns the second factor on with sealed, whose first code was at step, and ends the
// pending enrolment.
func (s *Store) EnableTOTP(ctx context.Context, id, sealed string, step int64, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3, mfa_enabled = true,
			updated_at = $4 WHERE id = $1`, id, sealed, step, at)
	return err
}

// DisableTOTP turns the second factor off and deletes its secrets and recovery codes.
func (s *Store) DisableTOTP(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL, mfa_enabled = false, updated_at = $2
			WHERE id = $1`, id, at); err != nil {
		return err
	}
	return s.deleteRecoveryCodes(ctx, id)
}

// RecoveryCodeHashes returns the hashes of the user's unused recovery codes.
func (s *Store) RecoveryCodeHashes(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Query(ctx, "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1", userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DeleteRecoveryCode spends the user's recovery code whose hash is hash.
func (s *Store) DeleteRecoveryCode(ctx context.Context, userID, hash string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2", userID, hash)
	return err
}

// ReplaceRecoveryCodes deletes the user's recovery codes and stores hashes instead.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	if err := s.deleteRecoveryCodes(ctx, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := s.db.Exec(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)", userID, h); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteRecoveryCodes(ctx context.Context, userID string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID)
	return err
}

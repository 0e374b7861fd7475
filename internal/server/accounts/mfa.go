package accounts

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
)

// recoveryCodeCount is how many recovery codes an enrolment hands out.
const recoveryCodeCount = 10

// Enrolment is a TOTP secret offered to the user, to be confirmed with a first code.
type Enrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// BeginMFAEnrolment creates a pending TOTP secret after checking the caller's password. The
// secret is stored sealed (field encryption bound to the row) until ConfirmMFAEnrolment.
func (s *Service) BeginMFAEnrolment(ctx context.Context, p *Principal, password string, c Client) (*Enrolment, error) {
	if p.MFAEnabled {
		return nil, &ConflictError{"MFA is already enabled; disable it first to enrol a new device"}
	}
	if err := s.checkPassword(ctx, p, password, c); err != nil {
		return nil, err
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.fields.Encrypt(secret, fieldcrypt.Binding{Table: "users", Column: "totp_pending", Row: p.ID})
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if err := s.st.On(tx).SetTOTPPending(ctx, p.ID, sealed, s.now()); err != nil {
			return err
		}
		a.record(p.ID, "auth.mfa.enrolment_started", userTarget(p.ID), nil)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: mfa enrolment: %w", err)
	}
	return &Enrolment{
		Secret:     base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
		OTPAuthURI: auth.TOTPURI(secret, s.cfg.Issuer, p.Username),
	}, nil
}

// ConfirmMFAEnrolment turns the pending secret on once the user proves their device has it, and
// returns fresh recovery codes (shown once; only their hashes are stored).
func (s *Service) ConfirmMFAEnrolment(ctx context.Context, p *Principal, code string, c Client) ([]string, error) {
	var codes []string
	err := s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		db := s.st.On(tx)
		pending, enabled, err := db.LockTOTPEnrolment(ctx, p.ID)
		if err != nil {
			return err
		}
		if enabled {
			return &ConflictError{"MFA is already enabled"}
		}
		if pending == nil {
			return &ConflictError{"no MFA enrolment in progress; start one at POST /api/v1/auth/mfa/enroll"}
		}
		secret, err := s.fields.Decrypt(*pending, fieldcrypt.Binding{Table: "users", Column: "totp_pending", Row: p.ID})
		if err != nil {
			return err
		}
		step, err := auth.VerifyTOTP(secret, code, s.now(), 0)
		if err != nil {
			return ErrInvalidMFA
		}
		sealed, err := s.fields.Encrypt(secret, fieldcrypt.Binding{Table: "users", Column: "totp_secret", Row: p.ID})
		if err != nil {
			return err
		}
		if err := db.EnableTOTP(ctx, p.ID, sealed, step, s.now()); err != nil {
			return err
		}
		var hashes []string
		if codes, hashes, err = auth.NewRecoveryCodes(recoveryCodeCount); err != nil {
			return err
		}
		if err := db.ReplaceRecoveryCodes(ctx, p.ID, hashes); err != nil {
			return err
		}
		a.record(p.ID, "auth.mfa.enabled", userTarget(p.ID), nil)
		return nil
	})
	s.invalidate(p.ID)
	if err != nil {
		if errors.Is(err, ErrInvalidMFA) {
			// A failed attempt changes nothing: audited on its own.
			s.record(ctx, c, p.ID, "auth.mfa.enrolment_failed", userTarget(p.ID), nil)
		}
		return nil, err
	}
	return codes, nil
}

// DisableMFA turns the second factor off after checking the password and a current code (or a
// recovery code). Roles that require MFA cannot turn it off.
func (s *Service) DisableMFA(ctx context.Context, p *Principal, password, code, recoveryCode string, c Client) error {
	if !p.MFAEnabled {
		return &ConflictError{"MFA is not enabled"}
	}
	if s.requiresMFA(p.Role) {
		return &ConflictError{"MFA is required for the " + string(p.Role) + " role"}
	}
	if err := s.checkPassword(ctx, p, password, c); err != nil {
		return err
	}
	err := s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		db := s.st.On(tx)
		sealed, last, err := db.LockTOTPSecret(ctx, p.ID)
		if err != nil {
			return err
		}
		if sealed == nil {
			return &ConflictError{"MFA is not enabled"}
		}
		ok, _, err := s.checkSecondFactor(ctx, db, p.ID, *sealed, last, code, recoveryCode)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidMFA
		}
		if err := db.DisableTOTP(ctx, p.ID, s.now()); err != nil {
			return err
		}
		a.record(p.ID, "auth.mfa.disabled", userTarget(p.ID), nil)
		return nil
	})
	s.invalidate(p.ID)
	if err != nil {
		if errors.Is(err, ErrInvalidMFA) {
			// A failed attempt changes nothing: audited on its own.
			s.record(ctx, c, p.ID, "auth.mfa.disable_failed", userTarget(p.ID), nil)
		}
		return err
	}
	return nil
}

// checkPassword re-checks the caller's password before a sensitive change; failures count
// towards the lockout like sign-in failures.
func (s *Service) checkPassword(ctx context.Context, p *Principal, password string, c Client) error {
	if err := s.checkLock(ctx, nameHash(p.Username)); err != nil {
		return err
	}
	hash, err := s.st.UserPasswordHash(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if _, err := s.hasher.Verify(password, hash); err != nil {
		if locked, ferr := s.recordFailure(ctx, nameHash(p.Username)); ferr == nil && locked != nil {
			s.record(ctx, c, p.ID, "auth.lockout.started", userTarget(p.ID), map[string]any{"seconds": int(locked.RetryAfter.Seconds())})
		}
		return &InvalidError{Reason: "password is incorrect", BadRequest: true}
	}
	return nil
}

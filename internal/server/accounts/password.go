package accounts

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/auth"
)

// A user's own password change.

// ChangePassword sets the caller's new password after checking the current one, the policy and
// the history (classifyPasswordChange), and ends every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string, c Client) error {
	if err := s.checkLock(ctx, nameHash(p.Username)); err != nil {
		return err
	}
	f, err := s.gatherPasswordChange(ctx, p, current, next)
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", err)
	}
	switch classifyPasswordChange(f) {
	case passwordWrongCurrent:
		if locked, ferr := s.recordFailure(ctx, nameHash(p.Username)); ferr == nil && locked != nil {
			s.record(ctx, c, p.ID, "auth.lockout.started", userTarget(p.ID), map[string]any{"seconds": int(locked.RetryAfter.Seconds())})
		}
		s.record(ctx, c, p.ID, "auth.password.change_failed", userTarget(p.ID), nil)
		return &InvalidError{Reason: "current password is incorrect", BadRequest: true}
	case passwordRejectedByPolicy:
		return f.policy
	case passwordSameAsCurrent:
		return &auth.PolicyError{Problems: []string{"the new password must differ from the current one"}}
	case passwordReused:
		return f.history
	}
	fresh, err := s.hasher.Hash(next)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		revoked, err := s.storePassword(ctx, tx, p, fresh)
		if err != nil {
			return err
		}
		a.record(p.ID, "auth.password.changed", userTarget(p.ID), map[string]any{"other_sessions_revoked": revoked})
		return nil
	})
	s.invalidate(p.ID)
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", err)
	}
	return nil
}

// gatherPasswordChange loads and checks the facts of a password change in
// classifyPasswordChange's order, stopping at the first that refuses.
func (s *Service) gatherPasswordChange(ctx context.Context, p *Principal, current, next string) (passwordChangeFacts, error) {
	var f passwordChangeFacts
	hash, err := s.st.UserPasswordHash(ctx, p.ID)
	if err != nil {
		return f, err
	}
	if _, err := s.hasher.Verify(current, hash); err != nil {
		return f, nil
	}
	f.currentOK = true
	if f.policy = s.cfg.Policy.Check(next, p.Username, p.Email); f.policy != nil {
		return f, nil
	}
	previous, err := s.st.RecentPasswordHashes(ctx, p.ID, max(s.cfg.Policy.HistorySize, 1))
	if err != nil {
		return f, err
	}
	if _, err := s.hasher.Verify(next, hash); err == nil {
		f.sameAsCurrent = true
		return f, nil
	}
	f.history = s.cfg.Policy.CheckHistory(s.hasher, next, previous)
	return f, nil
}

// storePassword writes the caller's new password hash fresh in tx, keeps the history to its
// size, ends the pending MFA challenges and the user's other sessions, and returns how many
// sessions it ended.
func (s *Service) storePassword(ctx context.Context, tx pgx.Tx, p *Principal, fresh string) (int64, error) {
	now := s.now()
	db := s.st.On(tx)
	if err := db.SetUserPassword(ctx, p.ID, fresh, now); err != nil {
		return 0, err
	}
	if err := db.AddPasswordHistory(ctx, p.ID, fresh, now); err != nil {
		return 0, err
	}
	if err := db.TrimPasswordHistory(ctx, p.ID, max(s.cfg.Policy.HistorySize, 1)); err != nil {
		return 0, err
	}
	// A password step completed with the old password must not finish with its second factor.
	if err := db.DeleteUserMFAChallenges(ctx, p.ID); err != nil {
		return 0, err
	}
	return db.RevokeUserSessions(ctx, p.ID, p.SessionID, "password_changed", now)
}

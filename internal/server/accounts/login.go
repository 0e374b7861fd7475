package accounts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/store"
)

// Session is what a completed sign-in or refresh hands to the client.
type Session struct {
	SessionID     string
	AccessToken   string
	AccessExpires time.Time
	// RefreshToken is opaque; only its hash is stored.
	RefreshToken string
	// CSRFToken must accompany state-changing requests authenticated by the access_token cookie.
	CSRFToken string
	User      User
}

// LoginResult is a Session, or, for an account with MFA, a challenge to complete with VerifyMFA.
type LoginResult struct {
	Session      *Session
	MFAToken     string
	MFAExpiresIn time.Duration
}

// mfaChallengeTTL bounds the time between the password step and the code step; maxMFAAttempts
// bounds the codes tried against one challenge.
const (
	mfaChallengeTTL = 5 * time.Minute
	maxMFAAttempts  = 5
)

// Login checks a username and password. The order matters: a locked name is refused before any
// hashing (the lock answers the same for names with and without an account); an unknown name
// costs the same hashing time as a known one; the account's state (inactive, locked by an
// administrator) is told only to a caller who gave the right password (classifyLogin).
func (s *Service) Login(ctx context.Context, username, password string, c Client) (*LoginResult, error) {
	nh := nameHash(username)
	if err := s.checkLock(ctx, nh); err != nil {
		return nil, err
	}
	row, hash, found, err := s.st.UserForLogin(ctx, username)
	if err != nil {
		return nil, fmt.Errorf("accounts: login: %w", err)
	}
	u := User(row)
	passwordOK, needsRehash := s.verifyPassword(found, u.ID, hash, password)
	d := classifyLogin(found, u, passwordOK)
	if d.clearFailures {
		if err := s.clearFailures(ctx, nh); err != nil {
			return nil, err
		}
	}
	switch d.outcome {
	case loginUnknownUser, loginWrongPassword:
		return nil, s.loginFailed(ctx, nh, u.ID, c)
	case loginInactive:
		// Refusals change nothing: audited on their own, like failures.
		s.record(ctx, c, u.ID, "auth.login.refused", userTarget(u.ID), map[string]any{"reason": "inactive"})
		return nil, ErrInactive
	case loginAdminLocked:
		s.record(ctx, c, u.ID, "auth.login.refused", userTarget(u.ID), map[string]any{"reason": "locked_by_admin"})
		return nil, ErrAdminLocked
	}
	if needsRehash {
		s.rehash(ctx, u.ID, hash, password, c)
	}
	if d.outcome == loginMFAChallenge {
		return s.challengeMFA(ctx, u.ID, c)
	}
	sess, err := s.startSession(ctx, u, c, nil)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Session: sess}, nil
}

// verifyPassword checks password against the account's hash; for an unknown account (found
// false) it spends the same hashing time and fails.
func (s *Service) verifyPassword(found bool, userID, hash, password string) (ok, needsRehash bool) {
	if !found {
		_ = s.hasher.VerifyUnknown(password)
		return false, false
	}
	needsRehash, err := s.hasher.Verify(password, hash)
	if err != nil {
		if !errors.Is(err, auth.ErrPasswordMismatch) {
			s.log.Error("stored password hash unusable", "user", userID, "error", err)
		}
		return false, false
	}
	return true, needsRehash
}

// rehash stores password under the current hashing parameters, if the stored hash is still old.
// It is best effort: the sign-in goes on with the old hash, which still verifies.
func (s *Service) rehash(ctx context.Context, userID, old, password string, c Client) {
	fresh, err := s.hasher.Hash(password)
	if err != nil {
		return
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if err := s.st.On(tx).RehashPassword(ctx, userID, old, fresh); err != nil {
			return err
		}
		a.record(userID, "auth.password.rehashed", userTarget(userID), nil)
		return nil
	})
	if err != nil {
		s.log.Warn("password rehash not stored", "user", userID, "error", err)
	}
}

// challengeMFA hands out a second-factor challenge for the user, who gave the right password.
func (s *Service) challengeMFA(ctx context.Context, userID string, c Client) (*LoginResult, error) {
	tok, th, err := randomToken()
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if err := s.st.On(tx).CreateMFAChallenge(ctx, th, userID, s.now().Add(mfaChallengeTTL)); err != nil {
			return err
		}
		a.record(userID, "auth.login.mfa_challenged", userTarget(userID), nil)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: login: %w", err)
	}
	return &LoginResult{MFAToken: tok, MFAExpiresIn: mfaChallengeTTL}, nil
}

// VerifyMFA completes a sign-in with a TOTP code or a recovery code. Codes are checked under a
// row lock on the user, so the same code presented twice at once, even to two replicas, succeeds
// at most once. Failures count towards the account's lockout as password failures do. The facts
// are loaded, classified (classifyMFA) and the challenge written in one transaction; for a right
// code, the same transaction consumes it, clears the name's failures, creates the session and
// audits the sign-in, so a code (a recovery code above all) is never used up without a session
// and its audit entry: if the audit write fails, nothing commits and the code still works. The
// failure count and its audit follow a wrong code.
func (s *Service) VerifyMFA(ctx context.Context, mfaToken, code, recoveryCode string, c Client) (*Session, error) {
	th := hashToken(mfaToken)
	now := s.now()
	var f mfaFacts
	var outcome mfaOutcome
	var sess *Session
	err := s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if f, err = s.gatherMFA(ctx, tx, th, code, recoveryCode, now); err != nil {
			return err
		}
		outcome = classifyMFA(f, now)
		if err := writeChallenge(ctx, s.st.On(tx), th, outcome.challengeWrite()); err != nil || outcome != mfaOK {
			return err
		}
		if err := s.st.On(tx).ClearLoginFailures(ctx, nameHash(f.user.Username)); err != nil {
			return err
		}
		sess, err = s.createSession(ctx, tx, a, f.user, c, map[string]any{"mfa": true, "used_backup_code": f.ofRecovery})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: mfa: %w", err)
	}
	switch outcome {
	case mfaLockedOut:
		return nil, f.lockout
	case mfaWrongCode:
		if locked, err := s.recordFailure(ctx, nameHash(f.user.Username)); err == nil && locked != nil {
			s.record(ctx, c, "anonymous", "auth.lockout.started", userTarget(f.user.ID), map[string]any{"seconds": int(locked.RetryAfter.Seconds())})
		}
		s.record(ctx, c, "anonymous", "auth.mfa.failed", userTarget(f.user.ID), nil)
		return nil, ErrInvalidMFA
	case mfaOK:
		return s.signSession(sess)
	}
	return nil, ErrInvalidMFA
}

// gatherMFA loads the facts of a second step in tx, in classifyMFA's order, stopping at the
// first that decides; the code is checked last, under the user's row lock, and consumed if it
// is right.
func (s *Service) gatherMFA(ctx context.Context, tx pgx.Tx, th []byte, code, recoveryCode string, now time.Time) (mfaFacts, error) {
	var f mfaFacts
	ch := &f.challenge
	db := s.st.On(tx)
	row, ok, err := db.LockMFAChallenge(ctx, th)
	if err != nil || !ok {
		return f, err
	}
	userID := row.UserID
	ch.found, ch.userID, ch.expiresAt, ch.attempts = true, userID.String(), row.ExpiresAt, row.Attempts
	if !ch.live(now) {
		return f, nil
	}
	u, sealed, lastStep, ok, err := db.LockUserSecondFactor(ctx, userID.String())
	if f.userFound = ok; err != nil || !ok {
		return f, err // not found: deleted since the password step, the challenge simply fails
	}
	f.user = User(u)
	if err := s.checkLock(ctx, nameHash(f.user.Username)); err != nil {
		if !errors.As(err, &f.lockout) {
			return f, err
		}
		return f, nil
	}
	if f.user.MFAEnabled && sealed != nil {
		f.codeOK, f.ofRecovery, err = s.checkSecondFactor(ctx, db, f.user.ID, *sealed, lastStep, code, recoveryCode)
	}
	return f, err
}

// writeChallenge applies w to challenge th.
func writeChallenge(ctx context.Context, db *store.Store, th []byte, w challengeWrite) error {
	switch w {
	case challengeDeleted:
		return db.DeleteMFAChallenge(ctx, th)
	case challengeAttemptCounted:
		return db.CountMFAChallengeAttempt(ctx, th)
	}
	return nil
}

// checkSecondFactor verifies code (TOTP) or recoveryCode for user id inside tx, which holds the
// user's row lock, and consumes what it accepted.
func (s *Service) checkSecondFactor(ctx context.Context, db *store.Store, id, sealed string, lastStep int64, code, recoveryCode string) (ok, recovery bool, err error) {
	if recoveryCode != "" {
		hashes, err := db.RecoveryCodeHashes(ctx, id)
		if err != nil {
			return false, false, err
		}
		i := auth.MatchRecoveryCode(recoveryCode, hashes)
		if i < 0 {
			return false, true, nil
		}
		err = db.DeleteRecoveryCode(ctx, id, hashes[i])
		return err == nil, true, err
	}
	secret, err := s.fields.Decrypt(sealed, fieldcrypt.Binding{Table: "users", Column: "totp_secret", Row: id})
	if err != nil {
		return false, false, fmt.Errorf("decrypting the TOTP secret: %w", err)
	}
	step, err := auth.VerifyTOTP(secret, code, s.now(), lastStep)
	if err != nil {
		return false, false, nil
	}
	err = db.SetTOTPLastStep(ctx, id, step)
	return err == nil, false, err
}

// startSession creates a session (refresh token family) for u, audits the sign-in in the same
// transaction (details added to the session's id) and signs the session's first access token.
func (s *Service) startSession(ctx context.Context, u User, c Client, details map[string]any) (*Session, error) {
	var sess *Session
	err := s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		sess, err = s.createSession(ctx, tx, a, u, c, details)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: starting a session: %w", err)
	}
	return s.signSession(sess)
}

// createSession writes a session (refresh token family) for u in tx and records the sign-in
// (details added to the session's id); the session has no access token yet (signSession, once
// tx committed).
func (s *Service) createSession(ctx context.Context, tx pgx.Tx, a recorder, u User, c Client, details map[string]any) (*Session, error) {
	refresh, rh, err := randomToken()
	if err != nil {
		return nil, err
	}
	csrf, ch, err := randomToken()
	if err != nil {
		return nil, err
	}
	sid := uuid.NewString()
	now := s.now()
	db := s.st.On(tx)
	if err := db.CreateSession(ctx, store.NewSession{ID: sid, UserID: u.ID, At: now, ExpiresAt: now.Add(s.cfg.RefreshTTL), CSRFHash: ch,
		IP: c.IP, UserAgent: truncate(c.UserAgent, 256)}, rh); err != nil {
		return nil, err
	}
	if err := db.SetLastLogin(ctx, u.ID, now); err != nil {
		return nil, err
	}
	event := map[string]any{"session": sid}
	maps.Copy(event, details)
	a.record(u.ID, "auth.login.succeeded", userTarget(u.ID), event)
	u.LastLoginAt = &now
	return &Session{SessionID: sid, RefreshToken: refresh, CSRFToken: csrf, User: u}, nil
}

// signSession signs the first access token of a session that committed.
func (s *Service) signSession(sess *Session) (*Session, error) {
	access, claims, err := s.tokens.IssueAccess(sess.User.ID, sess.SessionID)
	if err != nil {
		return nil, err
	}
	sess.AccessToken, sess.AccessExpires = access, claims.ExpiresAt.Time
	return sess, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

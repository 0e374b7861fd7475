package accounts

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/store"
)

// Restriction limits what a signed-in user may do until they act: while one is set, only the
// routes that resolve it (and /auth/me, /auth/logout) are allowed.
type Restriction string

// Restrictions, in the order they are reported.
const (
	NoRestriction          Restriction = ""
	PasswordChangeRequired Restriction = "password_change_required"
	PasswordExpired        Restriction = "password_expired"
	MFAEnrolmentRequired   Restriction = "mfa_enrolment_required"
)

// Principal is the authenticated caller of one request.
type Principal struct {
	User
	SessionID    string
	TokenID      string
	TokenExpires time.Time
	Restriction  Restriction
	csrfHash     []byte
}

// CheckCSRF compares a request's CSRF token with the session's, in constant time.
func (p *Principal) CheckCSRF(token string) bool {
	if token == "" || len(p.csrfHash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(hashToken(token), p.csrfHash) == 1
}

// Authenticate verifies an access token and loads its user and session in one query. The role,
// active flag and session state come from the database on every request, so a role change,
// deactivation, logout or revoked session takes effect at once on every replica.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	claims, err := s.tokens.VerifyAccess(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	uid, err1 := uuid.Parse(claims.Subject)
	sid, err2 := uuid.Parse(claims.SessionID)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: subject or session is not a UUID", ErrUnauthenticated)
	}
	p := &Principal{SessionID: sid.String(), TokenID: claims.ID, TokenExpires: claims.ExpiresAt.Time}
	now := s.now()
	if e, ok := s.cache.get(uid.String(), p.SessionID, claims.ID, now); ok {
		p.User, p.csrfHash = e.user, e.csrfHash
	} else {
		st := s.cache.stamp(uid.String())
		var live, revoked bool
		var expires time.Time
		p.User, err = scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumnsOf("u.")+`, s.csrf_hash, s.expires_at,
				s.revoked_at IS NULL AND s.expires_at > $3,
				EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $4)
			FROM users u JOIN sessions s ON s.id = $2 AND s.user_id = u.id
			WHERE u.id = $1 AND u.deleted_at IS NULL`, uid, sid, now, claims.ID), &p.csrfHash, &expires, &live, &revoked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("%w: no such user or session", ErrUnauthenticated)
		case err != nil:
			return nil, fmt.Errorf("accounts: authenticate: %w", err)
		case !live || revoked:
			return nil, fmt.Errorf("%w: session ended or token revoked", ErrUnauthenticated)
		}
		s.cache.put(p.SessionID, cachedPrincipal{user: p.User, csrfHash: p.csrfHash, sessionExpires: expires, fetched: now}, st)
	}
	if !p.IsActive || p.IsLocked {
		return nil, fmt.Errorf("%w: account inactive or locked", ErrUnauthenticated)
	}
	switch {
	case p.MustChangePassword:
		p.Restriction = PasswordChangeRequired
	case s.cfg.Policy.Expired(p.PasswordChangedAt, now):
		p.Restriction = PasswordExpired
	case s.requiresMFA(p.Role) && !p.MFAEnabled:
		p.Restriction = MFAEnrolmentRequired
	}
	return p, nil
}

// Refresh exchanges a refresh token for a new access token and a new refresh token. Each refresh
// token works once: presenting one that was already exchanged means it was copied, so the whole
// session (every token descending from that sign-in) is revoked and the event audited. It loads
// the token and its session under row locks, classifies them (classifyRefresh), writes what the
// outcome calls for and audits it, all in one transaction.
func (s *Service) Refresh(ctx context.Context, refreshToken string, c Client) (*Session, error) {
	if len(refreshToken) == 0 || len(refreshToken) > 128 {
		return nil, ErrInvalidRefresh
	}
	rh := hashToken(refreshToken)
	now := s.now()
	var ex refreshExchange
	// A reuse or an idle session is revoked even if its audit entry cannot be written (protectTx).
	err := s.protectTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if ex, err = s.exchangeRefresh(ctx, tx, rh, now); err != nil {
			return err
		}
		recordRefreshRevocation(a, ex.token.sessionID, ex.outcome)
		return nil
	})
	if ex.outcome.revokeReason() != "" {
		s.invalidate(ex.token.userID)
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: refresh: %w", err)
	}
	if ex.outcome != refreshOK {
		return nil, ErrInvalidRefresh
	}
	access, claims, err := s.tokens.IssueAccess(ex.user.ID, ex.token.sessionID)
	if err != nil {
		return nil, err
	}
	return &Session{SessionID: ex.token.sessionID, AccessToken: access, AccessExpires: claims.ExpiresAt.Time,
		RefreshToken: ex.refresh, User: ex.user}, nil
}

// refreshExchange is what one refresh found and did.
type refreshExchange struct {
	token   refreshRow
	outcome refreshOutcome
	user    User   // the session's user, for refreshOK
	refresh string // the new refresh token, for refreshOK
}

// exchangeRefresh loads the refresh token rh and its session, classifies them and writes what
// the outcome calls for, in tx: a revocation, or the exchange of rh for a new token.
func (s *Service) exchangeRefresh(ctx context.Context, tx pgx.Tx, rh []byte, now time.Time) (refreshExchange, error) {
	var ex refreshExchange
	tok, sess, err := loadRefresh(ctx, tx, rh)
	if err != nil {
		return ex, err
	}
	ex.token = tok
	ex.outcome = classifyRefresh(tok, sess, now, s.cfg.IdleTimeout)
	if reason := ex.outcome.revokeReason(); reason != "" {
		_, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1", tok.sessionID, now, reason)
		return ex, err
	}
	if ex.outcome != refreshOK {
		return ex, nil
	}
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL`, tok.userID))
	found := !errors.Is(err, pgx.ErrNoRows)
	if err != nil && found {
		return ex, err
	}
	if ex.outcome = classifyRefreshUser(found, u); ex.outcome != refreshOK {
		return ex, nil
	}
	ex.user = u
	var nh []byte
	if ex.refresh, nh, err = randomToken(); err != nil {
		return ex, err
	}
	return ex, rotateRefresh(ctx, tx, rh, nh, tok.sessionID, now)
}

// loadRefresh reads refresh token rh and its session, both locked for update; a zero refreshRow
// (found false) is an unknown token.
func loadRefresh(ctx context.Context, tx pgx.Tx, rh []byte) (refreshRow, sessionRow, error) {
	var sessionID, userID uuid.UUID
	var tok refreshRow
	var sess sessionRow
	err := tx.QueryRow(ctx, `SELECT r.session_id, r.used_at, s.user_id, s.revoked_at, s.expires_at, s.last_used_at
		FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
		WHERE r.token_hash = $1 FOR UPDATE OF r, s`, rh).Scan(&sessionID, &tok.usedAt, &userID, &sess.revokedAt, &sess.expiresAt, &sess.lastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return refreshRow{}, sessionRow{}, nil
	}
	if err != nil {
		return refreshRow{}, sessionRow{}, err
	}
	tok.found, tok.sessionID, tok.userID = true, sessionID.String(), userID.String()
	return tok, sess, nil
}

// rotateRefresh marks refresh token rh used, issues its successor nh in the same session and
// notes the session's use.
func rotateRefresh(ctx context.Context, tx pgx.Tx, rh, nh []byte, sessionID string, now time.Time) error {
	if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", rh, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)", nh, sessionID, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE sessions SET last_used_at = $2 WHERE id = $1", sessionID, now)
	return err
}

// recordRefreshRevocation audits what a refresh found wrong (refreshEvent), in its transaction.
func recordRefreshRevocation(a recorder, sid string, o refreshOutcome) {
	if e, ok := refreshEvent(sid, o); ok {
		a.record(e.actor, e.action, e.target, e.details)
	}
}

// Logout ends the caller's session (its refresh token family) and revokes the access token
// itself until it would have expired, even if its audit entry cannot be written (protectTx).
func (s *Service) Logout(ctx context.Context, p *Principal, c Client) error {
	err := s.protectTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if _, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $2, revoked_reason = 'logout' WHERE id = $1 AND revoked_at IS NULL", p.SessionID, s.now()); err != nil {
			return err
		}
		if err := revokeToken(ctx, tx, p.TokenID, p.TokenExpires); err != nil {
			return err
		}
		a.record(p.ID, "auth.logout", "session:"+p.SessionID, nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounts: logout: %w", err)
	}
	s.cache.revoke(p.TokenID, p.TokenExpires)
	s.invalidate(p.ID)
	return nil
}

func revokeToken(ctx context.Context, tx pgx.Tx, jti string, expires time.Time) error {
	_, err := tx.Exec(ctx, "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING", jti, expires)
	return err
}

// SessionInfo describes a session to its owner.
type SessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

// Sessions lists the caller's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, p *Principal) ([]SessionInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, last_used_at, expires_at, ip, user_agent FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 200`, p.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("accounts: sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SessionInfo, error) {
		var si SessionInfo
		var id uuid.UUID
		err := row.Scan(&id, &si.CreatedAt, &si.LastUsedAt, &si.ExpiresAt, &si.IP, &si.UserAgent)
		si.ID = id.String()
		si.Current = si.ID == p.SessionID
		return si, err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: sessions: %w", err)
	}
	return out, nil
}

// RevokeSession ends one of the caller's own sessions, even if its audit entry cannot be written
// (protectTx). Another user's session is "not found".
func (s *Service) RevokeSession(ctx context.Context, p *Principal, id string, c Client) error {
	sid, err := uuid.Parse(id)
	if err != nil {
		return ErrNotFound
	}
	var n int64
	err = s.protectTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $3, revoked_reason = 'revoked_by_user'
			WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, sid, p.ID, s.now())
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		if sid.String() == p.SessionID {
			if err := revokeToken(ctx, tx, p.TokenID, p.TokenExpires); err != nil {
				return err
			}
		}
		a.record(p.ID, "auth.session.revoked", "session:"+sid.String(), map[string]any{"reason": "revoked_by_user"})
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounts: revoking a session: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	s.invalidate(p.ID)
	return nil
}

// revokeSessions ends every session of a user except keep ("" for all), in tx.
func revokeSessions(ctx context.Context, tx pgx.Tx, userID, keep, reason string, now time.Time) (int64, error) {
	q := "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL"
	args := []any{userID, now, reason}
	if keep != "" {
		q += " AND id <> $4"
		args = append(args, keep)
	}
	tag, err := tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// Cleanup deletes what can no longer matter: revoked access token ids past their expiry,
// sessions ended or expired longer than a refresh lifetime ago (their refresh tokens with them),
// expired MFA challenges and old unlocked failure counters. Run it periodically on any replica.
func (s *Service) Cleanup(ctx context.Context) (int64, error) {
	now := s.now()
	total, err := s.st.CleanupAccounts(ctx, store.AccountsCleanup{Now: now, SessionsEndedBefore: now.Add(-s.cfg.RefreshTTL),
		FailuresBefore: now.Add(-lockoutMemory)})
	if err != nil {
		return total, fmt.Errorf("accounts: cleanup: %w", err)
	}
	return total, nil
}

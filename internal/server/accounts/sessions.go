package accounts

import (
	"context"
	"crypto/subtle"
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
		u, sp, ok, err := s.st.Principal(ctx, uid, sid, claims.ID, now)
		switch {
		case err != nil:
			return nil, fmt.Errorf("accounts: authenticate: %w", err)
		case !ok:
			return nil, fmt.Errorf("%w: no such user or session", ErrUnauthenticated)
		case !sp.Live || sp.Revoked:
			return nil, fmt.Errorf("%w: session ended or token revoked", ErrUnauthenticated)
		}
		p.User, p.csrfHash = User(u), sp.CSRFHash
		s.cache.put(p.SessionID, cachedPrincipal{user: p.User, csrfHash: p.csrfHash, sessionExpires: sp.ExpiresAt, fetched: now}, st)
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
	db := s.st.On(tx)
	tok, sess, err := loadRefresh(ctx, db, rh)
	if err != nil {
		return ex, err
	}
	ex.token = tok
	ex.outcome = classifyRefresh(tok, sess, now, s.cfg.IdleTimeout)
	if reason := ex.outcome.revokeReason(); reason != "" {
		// The session is locked and was live (classifyRefresh): it ends here.
		_, err := db.RevokeSession(ctx, tok.sessionID, reason, now)
		return ex, err
	}
	if ex.outcome != refreshOK {
		return ex, nil
	}
	u, found, err := db.UserByID(ctx, tok.userID)
	if err != nil {
		return ex, err
	}
	if ex.outcome = classifyRefreshUser(found, User(u)); ex.outcome != refreshOK {
		return ex, nil
	}
	ex.user = User(u)
	var nh []byte
	if ex.refresh, nh, err = randomToken(); err != nil {
		return ex, err
	}
	return ex, db.RotateRefreshToken(ctx, rh, nh, tok.sessionID, now)
}

// loadRefresh reads refresh token rh and its session, both locked for update; a zero refreshRow
// (found false) is an unknown token.
func loadRefresh(ctx context.Context, db *store.Store, rh []byte) (refreshRow, sessionRow, error) {
	t, ok, err := db.LockRefreshToken(ctx, rh)
	if err != nil || !ok {
		return refreshRow{}, sessionRow{}, err
	}
	return refreshRow{found: true, sessionID: t.SessionID, userID: t.UserID, usedAt: t.UsedAt},
		sessionRow{revokedAt: t.RevokedAt, expiresAt: t.ExpiresAt, lastUsedAt: t.LastUsedAt}, nil
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
		db := s.st.On(tx)
		if _, err := db.RevokeSession(ctx, p.SessionID, "logout", s.now()); err != nil {
			return err
		}
		if err := db.RevokeAccessToken(ctx, p.TokenID, p.TokenExpires); err != nil {
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
	rows, err := s.st.LiveSessions(ctx, p.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("accounts: sessions: %w", err)
	}
	out := make([]SessionInfo, len(rows))
	for i, r := range rows {
		out[i] = SessionInfo{ID: r.ID, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, ExpiresAt: r.ExpiresAt, IP: r.IP,
			UserAgent: r.UserAgent, Current: r.ID == p.SessionID}
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
	var revoked bool
	err = s.protectTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		db := s.st.On(tx)
		var err error
		if revoked, err = db.RevokeUserSession(ctx, sid.String(), p.ID, "revoked_by_user", s.now()); err != nil || !revoked {
			return err
		}
		if sid.String() == p.SessionID {
			if err := db.RevokeAccessToken(ctx, p.TokenID, p.TokenExpires); err != nil {
				return err
			}
		}
		a.record(p.ID, "auth.session.revoked", "session:"+sid.String(), map[string]any{"reason": "revoked_by_user"})
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounts: revoking a session: %w", err)
	}
	if !revoked {
		return ErrNotFound
	}
	s.invalidate(p.ID)
	return nil
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

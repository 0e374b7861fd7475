package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Sessions (refresh token families), their refresh tokens and the revoked access token ids
// (sessions, refresh_tokens, revoked_tokens). Tokens are kept as their SHA-256 only: the table
// holds nothing that can be presented.

// NewSession is a session to create; it starts (and was last used) at At.
type NewSession struct {
	ID, UserID    string
	At, ExpiresAt time.Time
	CSRFHash      []byte
	IP, UserAgent string
}

// CreateSession inserts the session n and its first refresh token, refreshHash.
func (s *Store) CreateSession(ctx context.Context, n NewSession, refreshHash []byte) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, csrf_hash, ip, user_agent)
		VALUES ($1, $2, $3, $3, $4, $5, $6, $7)`, n.ID, n.UserID, n.At, n.ExpiresAt, n.CSRFHash, n.IP, n.UserAgent); err != nil {
		return err
	}
	return s.addRefreshToken(ctx, refreshHash, n.ID, n.At)
}

func (s *Store) addRefreshToken(ctx context.Context, hash []byte, sessionID string, at time.Time) error {
	_, err := s.db.Exec(ctx, "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)", hash, sessionID, at)
	return err
}

// SessionPrincipal is what authenticating an access token reads besides its user.
type SessionPrincipal struct {
	CSRFHash  []byte
	ExpiresAt time.Time
	// Live: the session is neither revoked nor expired at the time asked; Revoked: the access
	// token's id is revoked.
	Live, Revoked bool
}

// Principal returns user userID (not deleted) with its session sessionID and whether the access
// token jti is revoked, as of now; ok is false when there is no such user or session of theirs.
func (s *Store) Principal(ctx context.Context, userID, sessionID uuid.UUID, jti string, now time.Time) (User, SessionPrincipal, bool, error) {
	var p SessionPrincipal
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumnsOf("u.")+`, s.csrf_hash, s.expires_at,
			s.revoked_at IS NULL AND s.expires_at > $3,
			EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $4)
		FROM users u JOIN sessions s ON s.id = $2 AND s.user_id = u.id
		WHERE u.id = $1 AND u.deleted_at IS NULL`, userID, sessionID, now, jti), &p.CSRFHash, &p.ExpiresAt, &p.Live, &p.Revoked)
	ok, err := found(err)
	return u, p, ok, err
}

// RefreshToken is a refresh token with its session.
type RefreshToken struct {
	SessionID, UserID     string
	UsedAt                *time.Time // set once the token was exchanged
	RevokedAt             *time.Time // the session's
	ExpiresAt, LastUsedAt time.Time  // the session's
}

// LockRefreshToken returns the refresh token hash and its session, both locked (FOR UPDATE)
// until the end of the transaction the store runs on (On); ok is false when there is none.
func (s *Store) LockRefreshToken(ctx context.Context, hash []byte) (RefreshToken, bool, error) {
	var sessionID, userID uuid.UUID
	var t RefreshToken
	err := s.db.QueryRow(ctx, `SELECT r.session_id, r.used_at, s.user_id, s.revoked_at, s.expires_at, s.last_used_at
		FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
		WHERE r.token_hash = $1 FOR UPDATE OF r, s`, hash).Scan(&sessionID, &t.UsedAt, &userID, &t.RevokedAt, &t.ExpiresAt, &t.LastUsedAt)
	if ok, err := found(err); !ok {
		return RefreshToken{}, false, err
	}
	t.SessionID, t.UserID = sessionID.String(), userID.String()
	return t, true, nil
}

// RotateRefreshToken marks refresh token old used at now, issues its successor fresh in the same
// session and notes the session's use.
func (s *Store) RotateRefreshToken(ctx context.Context, old, fresh []byte, sessionID string, now time.Time) error {
	if _, err := s.db.Exec(ctx, "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", old, now); err != nil {
		return err
	}
	if err := s.addRefreshToken(ctx, fresh, sessionID, now); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, "UPDATE sessions SET last_used_at = $2 WHERE id = $1", sessionID, now)
	return err
}

// RevokeSession ends session id, if it has not ended, at now for reason, and says whether it did.
func (s *Store) RevokeSession(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	tag, err := s.db.Exec(ctx, "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL", id, now, reason)
	return tag.RowsAffected() > 0, err
}

// RevokeUserSession is RevokeSession for a session of userID only.
func (s *Store) RevokeUserSession(ctx context.Context, id, userID, reason string, now time.Time) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = $3, revoked_reason = $4
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID, now, reason)
	return tag.RowsAffected() > 0, err
}

// RevokeUserSessions ends every live session of the user except keep ("" for all), at now for
// reason, and says how many it ended.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, keep, reason string, now time.Time) (int64, error) {
	q := "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL"
	args := []any{userID, now, reason}
	if keep != "" {
		q += " AND id <> $4"
		args = append(args, keep)
	}
	tag, err := s.db.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// RevokeAccessToken revokes the access token jti until it expires.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expires time.Time) error {
	_, err := s.db.Exec(ctx, "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING", jti, expires)
	return err
}

// Session is a live session as its owner sees it.
type Session struct {
	ID                               string
	CreatedAt, LastUsedAt, ExpiresAt time.Time
	IP, UserAgent                    string
}

// LiveSessions returns the user's sessions neither revoked nor expired at now, newest first (at
// most 200).
func (s *Store) LiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	rows, err := s.db.Query(ctx, `SELECT id, created_at, last_used_at, expires_at, ip, user_agent FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 200`, userID, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Session, error) {
		var si Session
		var id uuid.UUID
		err := row.Scan(&id, &si.CreatedAt, &si.LastUsedAt, &si.ExpiresAt, &si.IP, &si.UserAgent)
		si.ID = id.String()
		return si, err
	})
}

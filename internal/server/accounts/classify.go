package accounts

import "time"

// The security decisions of the account flows are pure functions of what the flow loaded, with
// no I/O and no clock of their own, so each is table-tested alone (classify_test.go): refresh
// here, sign-in, lockout and the second step in classify_signin.go, registration and password
// changes in classify_users.go. A flow loads its rows, classifies them, writes what the outcome
// calls for, and audits it.

// refreshRow is a refresh token as Refresh loads it; found is false for an unknown token.
type refreshRow struct {
	found             bool
	sessionID, userID string
	usedAt            *time.Time // set once the token was exchanged
}

// sessionRow is the session (refresh token family) a refresh token belongs to.
type sessionRow struct {
	revokedAt             *time.Time
	expiresAt, lastUsedAt time.Time
}

// refreshOutcome is what a presented refresh token leads to.
type refreshOutcome int

const (
	// refreshOK: exchange the token for a new one.
	refreshOK refreshOutcome = iota
	// refreshUnknown: no such token.
	refreshUnknown
	// refreshReuse: the token was already exchanged, so it was copied: revoke its session (the
	// whole family) and audit the reuse.
	refreshReuse
	// refreshReuseRevoked: a reuse in a session that has already ended: audit it, nothing to revoke.
	refreshReuseRevoked
	// refreshRevoked: the session was ended (logout, password change, administrator...).
	refreshRevoked
	// refreshExpired: the session is past its absolute lifetime.
	refreshExpired
	// refreshIdle: the session was not used for longer than the idle timeout: revoke it.
	refreshIdle
	// refreshAccountRefused: the token is good but its user is deleted, inactive or locked.
	refreshAccountRefused
)

var refreshOutcomeNames = [...]string{"ok", "unknown", "reuse", "reuse_revoked", "revoked", "expired", "idle", "account_refused"}

func (o refreshOutcome) String() string { return refreshOutcomeNames[o] }

// revokeReason is the revoked_reason this outcome ends its session with ("" for none).
func (o refreshOutcome) revokeReason() string {
	switch o {
	case refreshReuse:
		return "refresh_token_reuse"
	case refreshIdle:
		return "idle_timeout"
	}
	return ""
}

// classifyRefresh decides a refresh from its token and session. A reuse is reported before
// anything else, even in an ended or expired session: a copied token is worth an audit entry
// whatever state its family is in. A session expires at expiresAt itself; it is idle once
// strictly more than idle has passed since its last use.
func classifyRefresh(tok refreshRow, sess sessionRow, now time.Time, idle time.Duration) refreshOutcome {
	switch {
	case !tok.found:
		return refreshUnknown
	case tok.usedAt != nil && sess.revokedAt == nil:
		return refreshReuse
	case tok.usedAt != nil:
		return refreshReuseRevoked
	case sess.revokedAt != nil:
		return refreshRevoked
	case !sess.expiresAt.After(now):
		return refreshExpired
	case now.Sub(sess.lastUsedAt) > idle:
		return refreshIdle
	}
	return refreshOK
}

// classifyRefreshUser decides, for a refresh classifyRefresh found good, whether the session's
// user (found false: deleted) may still have tokens.
func classifyRefreshUser(found bool, u User) refreshOutcome {
	if !found || !u.canSignIn() {
		return refreshAccountRefused
	}
	return refreshOK
}

// canSignIn reports whether an account may hold a session: active and not locked by an
// administrator.
func (u User) canSignIn() bool { return u.IsActive && !u.IsLocked }

// auditEntry is an audit event a decision calls for.
type auditEntry struct {
	actor, action, target string
	details               map[string]any
}

// refreshEvent is the audit entry of a refresh outcome, if it calls for one: a reused token
// (and whether that revoked the session), or a session revoked for idleness. An ordinary
// refresh, or a refusal that changes nothing, is not audited.
func refreshEvent(sid string, o refreshOutcome) (auditEntry, bool) {
	switch o {
	case refreshReuse, refreshReuseRevoked:
		return auditEntry{"anonymous", "auth.refresh.reuse_detected", "session:" + sid, map[string]any{"session_revoked": o.revokeReason() != ""}}, true
	case refreshIdle:
		return auditEntry{"system", "auth.session.revoked", "session:" + sid, map[string]any{"reason": o.revokeReason()}}, true
	}
	return auditEntry{}, false
}

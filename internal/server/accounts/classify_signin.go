package accounts

import (
	"time"

	"github.com/rsched/rsched/internal/backoff"
)

// The decisions of signing in: the password step, the lockout of a name, the second step.

// loginOutcome is what a sign-in with a name and password leads to, once the name is known not
// to be locked out (lockedOut, checked first and before any hashing).
type loginOutcome int

const (
	// loginOK: start a session.
	loginOK loginOutcome = iota
	// loginUnknownUser: no such account: count a failure against the name.
	loginUnknownUser
	// loginWrongPassword: count a failure against the name.
	loginWrongPassword
	// loginInactive: right password, deactivated account: refuse and audit.
	loginInactive
	// loginAdminLocked: right password, account locked by an administrator: refuse and audit.
	loginAdminLocked
	// loginMFAChallenge: right password, second factor enrolled: hand out a challenge.
	loginMFAChallenge
)

var loginOutcomeNames = [...]string{"ok", "unknown_user", "wrong_password", "inactive", "admin_locked", "mfa_challenge"}

func (o loginOutcome) String() string { return loginOutcomeNames[o] }

// loginDecision is a sign-in's outcome and whether it clears the name's failure count.
type loginDecision struct {
	outcome loginOutcome
	// clearFailures: the password was right and no second factor follows. With a second factor
	// the failures are cleared only once it is passed too: otherwise the password alone would
	// reset the count of wrong codes, and codes could be guessed forever. A refusal (inactive,
	// locked by an administrator) still clears them: the password was right.
	clearFailures bool
}

// classifyLogin decides a sign-in from the account found under the name (found false: none)
// and whether the password verified. The account's state is told only to a caller who gave the
// right password.
func classifyLogin(found bool, u User, passwordOK bool) loginDecision {
	switch {
	case !found:
		return loginDecision{outcome: loginUnknownUser}
	case !passwordOK:
		return loginDecision{outcome: loginWrongPassword}
	}
	d := loginDecision{clearFailures: !u.MFAEnabled}
	switch {
	case !u.IsActive:
		d.outcome = loginInactive
	case u.IsLocked:
		d.outcome = loginAdminLocked
	case u.MFAEnabled:
		d.outcome = loginMFAChallenge
	default:
		d.outcome = loginOK
	}
	return d
}

// lockedOut is the lockout in force on a name whose lock ends at until (nil: none), or nil.
func lockedOut(until *time.Time, now time.Time) *LockedError {
	if until != nil && until.After(now) {
		return &LockedError{RetryAfter: until.Sub(now)}
	}
	return nil
}

// failureRow is a name's failure counter (login_failures).
type failureRow struct {
	failures, lockouts int
	updatedAt          time.Time
	lockedUntil        *time.Time
}

// failureOutcome is what one more failed attempt does to a name.
type failureOutcome int

const (
	// failureCounted: one more failure, below the limit.
	failureCounted failureOutcome = iota
	// failureLockoutStarted: the failure reached the limit: the name is locked out.
	failureLockoutStarted
	// failureLockStands: the name was already locked out (a request that passed the lock check
	// before the lock began): the lock is never shortened or lifted by a late failure, and the
	// counter is not written.
	failureLockStands
)

var failureOutcomeNames = [...]string{"counted", "lockout_started", "lock_stands"}

func (o failureOutcome) String() string { return failureOutcomeNames[o] }

// failureDecision is the counter to write and the lockout to answer, if any.
type failureDecision struct {
	outcome failureOutcome
	next    failureRow
	locked  *LockedError
}

// countFailure counts one failure on row. Counts older than lockoutMemory are forgotten; the
// MaxFailedAttempts-th failure locks the name for LockoutDuration × 2^(earlier lockouts within
// lockoutMemory), at most MaxLockout, and starts a new count.
func countFailure(row failureRow, now time.Time, cfg Config) failureDecision {
	if l := lockedOut(row.lockedUntil, now); l != nil {
		return failureDecision{outcome: failureLockStands, next: row, locked: l}
	}
	failures, lockouts := row.failures, row.lockouts
	if now.Sub(row.updatedAt) > lockoutMemory {
		failures, lockouts = 0, 0
	}
	failures++
	if failures < cfg.MaxFailedAttempts {
		return failureDecision{outcome: failureCounted, next: failureRow{failures: failures, lockouts: lockouts, updatedAt: now}}
	}
	d := backoff.Exponential{Base: cfg.LockoutDuration, Max: cfg.MaxLockout}.After(lockouts + 1)
	until := now.Add(d)
	return failureDecision{outcome: failureLockoutStarted, next: failureRow{lockouts: lockouts + 1, updatedAt: now, lockedUntil: &until},
		locked: &LockedError{RetryAfter: d}}
}

// challengeRow is an MFA challenge as VerifyMFA loads it; found is false for an unknown one.
type challengeRow struct {
	found     bool
	userID    string
	expiresAt time.Time
	attempts  int
}

// live reports whether codes may still be tried against the challenge: it expires at expiresAt
// itself, and takes maxMFAAttempts wrong codes.
func (ch challengeRow) live(now time.Time) bool {
	return ch.expiresAt.After(now) && ch.attempts < maxMFAAttempts
}

// mfaFacts is what VerifyMFA decides on. They are loaded in the order classifyMFA looks at them,
// and loading stops at the first that decides: the user is read only for a live challenge, the
// lockout only for an existing user, and a code is checked (and consumed) only when nothing
// before it refused.
type mfaFacts struct {
	challenge  challengeRow
	userFound  bool
	user       User
	lockout    *LockedError
	codeOK     bool
	ofRecovery bool // the code checked was a recovery code
}

// mfaOutcome is what the second step of a sign-in leads to.
type mfaOutcome int

const (
	// mfaOK: delete the challenge, clear the name's failures, start a session.
	mfaOK mfaOutcome = iota
	// mfaUnknown: no such challenge: nothing to write.
	mfaUnknown
	// mfaSpent: the challenge expired or ran out of attempts: delete it.
	mfaSpent
	// mfaUserGone: the account was deleted since the password step: delete the challenge.
	mfaUserGone
	// mfaLockedOut: the account's name is locked out: answer the lockout, write nothing.
	mfaLockedOut
	// mfaWrongCode: a wrong code (or no second factor to check it against): count an attempt on
	// the challenge and a failure against the name, and audit it.
	mfaWrongCode
	// mfaAccountRefused: the right code, but the account was deactivated or locked by an
	// administrator since the password step: the challenge is used up, no session.
	mfaAccountRefused
)

var mfaOutcomeNames = [...]string{"ok", "unknown", "spent", "user_gone", "locked_out", "wrong_code", "account_refused"}

func (o mfaOutcome) String() string { return mfaOutcomeNames[o] }

// classifyMFA decides a second step from its facts.
func classifyMFA(f mfaFacts, now time.Time) mfaOutcome {
	switch {
	case !f.challenge.found:
		return mfaUnknown
	case !f.challenge.live(now):
		return mfaSpent
	case !f.userFound:
		return mfaUserGone
	case f.lockout != nil:
		return mfaLockedOut
	case !f.codeOK:
		return mfaWrongCode
	case !f.user.canSignIn():
		return mfaAccountRefused
	}
	return mfaOK
}

// challengeWrite is what an outcome does to its challenge row.
type challengeWrite int

const (
	challengeKept challengeWrite = iota
	challengeDeleted
	challengeAttemptCounted
)

// challengeWrite is what o does to the challenge: a decided challenge is deleted, a wrong code
// counts an attempt, and an unknown challenge or a locked-out name changes nothing.
func (o mfaOutcome) challengeWrite() challengeWrite {
	switch o {
	case mfaSpent, mfaUserGone, mfaAccountRefused, mfaOK:
		return challengeDeleted
	case mfaWrongCode:
		return challengeAttemptCounted
	}
	return challengeKept
}

package accounts

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/rbac"
)

var (
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	idle = 30 * time.Minute
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestClassifyRefresh(t *testing.T) {
	tok := refreshRow{found: true, sessionID: "s", userID: "u"}
	used := refreshRow{found: true, sessionID: "s", userID: "u", usedAt: at(-time.Minute)}
	live := sessionRow{expiresAt: t0.Add(time.Hour), lastUsedAt: t0.Add(-time.Minute)}
	revoked := live
	revoked.revokedAt = at(-time.Second)
	for _, tc := range []struct {
		name string
		tok  refreshRow
		sess sessionRow
		want refreshOutcome
	}{
		{"a fresh token in a live session is exchanged", tok, live, refreshOK},
		{"an unknown token is refused", refreshRow{}, sessionRow{}, refreshUnknown},
		{"a used token in a live session revokes the family", used, live, refreshReuse},
		{"a used token in an expired session still revokes the family", used, sessionRow{expiresAt: t0.Add(-time.Hour), lastUsedAt: t0.Add(-2 * time.Hour)}, refreshReuse},
		{"a used token in an ended session is audited only", used, revoked, refreshReuseRevoked},
		{"a fresh token in an ended session is refused", tok, revoked, refreshRevoked},
		{"an ended session is refused before its expiry is looked at", tok, sessionRow{revokedAt: at(-time.Hour), expiresAt: t0.Add(-time.Minute)}, refreshRevoked},
		{"a session past its lifetime is expired", tok, sessionRow{expiresAt: t0.Add(-time.Second), lastUsedAt: t0.Add(-time.Minute)}, refreshExpired},
		{"a session expires at its expiry time itself", tok, sessionRow{expiresAt: t0, lastUsedAt: t0.Add(-time.Minute)}, refreshExpired},
		{"an expired session is expired, not idle", tok, sessionRow{expiresAt: t0.Add(-time.Second), lastUsedAt: t0.Add(-2 * idle)}, refreshExpired},
		{"a session unused for longer than the idle timeout is revoked", tok, sessionRow{expiresAt: t0.Add(time.Hour), lastUsedAt: t0.Add(-idle - time.Nanosecond)}, refreshIdle},
		{"a session unused for exactly the idle timeout is still live", tok, sessionRow{expiresAt: t0.Add(time.Hour), lastUsedAt: t0.Add(-idle)}, refreshOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyRefresh(tc.tok, tc.sess, t0, idle); got != tc.want {
				t.Errorf("classifyRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRefreshOutcomeRevokesOnlyOnReuseAndIdleness(t *testing.T) {
	want := map[refreshOutcome]string{refreshReuse: "refresh_token_reuse", refreshIdle: "idle_timeout"}
	for o := refreshOK; o <= refreshAccountRefused; o++ {
		if got := o.revokeReason(); got != want[o] {
			t.Errorf("%v.revokeReason() = %q, want %q", o, got, want[o])
		}
	}
}

func TestClassifyRefreshUser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		found bool
		u     User
		want  refreshOutcome
	}{
		{"an active user keeps the session", true, User{IsActive: true}, refreshOK},
		{"a deleted user is refused", false, User{}, refreshAccountRefused},
		{"a deactivated user is refused", true, User{IsActive: false}, refreshAccountRefused},
		{"a user locked by an administrator is refused", true, User{IsActive: true, IsLocked: true}, refreshAccountRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyRefreshUser(tc.found, tc.u); got != tc.want {
				t.Errorf("classifyRefreshUser = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassifyLogin(t *testing.T) {
	active := User{ID: "u", IsActive: true}
	withMFA := User{ID: "u", IsActive: true, MFAEnabled: true}
	for _, tc := range []struct {
		name       string
		found      bool
		u          User
		passwordOK bool
		want       loginDecision
	}{
		{"the right password starts a session and clears the failures", true, active, true, loginDecision{loginOK, true}},
		{"an unknown name counts a failure", false, User{}, false, loginDecision{loginUnknownUser, false}},
		{"a wrong password counts a failure", true, active, false, loginDecision{loginWrongPassword, false}},
		{"a wrong password says nothing of an inactive account", true, User{ID: "u"}, false, loginDecision{loginWrongPassword, false}},
		{"a wrong password says nothing of an administrator's lock", true, User{ID: "u", IsActive: true, IsLocked: true}, false, loginDecision{loginWrongPassword, false}},
		{"the right password to an inactive account is refused and clears the failures", true, User{ID: "u"}, true, loginDecision{loginInactive, true}},
		{"inactive is told before locked", true, User{ID: "u", IsLocked: true}, true, loginDecision{loginInactive, true}},
		{"the right password to a locked account is refused", true, User{ID: "u", IsActive: true, IsLocked: true}, true, loginDecision{loginAdminLocked, true}},
		{"a refusal with a second factor keeps the failures", true, User{ID: "u", IsLocked: true, IsActive: true, MFAEnabled: true}, true, loginDecision{loginAdminLocked, false}},
		{"the right password with a second factor asks for it and keeps the failures", true, withMFA, true, loginDecision{loginMFAChallenge, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyLogin(tc.found, tc.u, tc.passwordOK); got != tc.want {
				t.Errorf("classifyLogin = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLockedOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		until *time.Time
		want  time.Duration // 0: not locked
	}{
		{"no lock", nil, 0},
		{"a lock in the past", at(-time.Second), 0},
		{"a lock that ends now is over", at(0), 0},
		{"a lock in force answers the time left", at(90 * time.Second), 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lockedOut(tc.until, t0)
			switch {
			case tc.want == 0 && got != nil:
				t.Errorf("lockedOut = %v, want none", got)
			case tc.want != 0 && (got == nil || got.RetryAfter != tc.want):
				t.Errorf("lockedOut = %v, want retry after %v", got, tc.want)
			}
		})
	}
}

func TestCountFailure(t *testing.T) {
	cfg := Config{MaxFailedAttempts: 3, LockoutDuration: time.Minute, MaxLockout: 5 * time.Minute}
	recent := t0.Add(-time.Hour)
	stale := t0.Add(-lockoutMemory - time.Second)
	for _, tc := range []struct {
		name    string
		row     failureRow
		want    failureOutcome
		next    failureRow
		retryIn time.Duration
	}{
		{"a first failure is counted", failureRow{updatedAt: t0}, failureCounted, failureRow{failures: 1, updatedAt: t0}, 0},
		{"a failure below the limit is counted and an old lock's end cleared", failureRow{failures: 1, lockouts: 1, updatedAt: recent, lockedUntil: at(-time.Minute)},
			failureCounted, failureRow{failures: 2, lockouts: 1, updatedAt: t0}, 0},
		{"the limit locks for the base duration", failureRow{failures: 2, updatedAt: recent},
			failureLockoutStarted, failureRow{lockouts: 1, updatedAt: t0, lockedUntil: at(time.Minute)}, time.Minute},
		{"each earlier lockout doubles the next", failureRow{failures: 2, lockouts: 2, updatedAt: recent},
			failureLockoutStarted, failureRow{lockouts: 3, updatedAt: t0, lockedUntil: at(4 * time.Minute)}, 4 * time.Minute},
		{"the doubling stops at the maximum", failureRow{failures: 2, lockouts: 10, updatedAt: recent},
			failureLockoutStarted, failureRow{lockouts: 11, updatedAt: t0, lockedUntil: at(5 * time.Minute)}, 5 * time.Minute},
		{"counts older than the lockout memory are forgotten", failureRow{failures: 2, lockouts: 4, updatedAt: stale},
			failureCounted, failureRow{failures: 1, updatedAt: t0}, 0},
		{"a late failure never shortens a lock in force", failureRow{failures: 0, lockouts: 1, updatedAt: recent, lockedUntil: at(30 * time.Second)},
			failureLockStands, failureRow{failures: 0, lockouts: 1, updatedAt: recent, lockedUntil: at(30 * time.Second)}, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := countFailure(tc.row, t0, cfg)
			if d.outcome != tc.want {
				t.Fatalf("outcome = %v, want %v", d.outcome, tc.want)
			}
			if !sameFailureRow(d.next, tc.next) {
				t.Errorf("next = %+v, want %+v", d.next, tc.next)
			}
			switch {
			case tc.retryIn == 0 && d.locked != nil:
				t.Errorf("locked = %v, want none", d.locked)
			case tc.retryIn != 0 && (d.locked == nil || d.locked.RetryAfter != tc.retryIn):
				t.Errorf("locked = %v, want retry after %v", d.locked, tc.retryIn)
			}
		})
	}
}

func sameFailureRow(a, b failureRow) bool {
	if (a.lockedUntil == nil) != (b.lockedUntil == nil) || (a.lockedUntil != nil && !a.lockedUntil.Equal(*b.lockedUntil)) {
		return false
	}
	return a.failures == b.failures && a.lockouts == b.lockouts && a.updatedAt.Equal(b.updatedAt)
}

func TestClassifyMFA(t *testing.T) {
	live := challengeRow{found: true, userID: "u", expiresAt: t0.Add(time.Minute)}
	user := User{ID: "u", Username: "ada", IsActive: true, MFAEnabled: true}
	for _, tc := range []struct {
		name  string
		facts mfaFacts
		want  mfaOutcome
		write challengeWrite
	}{
		{"the right code to a live challenge signs in", mfaFacts{challenge: live, userFound: true, user: user, codeOK: true}, mfaOK, challengeDeleted},
		{"an unknown challenge changes nothing", mfaFacts{}, mfaUnknown, challengeKept},
		{"an expired challenge is deleted", mfaFacts{challenge: challengeRow{found: true, expiresAt: t0.Add(-time.Second)}}, mfaSpent, challengeDeleted},
		{"a challenge expires at its expiry time itself", mfaFacts{challenge: challengeRow{found: true, expiresAt: t0}}, mfaSpent, challengeDeleted},
		{"a challenge out of attempts is deleted", mfaFacts{challenge: challengeRow{found: true, expiresAt: t0.Add(time.Minute), attempts: maxMFAAttempts}}, mfaSpent, challengeDeleted},
		{"the last attempt is still tried", mfaFacts{challenge: challengeRow{found: true, expiresAt: t0.Add(time.Minute), attempts: maxMFAAttempts - 1}, userFound: true, user: user, codeOK: true}, mfaOK, challengeDeleted},
		{"a deleted account's challenge is deleted", mfaFacts{challenge: live}, mfaUserGone, challengeDeleted},
		{"a locked-out name is answered with the lockout and changes nothing", mfaFacts{challenge: live, userFound: true, user: user, lockout: &LockedError{RetryAfter: time.Minute}}, mfaLockedOut, challengeKept},
		{"a wrong code counts an attempt", mfaFacts{challenge: live, userFound: true, user: user}, mfaWrongCode, challengeAttemptCounted},
		{"a wrong code says nothing of a deactivated account", mfaFacts{challenge: live, userFound: true, user: User{ID: "u", MFAEnabled: true}}, mfaWrongCode, challengeAttemptCounted},
		{"the right code to a deactivated account is refused and used up", mfaFacts{challenge: live, userFound: true, user: User{ID: "u", MFAEnabled: true}, codeOK: true}, mfaAccountRefused, challengeDeleted},
		{"the right code to an account locked by an administrator is refused", mfaFacts{challenge: live, userFound: true, user: User{ID: "u", IsActive: true, IsLocked: true}, codeOK: true}, mfaAccountRefused, challengeDeleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyMFA(tc.facts, t0)
			if got != tc.want {
				t.Fatalf("classifyMFA = %v, want %v", got, tc.want)
			}
			if w := got.challengeWrite(); w != tc.write {
				t.Errorf("challengeWrite = %v, want %v", w, tc.write)
			}
		})
	}
}

func TestClassifyRegistration(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		callerIsAdmin, usersIn bool
		want                   registration
	}{
		{"the first user of an empty database is the bootstrap admin", false, false, registerBootstrap},
		{"an administrator on an empty database is still the bootstrap", true, false, registerBootstrap},
		{"an administrator creates users afterwards", true, true, registerByAdmin},
		{"anyone else is refused afterwards", false, true, registerRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyRegistration(tc.callerIsAdmin, tc.usersIn); got != tc.want {
				t.Errorf("classifyRegistration = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassifyInitialPassword(t *testing.T) {
	for _, tc := range []struct {
		name     string
		given    string
		signedIn bool
		want     initialPassword
	}{
		{"a given password is used", "correct horse", false, passwordGiven},
		{"a given password is used by a signed-in caller too", "correct horse", true, passwordGiven},
		{"none from a signed-in caller generates a temporary one", "", true, passwordGenerated},
		{"none from an unauthenticated registration is refused", "", false, passwordMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyInitialPassword(tc.given, tc.signedIn); got != tc.want {
				t.Errorf("classifyInitialPassword = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassifyPasswordChange(t *testing.T) {
	policy := errors.New("too short")
	history := errors.New("used recently")
	for _, tc := range []struct {
		name  string
		facts passwordChangeFacts
		want  passwordChangeOutcome
	}{
		{"a right current password and an acceptable new one change it", passwordChangeFacts{currentOK: true}, passwordChanged},
		{"a wrong current password is refused first", passwordChangeFacts{policy: policy, sameAsCurrent: true, history: history}, passwordWrongCurrent},
		{"the policy is checked next", passwordChangeFacts{currentOK: true, policy: policy, sameAsCurrent: true, history: history}, passwordRejectedByPolicy},
		{"the current password cannot be the new one", passwordChangeFacts{currentOK: true, sameAsCurrent: true, history: history}, passwordSameAsCurrent},
		{"a recent password cannot be the new one", passwordChangeFacts{currentOK: true, history: history}, passwordReused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyPasswordChange(tc.facts); got != tc.want {
				t.Errorf("classifyPasswordChange = %v, want %v", got, tc.want)
			}
		})
	}
}

// Every outcome has a name: the String methods index arrays, so a new outcome without one would
// panic in a log line.
func TestOutcomesHaveNames(t *testing.T) {
	for _, tc := range []struct {
		kind        string
		names, last int
	}{
		{"refresh", len(refreshOutcomeNames), int(refreshAccountRefused)},
		{"login", len(loginOutcomeNames), int(loginMFAChallenge)},
		{"failure", len(failureOutcomeNames), int(failureLockStands)},
		{"mfa", len(mfaOutcomeNames), int(mfaAccountRefused)},
		{"registration", len(registrationNames), int(registerRefused)},
		{"initial password", len(initialPasswordNames), int(passwordMissing)},
		{"password change", len(passwordChangeOutcomeNames), int(passwordReused)},
	} {
		if tc.names != tc.last+1 {
			t.Errorf("%s outcomes: %d names for %d outcomes", tc.kind, tc.names, tc.last+1)
		}
	}
}

func TestRefreshAuditsReuseAndIdlenessOnly(t *testing.T) {
	want := map[refreshOutcome]auditEntry{
		refreshReuse:        {"anonymous", "auth.refresh.reuse_detected", "session:s", map[string]any{"session_revoked": true}},
		refreshReuseRevoked: {"anonymous", "auth.refresh.reuse_detected", "session:s", map[string]any{"session_revoked": false}},
		refreshIdle:         {"system", "auth.session.revoked", "session:s", map[string]any{"reason": "idle_timeout"}},
	}
	for o := refreshOK; o <= refreshAccountRefused; o++ {
		got, ok := refreshEvent("s", o)
		w, audited := want[o]
		if ok != audited || !reflect.DeepEqual(got, w) {
			t.Errorf("refreshEvent(%v) = %+v, %v; want %+v, %v", o, got, ok, w, audited)
		}
	}
}

func TestClassifyUserUpdate(t *testing.T) {
	admin := User{Role: rbac.Admin, IsActive: true}
	coordinator := User{Role: rbac.Coordinator, IsActive: true}
	for _, tc := range []struct {
		name   string
		before User
		up     UserUpdate
		want   userUpdateDecision
	}{
		{"an e-mail change changes no standing", admin, UserUpdate{Email: ptr("a@example.org")}, userUpdateDecision{}},
		{"demoting an admin takes an admin out", admin, UserUpdate{Role: ptr(rbac.Coordinator)}, userUpdateDecision{takesAdminOut: true}},
		{"an admin kept admin is not taken out", admin, UserUpdate{Role: ptr(rbac.Admin)}, userUpdateDecision{}},
		{"deactivating an admin takes an admin out", admin, UserUpdate{IsActive: ptr(false)}, userUpdateDecision{deactivates: true, takesAdminOut: true}},
		{"deactivating a coordinator takes no admin out", coordinator, UserUpdate{IsActive: ptr(false)}, userUpdateDecision{deactivates: true}},
		{"promoting a coordinator takes no admin out", coordinator, UserUpdate{Role: ptr(rbac.Admin)}, userUpdateDecision{}},
		{"deactivating an inactive account deactivates nothing", User{Role: rbac.Admin}, UserUpdate{IsActive: ptr(false)}, userUpdateDecision{}},
		{"demoting an inactive admin still counts as taking one out", User{Role: rbac.Admin}, UserUpdate{Role: ptr(rbac.Resident)}, userUpdateDecision{takesAdminOut: true}},
		{"reactivating changes no standing", User{Role: rbac.Admin}, UserUpdate{IsActive: ptr(true)}, userUpdateDecision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyUserUpdate(tc.before, tc.up); got != tc.want {
				t.Errorf("classifyUserUpdate = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

package accounts

import "github.com/rsched/rsched/internal/server/rbac"

// The decisions of creating an account, changing a password, and an administrator's change to
// an account.

// registration is who a new account is created by.
type registration int

const (
	// registerByAdmin: an administrator creates a user with the role asked for.
	registerByAdmin registration = iota
	// registerBootstrap: the first user of an empty database, who becomes admin whatever role
	// was asked for.
	registerBootstrap
	// registerRefused: users exist and the caller is not an administrator.
	registerRefused
)

var registrationNames = [...]string{"by_admin", "bootstrap", "refused"}

func (r registration) String() string { return registrationNames[r] }

// classifyRegistration decides who may create an account: anyone on an empty database (the
// bootstrap), afterwards only an administrator.
func classifyRegistration(callerIsAdmin, usersExist bool) registration {
	switch {
	case !usersExist:
		return registerBootstrap
	case callerIsAdmin:
		return registerByAdmin
	}
	return registerRefused
}

// initialPassword is where a new account's password comes from.
type initialPassword int

const (
	// passwordGiven: the request's password, checked against the policy.
	passwordGiven initialPassword = iota
	// passwordGenerated: none given by a signed-in caller: a temporary one, to be changed at
	// first sign-in.
	passwordGenerated
	// passwordMissing: none given by an unauthenticated registration: refused.
	passwordMissing
)

var initialPasswordNames = [...]string{"given", "generated", "missing"}

func (p initialPassword) String() string { return initialPasswordNames[p] }

// classifyInitialPassword decides a new account's password source.
func classifyInitialPassword(given string, signedIn bool) initialPassword {
	switch {
	case given != "":
		return passwordGiven
	case signedIn:
		return passwordGenerated
	}
	return passwordMissing
}

// passwordChangeFacts is what ChangePassword decides on, loaded in classifyPasswordChange's
// order and no further than the first that refuses (each costs a password hash or more).
type passwordChangeFacts struct {
	currentOK     bool
	policy        error // the policy's verdict on the new password
	sameAsCurrent bool
	history       error // the history's verdict on the new password
}

// passwordChangeOutcome is what a password change leads to.
type passwordChangeOutcome int

const (
	// passwordChanged: store the new password, end the other sessions, audit.
	passwordChanged passwordChangeOutcome = iota
	// passwordWrongCurrent: count a failure against the name, audit, refuse (400).
	passwordWrongCurrent
	// passwordRejectedByPolicy: the new password breaks the policy (422).
	passwordRejectedByPolicy
	// passwordSameAsCurrent: the new password is the current one (422).
	passwordSameAsCurrent
	// passwordReused: the new password is one of the recent ones (422).
	passwordReused
)

var passwordChangeOutcomeNames = [...]string{"changed", "wrong_current", "policy", "same_as_current", "reused"}

func (o passwordChangeOutcome) String() string { return passwordChangeOutcomeNames[o] }

// classifyPasswordChange decides a password change: the current password first (nothing about
// the new one is told to a caller who does not know it), then the policy, then the current and
// recent passwords.
func classifyPasswordChange(f passwordChangeFacts) passwordChangeOutcome {
	switch {
	case !f.currentOK:
		return passwordWrongCurrent
	case f.policy != nil:
		return passwordRejectedByPolicy
	case f.sameAsCurrent:
		return passwordSameAsCurrent
	case f.history != nil:
		return passwordReused
	}
	return passwordChanged
}

// userUpdateDecision is what an administrator's change does to an account's standing.
type userUpdateDecision struct {
	// deactivates: an active account is deactivated (its sessions end, as they do on a role
	// change).
	deactivates bool
	// takesAdminOut: an administrator is demoted or deactivated, which is refused if they are
	// the last active one.
	takesAdminOut bool
}

// classifyUserUpdate decides what up does to the account before.
func classifyUserUpdate(before User, up UserUpdate) userUpdateDecision {
	isAdmin := before.Role == rbac.Admin
	demotes := isAdmin && up.Role != nil && *up.Role != rbac.Admin
	d := userUpdateDecision{deactivates: up.IsActive != nil && !*up.IsActive && before.IsActive}
	d.takesAdminOut = isAdmin && (demotes || d.deactivates)
	return d
}

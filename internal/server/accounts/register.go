package accounts

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/store"
)

// Registration: the first user's bootstrap and an administrator's create.

// NewUser is a registration or an administrator's create request.
type NewUser struct {
	Username string
	Email    string
	// Password is the user's password; empty (admin create only) generates a temporary one that
	// is returned once and must be changed at first sign-in.
	Password string
	Role     rbac.Role
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,50}$`)

// validate checks a new user's fields and returns them normalised.
func (n NewUser) validate() (NewUser, error) {
	n.Username = strings.TrimSpace(n.Username)
	n.Email = strings.TrimSpace(n.Email)
	if !usernamePattern.MatchString(n.Username) {
		return n, &InvalidError{Reason: "username must be 3 to 50 letters, digits, '.', '_' or '-'"}
	}
	if err := ValidEmail(n.Email); err != nil {
		return n, err
	}
	if n.Role == "" {
		n.Role = rbac.Coordinator
	}
	if !n.Role.Valid() {
		return n, &InvalidError{Reason: fmt.Sprintf("role %q is not one of admin, coordinator, faculty, resident, clinical_staff, rn, lpn, msa", truncate(string(n.Role), 32))}
	}
	return n, nil
}

// Register creates a user. On an empty database the first registration becomes admin whatever
// role it asked for (the bootstrap); afterwards only an administrator may create users
// (classifyRegistration). caller is nil for an unauthenticated request. temporary is the
// generated password when none was given (classifyInitialPassword).
func (s *Service) Register(ctx context.Context, caller *Principal, n NewUser, c Client) (u User, temporary string, err error) {
	byAdmin := caller != nil && caller.Role == rbac.Admin
	if !byAdmin {
		// Who may register is decided before what they sent is examined (the transaction below
		// decides again, under the bootstrap lock). An administrator needs no look.
		if err := s.mayRegister(ctx); err != nil {
			return User{}, "", err
		}
	}
	if n, err = n.validate(); err != nil {
		return User{}, "", err
	}
	generated := false
	if n.Password, generated, err = s.initialPassword(n, caller != nil); err != nil {
		return User{}, "", err
	}
	if generated {
		temporary = n.Password
	}
	// Hash before taking the lock: it is the slow part.
	hash, err := s.hasher.Hash(n.Password)
	if err != nil {
		return User{}, "", err
	}
	id := uuid.NewString()
	actor := id
	if caller != nil {
		actor = caller.ID
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var reg registration
		if u, reg, err = s.insertUser(ctx, tx, id, n, hash, generated, byAdmin); err != nil {
			return err
		}
		a.record(actor, "user.created", userTarget(id), map[string]any{"username": u.Username, "email": u.Email,
			"role": u.Role, "bootstrap_admin": reg == registerBootstrap, "initial_change_required": generated})
		return nil
	})
	if err != nil {
		return User{}, "", err
	}
	return u, temporary, nil
}

// mayRegister refuses a registration by anyone but an administrator once users exist.
func (s *Service) mayRegister(ctx context.Context) error {
	exists, err := s.st.AnyUsers(ctx)
	if err != nil {
		return fmt.Errorf("accounts: register: %w", err)
	}
	if classifyRegistration(false, exists) == registerRefused {
		return ErrAdminRequired
	}
	return nil
}

// initialPassword is a new account's password: the one given (checked against the policy) or a
// generated temporary one (generated true).
func (s *Service) initialPassword(n NewUser, signedIn bool) (password string, generated bool, err error) {
	switch classifyInitialPassword(n.Password, signedIn) {
	case passwordMissing:
		return "", false, &InvalidError{Reason: "password is required"}
	case passwordGenerated:
		p, err := temporaryPassword()
		return p, true, err
	}
	return n.Password, false, s.cfg.Policy.Check(n.Password, n.Username, n.Email)
}

// insertUser stores new user id under the bootstrap lock, deciding again who registers: the
// first user becomes admin whatever role was asked for, and a non-administrator is refused once
// users exist. mustChange marks a temporary password.
func (s *Service) insertUser(ctx context.Context, tx pgx.Tx, id string, n NewUser, hash string, mustChange, byAdmin bool) (User, registration, error) {
	db := s.st.On(tx)
	exists, err := db.LockRegistrations(ctx)
	if err != nil {
		return User{}, 0, err
	}
	reg := classifyRegistration(byAdmin, exists)
	switch reg {
	case registerBootstrap:
		n.Role = rbac.Admin
	case registerRefused:
		return User{}, reg, ErrAdminRequired
	}
	u, err := db.InsertUser(ctx, store.NewUser{ID: id, Username: n.Username, Email: n.Email, Role: n.Role, PasswordHash: hash,
		MustChangePassword: mustChange, At: s.now()})
	if err != nil {
		return User{}, reg, uniqueViolation(err)
	}
	if err = db.AddPasswordHistory(ctx, id, hash, s.now()); err != nil {
		return User{}, reg, err
	}
	return User(u), reg, nil
}

// temporaryPassword is 20 characters from all four classes, for an administrator to hand over.
func temporaryPassword() (string, error) {
	const sets = "abcdefghijkmnopqrstuvwxyz" + "ABCDEFGHJKLMNPQRSTUVWXYZ" + "23456789" + "!#%+-=?@"
	for {
		b := make([]byte, 20)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = sets[int(b[i])%len(sets)]
		}
		p := string(b)
		if auth.DefaultPasswordPolicy.Check(p, "", "") == nil {
			return p, nil
		}
	}
}

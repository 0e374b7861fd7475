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

// bootstrapLock serialises registrations so that exactly one first user becomes admin.
const bootstrapLock int64 = 0x72736368656402

// Register creates a user. On an empty database the first registration becomes admin whatever
// role it asked for (the bootstrap); afterwards only an administrator may create users. caller
// is nil for an unauthenticated request. temporary is the generated password when none was given.
func (s *Service) Register(ctx context.Context, caller *Principal, n NewUser, c Client) (u User, temporary string, err error) {
	byAdmin := caller != nil && caller.Role == rbac.Admin
	if !byAdmin {
		// Who may register is decided before what they sent is examined (the transaction below
		// decides again, under the bootstrap lock). An administrator needs no look.
		var exists bool
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
			return User{}, "", fmt.Errorf("accounts: register: %w", err)
		}
		if classifyRegistration(false, exists) == registerRefused {
			return User{}, "", ErrAdminRequired
		}
	}
	n, err = n.validate()
	if err != nil {
		return User{}, "", err
	}
	mustChange := false
	switch classifyInitialPassword(n.Password, caller != nil) {
	case passwordMissing:
		return User{}, "", &InvalidError{Reason: "password is required"}
	case passwordGenerated:
		if n.Password, err = temporaryPassword(); err != nil {
			return User{}, "", err
		}
		temporary, mustChange = n.Password, true
	case passwordGiven:
		if err := s.cfg.Policy.Check(n.Password, n.Username, n.Email); err != nil {
			return User{}, "", err
		}
	}
	// Hash before taking the lock: it is the slow part.
	hash, err := s.hasher.Hash(n.Password)
	if err != nil {
		return User{}, "", err
	}
	id := uuid.NewString()
	first := false
	actor := id
	if caller != nil {
		actor = caller.ID
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", bootstrapLock); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM users)").Scan(&first); err != nil {
			return err
		}
		switch classifyRegistration(byAdmin, !first) {
		case registerBootstrap:
			n.Role = rbac.Admin
		case registerRefused:
			return ErrAdminRequired
		}
		u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash, password_changed_at, must_change_password, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $6) RETURNING `+userColumns, id, n.Username, n.Email, n.Role, hash, s.now(), mustChange))
		if err != nil {
			return uniqueViolation(err)
		}
		if _, err = tx.Exec(ctx, "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)", id, hash, s.now()); err != nil {
			return err
		}
		a.record(actor, "user.created", userTarget(id), map[string]any{"username": u.Username, "email": u.Email,
			"role": u.Role, "bootstrap_admin": first, "initial_change_required": mustChange})
		return nil
	})
	if err != nil {
		return User{}, "", err
	}
	return u, temporary, nil
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

package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/store"
)

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

// ValidEmail checks an e-mail address (the API's one rule for users and people alike).
func ValidEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return &InvalidError{Reason: "email is not a valid address such as name@example.org"}
	}
	return nil
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

// uniqueViolation turns a duplicate username or e-mail into a ConflictError.
func uniqueViolation(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "users_username_key":
			return &ConflictError{"username already registered"}
		case "users_email_key":
			return &ConflictError{"email already registered"}
		}
	}
	return err
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

// GetUser returns one user (deleted users are not found).
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return User{}, ErrNotFound
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL`, uid))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// UserFilter selects users for ListUsers.
type UserFilter struct {
	Role     rbac.Role
	IsActive *bool
	// Query matches a part of the username or e-mail, case-insensitively.
	Query          string
	Page, PageSize int
}

// ListUsers returns a page of users ordered by username and the total that match.
func (s *Service) ListUsers(ctx context.Context, f UserFilter) ([]User, int, error) {
	where := []string{"deleted_at IS NULL"}
	var args []any
	if f.Role != "" {
		args = append(args, f.Role)
		where = append(where, fmt.Sprintf("role = $%d", len(args)))
	}
	if f.IsActive != nil {
		args = append(args, *f.IsActive)
		where = append(where, fmt.Sprintf("is_active = $%d", len(args)))
	}
	if f.Query != "" {
		args = append(args, "%"+store.EscapeLike(strings.ToLower(f.Query))+"%")
		where = append(where, fmt.Sprintf("(lower(username) LIKE $%[1]d OR lower(email) LIKE $%[1]d)", len(args)))
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE "+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("accounts: listing users: %w", err)
	}
	args = append(args, f.PageSize, (f.Page-1)*f.PageSize)
	rows, err := s.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM users WHERE %s ORDER BY lower(username) LIMIT $%d OFFSET $%d",
		userColumns, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("accounts: listing users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("accounts: listing users: %w", err)
	}
	return users, total, nil
}

// UserUpdate is an administrator's change to a user; nil fields are left alone.
type UserUpdate struct {
	Email    *string
	Role     *rbac.Role
	IsActive *bool
}

// adminLock serialises changes that could remove the last administrator.
const adminLock int64 = 0x72736368656403

// lockTarget takes adminLock and re-reads user id with a row lock, so that decisions about the
// last administrator are made on the state no concurrent change can alter before commit.
func lockTarget(ctx context.Context, tx pgx.Tx, id string) (User, error) {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", adminLock); err != nil {
		return User{}, err
	}
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// keepAnAdmin re-reads user id under the locks and refuses, with reason, to take it out of
// service if it is the last active administrator.
func keepAnAdmin(ctx context.Context, tx pgx.Tx, id, reason string) (User, error) {
	u, err := lockTarget(ctx, tx, id)
	if err != nil {
		return User{}, err
	}
	if u.Role == rbac.Admin && u.IsActive && !u.IsLocked {
		last, err := lastAdmin(ctx, tx, u.ID)
		if err != nil {
			return User{}, err
		}
		if last {
			return User{}, &ConflictError{reason}
		}
	}
	return u, nil
}

// lastAdmin reports, in tx under adminLock (lockTarget), whether user id is the only active,
// unlocked admin.
func lastAdmin(ctx context.Context, tx pgx.Tx, id string) (bool, error) {
	var others bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active AND deleted_at IS NULL
		AND (locked_until IS NULL OR locked_until <= now()) AND id <> $1)`, id).Scan(&others)
	return !others, err
}

// UpdateUser applies an administrator's change. Demoting or deactivating the last active admin is
// refused; a role change or deactivation ends the user's sessions.
func (s *Service) UpdateUser(ctx context.Context, caller *Principal, id string, up UserUpdate, c Client) (User, error) {
	before, err := s.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if up.Email != nil {
		e := strings.TrimSpace(*up.Email)
		if err := ValidEmail(e); err != nil {
			return User{}, err
		}
		up.Email = &e
	}
	if up.Role != nil && !up.Role.Valid() {
		return User{}, &InvalidError{Reason: "role is not one of admin, coordinator, faculty, resident, clinical_staff, rn, lpn, msa"}
	}
	var after User
	var deactivated bool
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if before, err = lockTarget(ctx, tx, before.ID); err != nil {
			return err
		}
		demoted := up.Role != nil && *up.Role != rbac.Admin && before.Role == rbac.Admin
		deactivated = up.IsActive != nil && !*up.IsActive && before.IsActive
		if before.Role == rbac.Admin && (demoted || deactivated) {
			last, err := lastAdmin(ctx, tx, before.ID)
			if err != nil {
				return err
			}
			if last {
				return &ConflictError{"cannot remove the last active administrator"}
			}
		}
		after, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET email = coalesce($2, email), role = coalesce($3, role),
			is_active = coalesce($4, is_active), updated_at = $5 WHERE id = $1 AND deleted_at IS NULL RETURNING `+userColumns,
			before.ID, up.Email, up.Role, up.IsActive, s.now()))
		if err != nil {
			return uniqueViolation(err)
		}
		if after.Role != before.Role || deactivated {
			if _, err = revokeSessions(ctx, tx, before.ID, "", "account_changed", s.now()); err != nil {
				return err
			}
		}
		a.record(caller.ID, "user.updated", userTarget(before.ID), map[string]any{
			"old": map[string]any{"email": before.Email, "role": before.Role, "is_active": before.IsActive},
			"new": map[string]any{"email": after.Email, "role": after.Role, "is_active": after.IsActive}})
		return nil
	})
	s.invalidate(before.ID)
	if err != nil {
		return User{}, err
	}
	return after, nil
}

// DeleteUser anonymises a user: the row stays so the audit trail keeps pointing at an id, but
// its name, address, password and second factor are gone and it can never sign in again.
func (s *Service) DeleteUser(ctx context.Context, caller *Principal, id string, c Client) error {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.ID == caller.ID {
		return &InvalidError{Reason: "Cannot delete your own account", BadRequest: true}
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if u, err = keepAnAdmin(ctx, tx, u.ID, "cannot remove the last active administrator"); err != nil {
			return err
		}
		short := strings.ReplaceAll(u.ID, "-", "")[:16]
		if _, err := tx.Exec(ctx, `UPDATE users SET username = $2, email = $3, password_hash = '!', totp_secret = NULL,
			totp_pending = NULL, mfa_enabled = false, is_active = false, deleted_at = $4, updated_at = $4 WHERE id = $1`,
			u.ID, "deleted-"+short, "deleted-"+short+"@deleted.invalid", s.now()); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM password_history WHERE user_id = $1", "DELETE FROM mfa_recovery_codes WHERE user_id = $1"} {
			if _, err := tx.Exec(ctx, q, u.ID); err != nil {
				return err
			}
		}
		if _, err = revokeSessions(ctx, tx, u.ID, "", "account_deleted", s.now()); err != nil {
			return err
		}
		a.record(caller.ID, "user.deleted", userTarget(u.ID), map[string]any{"old": map[string]any{"username": u.Username, "role": u.Role}})
		return nil
	})
	s.invalidate(u.ID)
	return err
}

// LockUser is an administrator's lock: no sign-in until UnlockUser, and sessions end now.
func (s *Service) LockUser(ctx context.Context, caller *Principal, id string, c Client) (User, error) {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.ID == caller.ID {
		return User{}, &InvalidError{Reason: "Cannot lock your own account", BadRequest: true}
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if u, err = keepAnAdmin(ctx, tx, u.ID, "cannot lock the last active administrator"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET locked_until = 'infinity', updated_at = $2 WHERE id = $1", u.ID, s.now()); err != nil {
			return err
		}
		if _, err = revokeSessions(ctx, tx, u.ID, "", "locked_by_admin", s.now()); err != nil {
			return err
		}
		a.record(caller.ID, "user.locked", userTarget(u.ID), nil)
		return nil
	})
	s.invalidate(u.ID)
	if err != nil {
		return User{}, err
	}
	return s.GetUser(ctx, id)
}

// UnlockUser lifts an administrator's lock and any lockout from failed sign-ins.
func (s *Service) UnlockUser(ctx context.Context, caller *Principal, id string, c Client) (User, error) {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		if _, err := tx.Exec(ctx, "UPDATE users SET locked_until = NULL, updated_at = $2 WHERE id = $1", u.ID, s.now()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM login_failures WHERE name_hash = $1", nameHash(u.Username)); err != nil {
			return err
		}
		a.record(caller.ID, "user.unlocked", userTarget(u.ID), nil)
		return nil
	})
	s.invalidate(u.ID)
	if err != nil {
		return User{}, fmt.Errorf("accounts: unlock: %w", err)
	}
	return s.GetUser(ctx, id)
}

// ChangePassword sets the caller's new password after checking the current one, the policy and
// the history (classifyPasswordChange), and ends every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string, c Client) error {
	if err := s.checkLock(ctx, nameHash(p.Username)); err != nil {
		return err
	}
	f, err := s.gatherPasswordChange(ctx, p, current, next)
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", err)
	}
	switch classifyPasswordChange(f) {
	case passwordWrongCurrent:
		if locked, ferr := s.recordFailure(ctx, nameHash(p.Username)); ferr == nil && locked != nil {
			s.record(ctx, c, p.ID, "auth.lockout.started", userTarget(p.ID), map[string]any{"seconds": int(locked.RetryAfter.Seconds())})
		}
		s.record(ctx, c, p.ID, "auth.password.change_failed", userTarget(p.ID), nil)
		return &InvalidError{Reason: "current password is incorrect", BadRequest: true}
	case passwordRejectedByPolicy:
		return f.policy
	case passwordSameAsCurrent:
		return &auth.PolicyError{Problems: []string{"the new password must differ from the current one"}}
	case passwordReused:
		return f.history
	}
	fresh, err := s.hasher.Hash(next)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		revoked, err := s.storePassword(ctx, tx, p, fresh)
		if err != nil {
			return err
		}
		a.record(p.ID, "auth.password.changed", userTarget(p.ID), map[string]any{"other_sessions_revoked": revoked})
		return nil
	})
	s.invalidate(p.ID)
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", err)
	}
	return nil
}

// gatherPasswordChange loads and checks the facts of a password change in
// classifyPasswordChange's order, stopping at the first that refuses.
func (s *Service) gatherPasswordChange(ctx context.Context, p *Principal, current, next string) (passwordChangeFacts, error) {
	var f passwordChangeFacts
	var hash string
	if err := s.pool.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = $1", p.ID).Scan(&hash); err != nil {
		return f, err
	}
	if _, err := s.hasher.Verify(current, hash); err != nil {
		return f, nil
	}
	f.currentOK = true
	if f.policy = s.cfg.Policy.Check(next, p.Username, p.Email); f.policy != nil {
		return f, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2", p.ID, max(s.cfg.Policy.HistorySize, 1))
	if err != nil {
		return f, err
	}
	previous, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return f, err
	}
	if _, err := s.hasher.Verify(next, hash); err == nil {
		f.sameAsCurrent = true
		return f, nil
	}
	f.history = s.cfg.Policy.CheckHistory(s.hasher, next, previous)
	return f, nil
}

// storePassword writes the caller's new password hash fresh in tx, keeps the history to its
// size, ends the pending MFA challenges and the user's other sessions, and returns how many
// sessions it ended.
func (s *Service) storePassword(ctx context.Context, tx pgx.Tx, p *Principal, fresh string) (int64, error) {
	now := s.now()
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3, must_change_password = false,
		updated_at = $3 WHERE id = $1`, p.ID, fresh, now); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)", p.ID, fresh, now); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM password_history WHERE user_id = $1 AND created_at < (
		SELECT min(created_at) FROM (SELECT created_at FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2) AS keep)`,
		p.ID, max(s.cfg.Policy.HistorySize, 1)); err != nil {
		return 0, err
	}
	// A password step completed with the old password must not finish with its second factor.
	if _, err := tx.Exec(ctx, "DELETE FROM mfa_challenges WHERE user_id = $1", p.ID); err != nil {
		return 0, err
	}
	return revokeSessions(ctx, tx, p.ID, p.SessionID, "password_changed", now)
}

package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/store"
)

// ValidEmail checks an e-mail address (the API's one rule for users and people alike).
func ValidEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return &InvalidError{Reason: "email is not a valid address such as name@example.org"}
	}
	return nil
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

// GetUser returns one user (deleted users are not found).
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return User{}, ErrNotFound
	}
	u, ok, err := s.st.UserByID(ctx, uid.String())
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, ErrNotFound
	}
	return User(u), nil
}

// UserFilter selects users for ListUsers: by role, by active flag, and by Query, a part of the
// username or e-mail, case-insensitively.
type UserFilter = store.UserFilter

// ListUsers returns a page of users ordered by username and the total that match.
func (s *Service) ListUsers(ctx context.Context, f UserFilter) ([]User, int, error) {
	rows, total, err := s.st.ListUsers(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("accounts: listing users: %w", err)
	}
	users := make([]User, len(rows))
	for i, u := range rows {
		users[i] = User(u)
	}
	return users, total, nil
}

// UserUpdate is an administrator's change to a user; nil fields are left alone.
type UserUpdate struct {
	Email    *string
	Role     *rbac.Role
	IsActive *bool
}

// lockTarget takes the lock of changes that could remove the last administrator and re-reads
// user id with a row lock, so that decisions about the last administrator are made on the state
// no concurrent change can alter before commit.
func lockTarget(ctx context.Context, db *store.Store, id string) (User, error) {
	u, ok, err := db.LockUserForAdminChange(ctx, id)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, ErrNotFound
	}
	return User(u), nil
}

// keepAnAdmin re-reads user id under the locks and refuses, with reason, to take it out of
// service if it is the last active administrator.
func keepAnAdmin(ctx context.Context, db *store.Store, id, reason string) (User, error) {
	u, err := lockTarget(ctx, db, id)
	if err != nil {
		return User{}, err
	}
	if u.Role == rbac.Admin && u.IsActive && !u.IsLocked {
		last, err := lastAdmin(ctx, db, u.ID)
		if err != nil {
			return User{}, err
		}
		if last {
			return User{}, &ConflictError{reason}
		}
	}
	return u, nil
}

// lastAdmin reports, under the lock of lockTarget, whether user id is the only active, unlocked
// admin.
func lastAdmin(ctx context.Context, db *store.Store, id string) (bool, error) {
	others, err := db.OtherActiveAdmin(ctx, id)
	return !others, err
}

// UpdateUser applies an administrator's change. Demoting or deactivating the last active admin is
// refused; a role change or deactivation ends the user's sessions (classifyUserUpdate).
func (s *Service) UpdateUser(ctx context.Context, caller *Principal, id string, up UserUpdate, c Client) (User, error) {
	before, err := s.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if up, err = up.validate(); err != nil {
		return User{}, err
	}
	var after User
	err = s.inTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		if before, after, err = s.updateUser(ctx, tx, before.ID, up); err != nil {
			return err
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

// validate checks an update's fields and returns them normalised.
func (up UserUpdate) validate() (UserUpdate, error) {
	if up.Email != nil {
		e := strings.TrimSpace(*up.Email)
		if err := ValidEmail(e); err != nil {
			return up, err
		}
		up.Email = &e
	}
	if up.Role != nil && !up.Role.Valid() {
		return up, &InvalidError{Reason: "role is not one of admin, coordinator, faculty, resident, clinical_staff, rn, lpn, msa"}
	}
	return up, nil
}

// updateUser applies up to user id in tx, under the locks of lockTarget, and returns the user
// before (as locked) and after.
func (s *Service) updateUser(ctx context.Context, tx pgx.Tx, id string, up UserUpdate) (before, after User, err error) {
	db := s.st.On(tx)
	if before, err = lockTarget(ctx, db, id); err != nil {
		return before, User{}, err
	}
	d := classifyUserUpdate(before, up)
	if d.takesAdminOut {
		last, err := lastAdmin(ctx, db, before.ID)
		if err != nil {
			return before, User{}, err
		}
		if last {
			return before, User{}, &ConflictError{"cannot remove the last active administrator"}
		}
	}
	changed, err := db.UpdateUser(ctx, before.ID, store.UserChange{Email: up.Email, Role: up.Role, IsActive: up.IsActive, At: s.now()})
	if err != nil {
		return before, User{}, uniqueViolation(err)
	}
	after = User(changed)
	if after.Role != before.Role || d.deactivates {
		if _, err = db.RevokeUserSessions(ctx, before.ID, "", "account_changed", s.now()); err != nil {
			return before, after, err
		}
	}
	return before, after, nil
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
		db := s.st.On(tx)
		if u, err = keepAnAdmin(ctx, db, u.ID, "cannot remove the last active administrator"); err != nil {
			return err
		}
		short := strings.ReplaceAll(u.ID, "-", "")[:16]
		if err := db.AnonymiseUser(ctx, u.ID, "deleted-"+short, "deleted-"+short+"@deleted.invalid", s.now()); err != nil {
			return err
		}
		if _, err = db.RevokeUserSessions(ctx, u.ID, "", "account_deleted", s.now()); err != nil {
			return err
		}
		a.record(caller.ID, "user.deleted", userTarget(u.ID), map[string]any{"old": map[string]any{"username": u.Username, "role": u.Role}})
		return nil
	})
	s.invalidate(u.ID)
	return err
}

// LockUser is an administrator's lock: no sign-in until UnlockUser, and sessions end now, even
// if the audit entry cannot be written (protectTx).
func (s *Service) LockUser(ctx context.Context, caller *Principal, id string, c Client) (User, error) {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.ID == caller.ID {
		return User{}, &InvalidError{Reason: "Cannot lock your own account", BadRequest: true}
	}
	err = s.protectTx(ctx, c, func(tx pgx.Tx, a recorder) error {
		var err error
		db := s.st.On(tx)
		if u, err = keepAnAdmin(ctx, db, u.ID, "cannot lock the last active administrator"); err != nil {
			return err
		}
		if err := db.SetAdminLock(ctx, u.ID, true, s.now()); err != nil {
			return err
		}
		if _, err = db.RevokeUserSessions(ctx, u.ID, "", "locked_by_admin", s.now()); err != nil {
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
		db := s.st.On(tx)
		if err := db.SetAdminLock(ctx, u.ID, false, s.now()); err != nil {
			return err
		}
		if err := db.ClearLoginFailures(ctx, nameHash(u.Username)); err != nil {
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

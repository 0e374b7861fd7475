package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/rbac"
)

// The accounts of the users table as the account logic reads and changes them. Password hashes
// are passwords.go's, second factors mfa_secrets.go's. Who may do what to an account (the last
// administrator, the bootstrap) is decided by internal/server/accounts under the locks these take.

// User is an account. Its fields are those of accounts.User, in the same order, so that one
// converts to the other.
type User struct {
	ID                 string
	Username           string
	Email              string
	Role               rbac.Role
	IsActive           bool
	IsLocked           bool
	MFAEnabled         bool
	MustChangePassword bool
	PasswordChangedAt  time.Time
	LastLoginAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// userColumns are read for every User; scanUser fills one from them in this order.
var userColumns = userColumnsOf("")

// userColumnsOf is userColumns qualified with a table alias such as "u.".
func userColumnsOf(a string) string {
	return fmt.Sprintf(`%[1]sid, %[1]susername, %[1]semail, %[1]srole, %[1]sis_active,
	coalesce(%[1]slocked_until > now(), false), %[1]smfa_enabled, %[1]smust_change_password,
	%[1]spassword_changed_at, %[1]slast_login_at, %[1]screated_at, %[1]supdated_at`, a)
}

// scanUser reads a User and then extra from row.
func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	var id uuid.UUID
	dest := append([]any{&id, &u.Username, &u.Email, &u.Role, &u.IsActive, &u.IsLocked, &u.MFAEnabled,
		&u.MustChangePassword, &u.PasswordChangedAt, &u.LastLoginAt, &u.CreatedAt, &u.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.ID = id.String()
	return u, nil
}

// found turns pgx.ErrNoRows into found false.
func found(err error) (bool, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// UserByID returns the user (not deleted); ok is false when there is none.
func (s *Store) UserByID(ctx context.Context, id string) (User, bool, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL`, id))
	ok, err := found(err)
	return u, ok, err
}

// UserForLogin returns the user (not deleted) whose name is username, case-insensitively, and its
// password hash; ok is false when there is none.
func (s *Store) UserForLogin(ctx context.Context, username string) (u User, hash string, ok bool, err error) {
	u, err = scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users
		WHERE lower(username) = lower($1) AND deleted_at IS NULL`, username), &hash)
	ok, err = found(err)
	return u, hash, ok, err
}

// UserFilter selects users for ListUsers; zero fields do not filter.
type UserFilter struct {
	Role     rbac.Role
	IsActive *bool
	// Query matches a part of the username or e-mail, case-insensitively.
	Query          string
	Page, PageSize int
}

// where is the filter's condition and its arguments.
func (f UserFilter) where() (string, []any) {
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
		args = append(args, "%"+EscapeLike(strings.ToLower(f.Query))+"%")
		where = append(where, fmt.Sprintf("(lower(username) LIKE $%[1]d OR lower(email) LIKE $%[1]d)", len(args)))
	}
	return strings.Join(where, " AND "), args
}

// ListUsers returns a page of the users f selects, ordered by username, and how many match.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]User, int, error) {
	cond, args := f.where()
	var total int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM users WHERE "+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	args = append(args, f.PageSize, (f.Page-1)*f.PageSize)
	rows, err := s.db.Query(ctx, fmt.Sprintf("SELECT %s FROM users WHERE %s ORDER BY lower(username) LIMIT $%d OFFSET $%d",
		userColumns, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, 0, err
	}
	return users, total, nil
}

// adminLock serialises changes that could remove the last administrator.
const adminLock int64 = 0x72736368656403

// LockUserForAdminChange takes the lock of changes that could remove the last administrator and
// returns the user (not deleted) locked FOR UPDATE, both until the end of the transaction the
// store runs on (On); ok is false when there is no such user.
func (s *Store) LockUserForAdminChange(ctx context.Context, id string) (User, bool, error) {
	if _, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", adminLock); err != nil {
		return User{}, false, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
	ok, err := found(err)
	return u, ok, err
}

// OtherActiveAdmin reports whether an active, unlocked administrator other than id exists.
func (s *Store) OtherActiveAdmin(ctx context.Context, id string) (bool, error) {
	var others bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active AND deleted_at IS NULL
		AND (locked_until IS NULL OR locked_until <= now()) AND id <> $1)`, id).Scan(&others)
	return others, err
}

// UserChange is a change to a user; nil fields are left alone.
type UserChange struct {
	Email    *string
	Role     *rbac.Role
	IsActive *bool
	At       time.Time
}

// UpdateUser applies c to user id (not deleted) and returns it as changed. A duplicate e-mail is
// PostgreSQL's unique violation.
func (s *Store) UpdateUser(ctx context.Context, id string, c UserChange) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `UPDATE users SET email = coalesce($2, email), role = coalesce($3, role),
		is_active = coalesce($4, is_active), updated_at = $5 WHERE id = $1 AND deleted_at IS NULL RETURNING `+userColumns,
		id, c.Email, c.Role, c.IsActive, c.At))
}

// AnonymiseUser renames user id to username and email, removes its password, second factor,
// password history and recovery codes, and marks it inactive and deleted at.
func (s *Store) AnonymiseUser(ctx context.Context, id, username, email string, at time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE users SET username = $2, email = $3, password_hash = '!', totp_secret = NULL,
		totp_pending = NULL, mfa_enabled = false, is_active = false, deleted_at = $4, updated_at = $4 WHERE id = $1`,
		id, username, email, at); err != nil {
		return err
	}
	for _, q := range []string{"DELETE FROM password_history WHERE user_id = $1", "DELETE FROM mfa_recovery_codes WHERE user_id = $1"} {
		if _, err := s.db.Exec(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// SetAdminLock locks user id until an administrator unlocks it (locked true), or lifts that lock.
func (s *Store) SetAdminLock(ctx context.Context, id string, locked bool, at time.Time) error {
	q := "UPDATE users SET locked_until = NULL, updated_at = $2 WHERE id = $1"
	if locked {
		q = "UPDATE users SET locked_until = 'infinity', updated_at = $2 WHERE id = $1"
	}
	_, err := s.db.Exec(ctx, q, id, at)
	return err
}

// SetLastLogin records the user's sign-in at.
func (s *Store) SetLastLogin(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE users SET last_login_at = $2 WHERE id = $1", id, at)
	return err
}

// bootstrapLock serialises registrations so that exactly one first user becomes admin.
const bootstrapLock int64 = 0x72736368656402

// AnyUsers reports whether any user exists, deleted ones included.
func (s *Store) AnyUsers(ctx context.Context) (bool, error) {
	var exists bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists)
	return exists, err
}

// LockRegistrations takes the registrations' lock until the end of the transaction the store runs
// on (On), and then reports whether any user exists: under the lock, the answer holds until then.
func (s *Store) LockRegistrations(ctx context.Context) (bool, error) {
	if _, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", bootstrapLock); err != nil {
		return false, err
	}
	return s.AnyUsers(ctx)
}

// NewUser is a user to insert; At stamps its creation and its password.
type NewUser struct {
	ID, Username, Email string
	Role                rbac.Role
	PasswordHash        string
	MustChangePassword  bool
	At                  time.Time
}

// InsertUser inserts n and returns it. A duplicate username or e-mail is PostgreSQL's unique
// violation (users_username_key, users_email_key).
func (s *Store) InsertUser(ctx context.Context, n NewUser) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash, password_changed_at, must_change_password, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $6) RETURNING `+userColumns, n.ID, n.Username, n.Email, n.Role, n.PasswordHash, n.At, n.MustChangePassword))
}

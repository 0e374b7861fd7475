package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Users' password hashes and their history (users.password_hash, password_history). The hashes
// are never logged nor put in an error.

// UserPasswordHash returns the user's current password hash; pgx.ErrNoRows when there is no such
// user.
func (s *Store) UserPasswordHash(ctx context.Context, userID string) (string, error) {
	var hash string
	err := s.db.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = $1", userID).Scan(&hash)
	return hash, err
}

// SetUserPassword sets the user's password hash, changed at, and clears must_change_password.
func (s *Store) SetUserPassword(ctx context.Context, userID, hash string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3, must_change_password = false,
		updated_at = $3 WHERE id = $1`, userID, hash, at)
	return err
}

// RecentPasswordHashes returns the user's last n password hashes, newest first.
func (s *Store) RecentPasswordHashes(ctx context.Context, userID string, n int) ([]string, error) {
	rows, err := s.db.Query(ctx, "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2", userID, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AddPasswordHistory records hash as one of the user's passwords, set at.
func (s *Store) AddPasswordHistory(ctx context.Context, userID, hash string, at time.Time) error {
	_, err := s.db.Exec(ctx, "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)", userID, hash, at)
	return err
}

// TrimPasswordHistory keeps the user's keep newest history entries (and any set at the same time as
// the oldest of them) and deletes the rest.
func (s *Store) TrimPasswordHistory(ctx context.Context, userID string, keep int) error {
	_, err := s.db.Exec(ctx, `DELETE FROM password_history WHERE user_id = $1 AND created_at < (
		SELECT min(created_at) FROM (SELECT created_at FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2) AS keep)`,
		userID, keep)
	return err
}

// RehashPassword replaces the user's password hash old with fresh (the same password under newer
// parameters), unless it changed meanwhile.
func (s *Store) RehashPassword(ctx context.Context, userID, old, fresh string) error {
	_, err := s.db.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3", userID, fresh, old)
	return err
}

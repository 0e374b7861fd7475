package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The sealed (field-encrypted) columns as the re-encryption pass walks them: any table with a
// uuid id and a text column of sealed values (users.totp_secret, users.totp_pending,
// absences.reason_sealed). The names come from the caller's fixed list and are quoted as
// identifiers all the same.

// SealedValue is one sealed value and its row.
type SealedValue struct {
	ID    uuid.UUID
	Value string
}

// SealedValues returns up to limit non-null values of table.column whose row id comes after
// after, in id order (keyset pagination).
func (s *Store) SealedValues(ctx context.Context, table, column string, after uuid.UUID, limit int) ([]SealedValue, error) {
	rows, err := s.db.Query(ctx, fmt.Sprintf(`SELECT id, %[1]s FROM %[2]s
			WHERE %[1]s IS NOT NULL AND id > $1 ORDER BY id LIMIT $2`, pgx.Identifier{column}.Sanitize(), pgx.Identifier{table}.Sanitize()), after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SealedValue, error) {
		var v SealedValue
		return v, r.Scan(&v.ID, &v.Value)
	})
}

// ResealValue replaces the value of table.column in row id with fresh if it still is old
// (compare-and-set: a concurrent change wins) and says whether it did.
func (s *Store) ResealValue(ctx context.Context, table, column string, id uuid.UUID, fresh, old string) (bool, error) {
	tag, err := s.db.Exec(ctx, fmt.Sprintf("UPDATE %[2]s SET %[1]s = $2 WHERE id = $1 AND %[1]s = $3",
		pgx.Identifier{column}.Sanitize(), pgx.Identifier{table}.Sanitize()), id, fresh, old)
	return tag.RowsAffected() > 0, err
}

package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// readSnapshot runs read in one consistent view: a repeatable-read, read-only transaction of its
// own, or, on a Store bound to a change's transaction (On), that transaction, so that what the
// change wrote so far is seen (the manual edit checks judge the schedule after the edit, before
// it commits).
func (s *Store) readSnapshot(ctx context.Context, read func(tx pgx.Tx) error) error {
	if tx, ok := s.db.(pgx.Tx); ok {
		return read(tx)
	}
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, read)
}

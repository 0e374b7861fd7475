package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// afterCommitTx is the transaction that closes a run: what RunResult.Record registers with
// AfterCommit runs once the transaction committed, and never when it rolled back or its commit
// failed.
type afterCommitTx struct {
	pgx.Tx
	after []func()
}

// AfterCommit registers fn to run once tx has committed, when tx is the transaction that closes a
// run (the one RunResult.Record is given), and reports whether it did; on any other transaction
// it does nothing and returns false. fn runs in the goroutine that closed the run, before
// FinishRun returns; a rolled-back transaction or a failed commit never runs it. It is how a
// recorder tells what it wrote to listeners (the audit stream) only once the write is stored.
func AfterCommit(tx pgx.Tx, fn func()) bool {
	t, ok := tx.(*afterCommitTx)
	if ok {
		t.after = append(t.after, fn)
	}
	return ok
}

// inTxAfterCommit runs fn in a transaction on the pool and, once that committed, what fn
// registered with AfterCommit, in order.
func (s *Store) inTxAfterCommit(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var tx *afterCommitTx
	if err := pgx.BeginFunc(ctx, s.Pool, func(inner pgx.Tx) error {
		tx = &afterCommitTx{Tx: inner}
		return fn(tx)
	}); err != nil {
		return err
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

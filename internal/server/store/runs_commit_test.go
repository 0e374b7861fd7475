package store

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
)

// refuseRunCloseAtCommit makes every commit that closes a run fail: a deferred constraint
// trigger, so the close's statements and its Record all succeed and only the COMMIT raises.
func (s *Store) refuseRunCloseAtCommit(t *testing.T) {
	t.Helper()
	s.sql(t, `CREATE FUNCTION refuse_run_close() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'closing a run refused at commit for the test'; END $$`)
	s.sql(t, `CREATE CONSTRAINT TRIGGER refuse_run_close AFTER UPDATE ON schedule_runs DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW WHEN (OLD.status = 'in_progress' AND NEW.status <> 'in_progress') EXECUTE FUNCTION refuse_run_close()`)
}

// TestRunCloseTellsItsRecorderOnlyAfterTheCommit: what a run's Record registers with AfterCommit
// runs once the close committed, and not at all when the commit fails after Record returned
// (the finding: the audit stream heard of outcomes that were never stored).
func TestRunCloseTellsItsRecorderOnlyAfterTheCommit(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	run, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	var recorded, told []string
	record := func(_ context.Context, tx pgx.Tx, runID, status string) error {
		recorded = append(recorded, status)
		if !AfterCommit(tx, func() { told = append(told, status) }) {
			return errors.New("the transaction closing the run does not tell its commit")
		}
		return nil
	}
	res := RunResult{Status: RunFailed, Message: "cancelled", Record: record}

	s.refuseRunCloseAtCommit(t)
	if err := s.FinishRun(ctx, run.ID, res); err == nil {
		t.Fatal("FinishRun succeeded although its commit was refused")
	}
	if len(recorded) != 1 || len(told) != 0 {
		t.Fatalf("failed commit: Record called %d times, after-commit hooks run %d times (%v); want 1 and 0", len(recorded), len(told), told)
	}
	if got, _ := s.GetRun(ctx, run.ID); got.Status != RunInProgress {
		t.Fatalf("the refused close was stored: %s", got.Status)
	}

	s.sql(t, `DROP TRIGGER refuse_run_close ON schedule_runs`)
	if err := s.FinishRun(ctx, run.ID, res); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0] != RunFailed {
		t.Fatalf("committed close: after-commit hooks saw %v, want [failed]", told)
	}
	if got, _ := s.GetRun(ctx, run.ID); got.Status != RunFailed {
		t.Fatalf("the close was not stored: %s", got.Status)
	}
}

// Any other transaction cannot tell its commit: AfterCommit declines it and never calls fn.
func TestAfterCommitDeclinesOtherTransactions(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	called := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if AfterCommit(tx, func() { called = true }) {
			return errors.New("AfterCommit accepted a plain transaction")
		}
		return nil
	})
	if err != nil || called {
		t.Fatalf("plain transaction: %v, hook called %v", err, called)
	}
}

package scheduling

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
	"github.com/rsched/rsched/internal/server/store/storetest"
	"github.com/rsched/rsched/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

// runAudit records a run's outcome as the API's generate handler does (httpapi's runAudit): the
// entry appended in the transaction that closes the run, handed to the stream once Generate
// answers with a finished run.
type runAudit struct {
	log   *audit.Log
	entry *audit.Entry
	// closes counts the closes recorded; onClose, when set, runs at each.
	closes  int
	onClose func(runID, status string)
}

func (a *runAudit) record(ctx context.Context, tx pgx.Tx, runID, status string) error {
	if a.closes++; a.onClose != nil {
		a.onClose(runID, status)
	}
	e, err := a.log.AppendTx(ctx, tx, audit.Event{Actor: "system", Action: "schedule.generate", Target: "schedule_run:" + runID,
		Details: map[string]any{"status": status}})
	if a.entry = nil; err == nil {
		a.entry = &e
	}
	return err
}

func (a *runAudit) generate(ctx context.Context, svc *Service, r GenerateRequest) (*Outcome, error) {
	a.entry = nil
	out, err := svc.Generate(ctx, r, "", "", a.record)
	var failed *RunError
	if (errors.As(err, &failed) || (err == nil && !out.Replayed)) && a.entry != nil {
		a.log.Stream(*a.entry)
	}
	return out, err
}

// runWorld is a server replica (svc, whose closes can be interfered with) and a second replica
// (other) on one fresh database with a small program, an audit log streaming to stream.
type runWorld struct {
	svc    *Service
	st     *store.Store
	other  *store.Store
	log    *audit.Log
	stream *bytes.Buffer
	// beforeNextTx, when set, runs (once) as svc's store next takes a connection from its pool.
	beforeNextTx atomic.Pointer[func()]
}

func newRunWorld(t *testing.T) *runWorld {
	t.Helper()
	ctx := context.Background()
	stores := storetest.Instances(t, pg, 2)
	w := &runWorld{st: stores[0], other: stores[1], stream: &bytes.Buffer{}}
	cfg := w.st.Pool.Config()
	cfg.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) {
		if f := w.beforeNextTx.Swap(nil); f != nil {
			(*f)()
		}
		return true, nil
	}
	hooked, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hooked.Close)
	w.st.Pool = hooked
	for i, pgy := range []int{1, 2, 3} {
		if _, err := w.st.CreatePerson(ctx, store.PersonRecord{Person: roster.Person{Name: "R" + string(rune('1'+i)), Type: roster.Resident, PGY: pgy}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.CreateTemplate(ctx, roster.Template{Name: "Ward", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 3}); err != nil {
		t.Fatal(err)
	}
	w.log = audit.New(w.st, nil)
	w.log.StreamTo(w.stream)
	w.svc = New(w.st, nil, Config{})
	return w
}

func (w *runWorld) sql(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := w.other.Pool.Exec(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

func (w *runWorld) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.other.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refuseClosesAtCommit makes the commit of every close of a run whose status is in refused fail:
// a deferred constraint trigger, so the close's statements and its audit entry are written and
// only the COMMIT raises. An abandoned run's close (another replica's) goes through.
func (w *runWorld) refuseClosesAtCommit(t *testing.T, refused ...string) {
	t.Helper()
	w.sql(t, `CREATE FUNCTION refuse_run_close() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'closing a run refused at commit for the test'; END $$`)
	w.sql(t, `CREATE CONSTRAINT TRIGGER refuse_run_close AFTER UPDATE ON schedule_runs DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW WHEN (OLD.status = 'in_progress' AND NEW.status = ANY (`+quoteList(refused)+`)
			AND NEW.message IS DISTINCT FROM 'abandoned: closed by another replica for the test')
		EXECUTE FUNCTION refuse_run_close()`)
}

func quoteList(ss []string) string {
	return "ARRAY['" + strings.Join(ss, "','") + "']"
}

func (w *runWorld) streamed(action string) int {
	return strings.Count(w.stream.String(), `"action":"`+action+`"`)
}

var week = GenerateRequest{StartDate: roster.Date{Year: 2026, Month: time.July, Day: 6}, EndDate: roster.Date{Year: 2026, Month: time.July, Day: 12},
	TimeBudgetSeconds: 0.3}

// TestRunOutcomeWhoseCommitFailedIsNeverStreamed: the commit that closes a run fails after its
// audit entry was written in it (a deferred constraint trigger), and, before this server records
// the failure instead, another replica closes the run as abandoned. Generate answers with the
// failed run, as the handler streams on; the entry of the success that never committed used to
// reach the stream then. Now nothing is streamed and no audit row exists. Once closes commit
// again, a run streams exactly one entry, the one stored.
func TestRunOutcomeWhoseCommitFailedIsNeverStreamed(t *testing.T) {
	ctx := context.Background()
	w := newRunWorld(t)
	a := &runAudit{log: w.log}
	w.refuseClosesAtCommit(t, store.RunSuccess, store.RunPartial, store.RunFailed)

	// The first close's commit fails; the next transaction this server begins is the close that
	// records the failure: just before it, the other replica closes the run.
	var first string
	a.onClose = func(runID, status string) {
		if a.closes > 1 {
			return
		}
		first = status
		abandon := func() {
			w.sql(t, `UPDATE schedule_runs SET status = 'failed', finished_at = now(),
				message = 'abandoned: closed by another replica for the test' WHERE id = $1 AND status = 'in_progress'`, runID)
		}
		w.beforeNextTx.Store(&abandon)
	}
	_, err := a.generate(ctx, w.svc, week)
	var failed *RunError
	if !errors.As(err, &failed) || failed.Run.Status != store.RunFailed || failed.Run.Message == nil ||
		!strings.HasPrefix(*failed.Run.Message, "abandoned: closed by another") {
		t.Fatalf("Generate: %v; want the run failed, closed by the other replica", err)
	}
	if a.closes != 1 || first == store.RunFailed || a.entry == nil {
		t.Fatalf("the setup did not happen: %d closes recorded (the first %q), entry %v; want 1, the solved run's", a.closes, first, a.entry)
	}
	a.onClose = nil
	if n := w.streamed("schedule.generate"); n != 0 {
		t.Errorf("%d schedule.generate entries streamed for a close that never committed, want 0:\n%s", n, w.stream)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Errorf("%d audit rows after the refused close, want 0", n)
	}

	// Closes commit again: the next run's entry is stored and streamed once.
	w.sql(t, `DROP TRIGGER refuse_run_close ON schedule_runs`)
	ok, err := a.generate(ctx, w.svc, week)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.streamed("schedule.generate"); n != 1 {
		t.Errorf("%d schedule.generate entries streamed for the committed run, want 1:\n%s", n, w.stream)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_log WHERE action = 'schedule.generate' AND target = $1 AND details::jsonb->>'status' = $2`,
		"schedule_run:"+ok.Run.ID, ok.Run.Status); n != 1 {
		t.Errorf("%d audit rows for the committed run, want 1", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_log`); n != 1 {
		t.Errorf("%d audit rows in all, want 1", n)
	}
	if checked, err := w.log.Verify(ctx); err != nil || checked != 1 {
		t.Errorf("Verify: %d, %v", checked, err)
	}
}

// TestFailureRecordedAfterARefusedCommitIsStreamedAlone: the close that records the run's
// success fails at commit; the server then records the run as failed, which commits. Only the
// failure is stored and streamed, once.
func TestFailureRecordedAfterARefusedCommitIsStreamedAlone(t *testing.T) {
	ctx := context.Background()
	w := newRunWorld(t)
	a := &runAudit{log: w.log}
	w.refuseClosesAtCommit(t, store.RunSuccess, store.RunPartial)
	_, err := a.generate(ctx, w.svc, week)
	var failed *RunError
	if !errors.As(err, &failed) || failed.Run.Status != store.RunFailed {
		t.Fatalf("Generate: %v; want the run recorded as failed", err)
	}
	if n := w.streamed("schedule.generate"); n != 1 || !strings.Contains(w.stream.String(), `"status":"failed"`) {
		t.Errorf("%d schedule.generate entries streamed, want 1, the failure:\n%s", n, w.stream)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_log WHERE action = 'schedule.generate' AND target = $1 AND details::jsonb->>'status' = 'failed'`,
		"schedule_run:"+failed.Run.ID); n != 1 {
		t.Errorf("%d audit rows of the failure, want 1", n)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_log`); n != 1 {
		t.Errorf("%d audit rows in all, want 1", n)
	}
}

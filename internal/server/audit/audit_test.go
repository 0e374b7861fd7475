package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/store/storetest"
	"github.com/rsched/rsched/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

// logs opens count server instances on one fresh database.
func logs(t *testing.T, count int) []*Log {
	t.Helper()
	var out []*Log
	for _, s := range storetest.Instances(t, pg, count) {
		out = append(out, New(s, nil))
	}
	return out
}

func event(i int) Event {
	return Event{Actor: fmt.Sprintf("user:%d", i%3), Action: "schedule.assignment.changed", Target: fmt.Sprintf("assignment:%d", i),
		IP: "203.0.113.7", UserAgent: "test", RequestID: fmt.Sprintf("req-%08d", i), Details: map[string]any{"old": "clinic", "new": "call"}}
}

func filled(t *testing.T, count int) *Log {
	t.Helper()
	ls := logs(t, 2)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ls[i%2].Append(context.Background(), event(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return ls[0]
}

func TestConcurrentAppendsFromTwoInstancesFormOneChain(t *testing.T) {
	l := filled(t, 40)
	checked, err := l.Verify(context.Background())
	if err != nil || checked != 40 {
		t.Fatalf("Verify: %d entries, %v; want 40 and an intact chain", checked, err)
	}
}

func TestEditsDeletionsAndForgedHashesAreDetected(t *testing.T) {
	for name, c := range map[string]struct {
		sql, want string
	}{
		"an edited row":     {`UPDATE audit_log SET details = '{"new":"clinic","old":"clinic"}' WHERE seq = 5`, "entry 5 does not match its hash"},
		"a deleted row":     {`DELETE FROM audit_log WHERE seq = 7`, "entry 7 is missing"},
		"a changed actor":   {`UPDATE audit_log SET actor = 'user:admin' WHERE seq = 9`, "entry 9 does not match its hash"},
		"a moved timestamp": {`UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 3`, "entry 3 does not match its hash"},
		// Someone who knows the scheme rewrites a row and recomputes its hash: the next entry's
		// link no longer matches.
		"a recomputed hash": {`UPDATE audit_log SET actor = 'user:admin', hash = sha256(hash) WHERE seq = 5`, "entry 5 does not match its hash"},
	} {
		t.Run(name, func(t *testing.T) {
			l := filled(t, 12)
			if _, err := l.st.Pool.Exec(context.Background(), c.sql); err != nil {
				t.Fatal(err)
			}
			_, err := l.Verify(context.Background())
			if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Verify: %v, want ErrTampered saying %q", err, c.want)
			}
		})
	}
}

func TestARewrittenEntryWithAValidHashBreaksTheNextLink(t *testing.T) {
	l := filled(t, 8)
	ctx := context.Background()
	// Rewrite entry 4 perfectly: new content and the hash that content really has.
	var e Event
	var prev []byte
	if err := l.st.Pool.QueryRow(ctx, "SELECT actor, action, target, ip, user_agent, request_id, prev_hash FROM audit_log WHERE seq = 4").
		Scan(&e.Actor, &e.Action, &e.Target, &e.IP, &e.UserAgent, &e.RequestID, &prev); err != nil {
		t.Fatal(err)
	}
	var at = l.now().UTC()
	if err := l.st.Pool.QueryRow(ctx, "SELECT at FROM audit_log WHERE seq = 4").Scan(&at); err != nil {
		t.Fatal(err)
	}
	forged := `{"new":"vacation","old":"call"}`
	if _, err := l.st.Pool.Exec(ctx, "UPDATE audit_log SET details = $1, hash = $2 WHERE seq = 4", forged, entryHash(prev, 4, at, e, forged)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "entry 5") {
		t.Errorf("Verify: %v, want the break found at entry 5", err)
	}
}

func TestSecretsNeverReachTheLog(t *testing.T) {
	l := logs(t, 1)[0]
	ctx := context.Background()
	_, err := l.Append(ctx, Event{Actor: "user:1", Action: "auth.password.changed", Target: "user:1",
		Details: map[string]any{
			"password": "hunter2-Secret!", "new_password": "Another-Secret-9",
			"nested": map[string]string{"api_token": "tok_live_abc", "role": "admin"},
			"list":   []any{map[string]any{"totp_secret": "JBSWY3DPEHPK3PXP"}},
			"role":   "coordinator",
		}})
	if err != nil {
		t.Fatal(err)
	}
	var details string
	if err := l.st.Pool.QueryRow(ctx, "SELECT details FROM audit_log WHERE seq = 1").Scan(&details); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "Another-Secret", "tok_live", "JBSWY3DP"} {
		if strings.Contains(details, secret) {
			t.Errorf("stored details %s contain %q", details, secret)
		}
	}
	if !strings.Contains(details, `"role":"coordinator"`) || !strings.Contains(details, `"role":"admin"`) || !strings.Contains(details, "[redacted]") {
		t.Errorf("stored details %s: want non-secret values kept and secrets redacted", details)
	}
	if _, err := l.Append(ctx, Event{Action: "x"}); err == nil {
		t.Error("an event without an actor was recorded")
	}
	if n, err := l.Verify(ctx); err != nil || n != 1 {
		t.Errorf("Verify: %d %v", n, err)
	}
}

// TestAChangeAndItsEntryCommitTogether: WithTx appends the recorded events in the change's own
// transaction, so a change never commits without its entry (a failed append rolls it back), an
// entry never commits without its change, and only committed entries reach the stream.
func TestAChangeAndItsEntryCommitTogether(t *testing.T) {
	l := logs(t, 1)[0]
	var stream strings.Builder
	l.StreamTo(&stream)
	ctx := context.Background()
	if _, err := l.st.Pool.Exec(ctx, "CREATE TABLE changes (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	change := func(id int, fail error) error {
		return l.WithTx(ctx, l.st.Pool, func(tx pgx.Tx, rec *Recorder) error {
			if _, err := tx.Exec(ctx, "INSERT INTO changes (id) VALUES ($1)", id); err != nil {
				return err
			}
			rec.Record(event(id))
			return fail
		})
	}
	count := func(q string) (n int) {
		t.Helper()
		if err := l.st.Pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := change(1, nil); err != nil {
		t.Fatal(err)
	}
	if count("SELECT count(*) FROM changes") != 1 || count("SELECT count(*) FROM audit_log") != 1 || strings.Count(stream.String(), "\n") != 1 {
		t.Fatalf("a committed change: changes, entries or stream lines are not 1 each; stream %q", stream.String())
	}
	// The change fails after recording its event: no entry either.
	if err := change(2, errors.New("refused")); err == nil {
		t.Fatal("the change's error was lost")
	}
	// The append fails: the change is rolled back with it.
	if _, err := l.st.Pool.Exec(ctx, `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused for the test'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`); err != nil {
		t.Fatal(err)
	}
	if err := change(3, nil); err == nil || !strings.Contains(err.Error(), "audit: append") {
		t.Fatalf("a failed append answered %v", err)
	}
	if n := count("SELECT count(*) FROM changes"); n != 1 {
		t.Fatalf("%d changes committed, want only the first: a change committed without its audit entry", n)
	}
	if n := count("SELECT count(*) FROM audit_log"); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	if strings.Count(stream.String(), "\n") != 1 {
		t.Fatalf("an entry that never committed was streamed: %q", stream.String())
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

var dbCounter atomic.Int32

func freshDatabase(t *testing.T) string {
	t.Helper()
	url, err := pg.CreateDatabase(fmt.Sprintf("store_%d", dbCounter.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func TestMigrationsCreateTheSchemaOnAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	s, res, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := Migrations()
	if want < 1 || res.From != 0 || res.To != want || res.Newer {
		t.Fatalf("migration result %+v, want 0 -> %d", res, want)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	// The constraints are the database's, not only the application's.
	insert := `INSERT INTO users (id, username, email, role, password_hash) VALUES (gen_random_uuid(), $1, $2, $3, 'x')`
	if _, err := s.Pool.Exec(ctx, insert, "dr_jones", "jones@hospital.example", "faculty"); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]any{
		"unknown role":                  {"someone", "a@b.example", "superuser"},
		"username differing only case":  {"DR_JONES", "other@b.example", "resident"},
		"e-mail differing only in case": {"other", "JONES@hospital.example", "resident"},
		"username with a space":         {"dr jones", "c@b.example", "resident"},
	} {
		if _, err := s.Pool.Exec(ctx, insert, args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Running again is a no-op.
	res, err = Migrate(ctx, url)
	if err != nil || res.From != want || res.To != want {
		t.Errorf("second run: %+v %v", res, err)
	}
}

// A Deployment's replicas start together and all migrate at start. One applies the migrations;
// the others wait on the advisory lock and find nothing left to do.
func TestReplicasStartingTogetherMigrateExactlyOnce(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	const replicas = 6
	var wg sync.WaitGroup
	results := make([]MigrationResult, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = Migrate(ctx, url)
		}()
	}
	close(start)
	wg.Wait()
	want, _ := Migrations()
	applied := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if results[i].From == 0 {
			applied++
		}
		if results[i].To != want {
			t.Errorf("replica %d ended at version %d", i, results[i].To)
		}
	}
	if applied != 1 {
		t.Errorf("%d replicas applied the migrations, want exactly 1", applied)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+versionTable).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("version table rows = %d (%v), want 1", rows, err)
	}
}

// During a rolling update a newer replica may migrate further; an older one restarting must keep
// running on that schema instead of failing (or, worse, migrating it down).
func TestAnOlderServerStartsOnANewerSchema(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	s, _, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := Migrations()
	if _, err := s.Pool.Exec(ctx, "UPDATE "+versionTable+" SET version = $1", want+1); err != nil {
		t.Fatal(err)
	}
	res, err := Migrate(ctx, url)
	if err != nil || !res.Newer || res.To != want+1 {
		t.Fatalf("on a newer schema: %+v %v", res, err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready on a newer schema: %v", err)
	}
	// And the opposite: a schema behind the binary is not ready.
	if _, err := s.Pool.Exec(ctx, "UPDATE "+versionTable+" SET version = 0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); !errors.Is(err, ErrSchemaBehind) {
		t.Errorf("Ready on an older schema: %v, want ErrSchemaBehind", err)
	}
}

func TestReadinessFailsWhenTheDatabaseGoesAwayAndErrorsHideThePassword(t *testing.T) {
	ctx := context.Background()
	own := testenv.StartPostgres(t)
	s, _, err := Open(ctx, own.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := own.Stop(); err != nil {
		t.Fatal(err)
	}
	err = s.Ready(ctx)
	if err == nil {
		t.Fatal("Ready with the database stopped")
	}
	_, _, openErr := Open(ctx, own.URL, Options{})
	password := strings.SplitN(strings.TrimPrefix(own.URL, "postgres://rsched:"), "@", 2)[0]
	for _, e := range []error{err, openErr} {
		if e == nil || strings.Contains(e.Error(), password) {
			t.Errorf("error %v is missing or contains the password", e)
		}
	}
}

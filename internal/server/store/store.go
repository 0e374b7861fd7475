// Package store is the scheduling API server's PostgreSQL access: a pgx connection pool and the
// schema, whose migrations are embedded in the binary and applied at start.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable records the applied migrations (tern's table).
const versionTable = "public.rsched_schema_version"

// migrateLock is the key of the session advisory lock held around the whole migration. tern takes
// its own lock only after creating its version table, and concurrent CREATE TABLE IF NOT EXISTS
// can still collide in PostgreSQL; holding this lock first makes the replicas of a Deployment
// migrate one after the other. ("rsched" in ASCII.)
const migrateLock int64 = 0x72736368656400

// Migrations is the number of migrations this binary carries: the schema version it expects.
func Migrations() (int32, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	names, err := migrate.FindMigrations(sub)
	return int32(len(names)), err
}

// MigrationResult says what Migrate did.
type MigrationResult struct {
	// From and To are the schema versions before and after.
	From, To int32
	// Newer is true when the database is ahead of this binary (a newer replica migrated it during
	// a rolling update): nothing was applied, and the binary runs on the newer schema, which
	// migrations keep backward compatible for one release.
	Newer bool
}

// Migrate applies the embedded migrations to the database at url, under an advisory lock, so any
// number of replicas can start at once: one migrates, the others wait and then find nothing to do.
func Migrate(ctx context.Context, url string) (MigrationResult, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("store: connecting to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return MigrationResult{}, fmt.Errorf("store: taking the migration lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock) }()

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("store: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return MigrationResult{}, err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return MigrationResult{}, fmt.Errorf("store: loading embedded migrations: %w", err)
	}
	from, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("store: reading the schema version: %w", err)
	}
	known := int32(len(m.Migrations))
	if from > known {
		return MigrationResult{From: from, To: from, Newer: true}, nil
	}
	if err := m.Migrate(ctx); err != nil {
		return MigrationResult{From: from}, fmt.Errorf("store: migrating from version %d: %w", from, err)
	}
	return MigrationResult{From: from, To: known}, nil
}

// Store is the connection pool with the schema in place.
type Store struct {
	Pool   *pgxpool.Pool
	schema int32
	// db runs the statements of people, templates, assignments, absences and the audit log: the
	// pool, or the transaction of a change (On), so that a change and its audit entry commit together.
	db Querier
}

// Querier is what the store's statements run on: *pgxpool.Pool or pgx.Tx (whose Begin is a
// savepoint, so a store function that needs a transaction of its own nests in the caller's).
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// On returns the store with its writes and reads of people, templates, assignments, absences and
// the audit log running in tx: the caller commits or rolls back. Runs, rate-limit counters and
// migrations always use the pool.
func (s *Store) On(tx pgx.Tx) *Store { return &Store{Pool: s.Pool, schema: s.schema, db: tx} }

// Options tune the pool.
type Options struct {
	// MaxConns bounds the pool. Default 10.
	MaxConns int32
}

// Open migrates the database and opens the pool.
func Open(ctx context.Context, url string, opts Options) (*Store, MigrationResult, error) {
	res, err := Migrate(ctx, url)
	if err != nil {
		return nil, res, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password; the URL itself is never printed.
		return nil, res, fmt.Errorf("store: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 10
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, res, fmt.Errorf("store: %w", err)
	}
	want, err := Migrations()
	if err != nil {
		pool.Close()
		return nil, res, err
	}
	return &Store{Pool: pool, schema: want, db: pool}, res, nil
}

// ErrSchemaBehind means the database has fewer migrations than this binary needs.
var ErrSchemaBehind = errors.New("store: the database schema is older than this server")

// Ready checks what the readiness probe reports: the database answers and carries at least the
// schema this binary was built for.
func (s *Store) Ready(ctx context.Context) error {
	var version int32
	if err := s.Pool.QueryRow(ctx, "SELECT max(version) FROM "+versionTable).Scan(&version); err != nil {
		return fmt.Errorf("store: database not reachable: %w", err)
	}
	if version < s.schema {
		return fmt.Errorf("%w (database %d, server %d)", ErrSchemaBehind, version, s.schema)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

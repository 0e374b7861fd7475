// Package store is the scheduling API server's PostgreSQL access: a pgx connection pool and the
// schema, whose migrations are embedded in the binary and applied at start.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/rsched/rsched/internal/serverconfig"
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
// It dials the URL as written; Open dials with the store's TLS settings.
func Migrate(ctx context.Context, url string) (MigrationResult, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("store: connecting to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrateOn(ctx, conn)
}

func migrateOn(ctx context.Context, conn *pgx.Conn) (MigrationResult, error) {
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
	// connConfig and tls make the dedicated connections of Connect like the pool's.
	connConfig *pgx.ConnConfig
	tls        *dialTLS
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
func (s *Store) On(tx pgx.Tx) *Store {
	return &Store{Pool: s.Pool, schema: s.schema, db: tx, connConfig: s.connConfig, tls: s.tls}
}

// InTx runs fn on the store bound to a transaction of its own (a savepoint inside the caller's
// when the store is bound to one already), committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(*Store) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(s.On(tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Options tune the pool.
type Options struct {
	// MaxConns bounds the pool. Default 10.
	MaxConns int32
	// MaxConnLifetime closes a connection this long after it was dialled (plus up to a tenth
	// more, at random): how long a connection made with rotated-out TLS files lives on.
	// Default DefaultMaxConnLifetime.
	MaxConnLifetime time.Duration
	// TLS is config database.tls: every connection (migration, pool, Connect) is dialled with
	// the CA and client certificate files as they are at that moment, verified as the URL's
	// sslmode says, and Open refuses a URL whose sslmode is weaker than TLS.Mode. Nil dials the
	// URL as written, for tests against a plain PostgreSQL; the server always sets it.
	TLS *serverconfig.DatabaseTLS
	// Log receives the TLS files' reloads; slog.Default() when nil.
	Log *slog.Logger
}

// DefaultMaxConnLifetime is the pool's connection lifetime when Options name none (the
// server's default database.max_conn_lifetime too).
const DefaultMaxConnLifetime = 30 * time.Minute

// defaultConnectTimeout bounds a dial whose URL has no connect_timeout: a database that accepts
// TCP and never answers must fail the start, not hang it.
const defaultConnectTimeout = 15 * time.Second

// Open migrates the database and opens the pool. With Options.TLS it first checks the URL's
// sslmode and reads the TLS files, so a weak URL or an unreadable file fails before any dial.
func Open(ctx context.Context, url string, opts Options) (*Store, MigrationResult, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	var dt *dialTLS
	if opts.TLS != nil {
		var err error
		if dt, err = newDialTLS(url, *opts.TLS, opts.Log); err != nil {
			return nil, MigrationResult{}, err
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password; the URL itself is never printed.
		return nil, MigrationResult{}, fmt.Errorf("store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	s := &Store{connConfig: cfg.ConnConfig.Copy(), tls: dt}
	conn, err := s.Connect(ctx)
	if err != nil {
		return nil, MigrationResult{}, fmt.Errorf("store: connecting to migrate%s: %w", dt.describe(), err)
	}
	res, err := migrateOn(ctx, conn)
	_ = conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, res, err
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 10
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	cfg.MaxConnLifetime = opts.MaxConnLifetime
	if cfg.MaxConnLifetime <= 0 {
		cfg.MaxConnLifetime = DefaultMaxConnLifetime
	}
	cfg.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 10
	if dt != nil {
		// BeforeConnect gets a copy of the config for each new connection: the place to put the
		// files as they are now.
		cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error { return dt.apply(&cc.Config) }
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, res, fmt.Errorf("store: %w", err)
	}
	want, err := Migrations()
	if err != nil {
		pool.Close()
		return nil, res, err
	}
	s.Pool, s.schema, s.db = pool, want, pool
	return s, res, nil
}

// Connect dials a dedicated connection, outside the pool, with the pool's settings and TLS (a
// LISTEN connection, say); the caller closes it.
func (s *Store) Connect(ctx context.Context) (*pgx.Conn, error) {
	cc := s.connConfig.Copy()
	if s.tls != nil {
		if err := s.tls.apply(&cc.Config); err != nil {
			return nil, err
		}
	}
	return pgx.ConnectConfig(ctx, cc)
}

// parseURL parses a database URL for its parameters; its error, unlike net/url's, never repeats
// the URL.
func parseURL(raw string) (*neturl.URL, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return nil, errors.New("store: the database URL does not parse")
	}
	return u, nil
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

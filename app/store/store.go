// Package store keeps Mailer's data with Bun, on SQLite by default and on PostgreSQL when
// DATABASE_URL says so. Queries live here, a file per entity; nothing above this package
// writes SQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/migrate"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/db"
)

// Store is the database handle shared by every query file.
type Store struct {
	DB      *bun.DB
	Dialect string // "sqlite" or "postgres"
	Clock   mailing.Clock
	// Bounces is when the bounces the mail server reports during sending suppress an
	// address (BOUNCE_SOFT_LIMIT, BOUNCE_SOFT_WINDOW); zero counts soft bounces without
	// ever suppressing for them.
	Bounces mailing.BouncePolicy
	log     *slog.Logger
	path    string   // the SQLite file
	stmts   sync.Map // SQL text → *sql.Stmt, see prepared.go
	// tracePrepared, set by tests only, sees each prepared statement run and its bound
	// arguments (Bun's hooks do not see them), so that a test can explain their plans.
	tracePrepared func(query string, args []any)
}

// genericPlans asks PostgreSQL, unless dsn says otherwise, to plan each prepared statement
// once (see prepared.go). Left to choose, it plans a statement anew for each execution
// while the generic plan's estimate is worse than the literal values' — for a search that
// is always — and planning the union of a client search costs more than running it. The
// statements are written so that their generic plans use their indexes.
//
// It also turns JIT compilation off unless dsn says otherwise: PostgreSQL compiles a query
// whose estimated cost passes jit_above_cost, and a generic plan's estimate (a tag taken as
// large as the average) passed it for a page of ten tagged clients, which then spent 270 ms
// compiling for a query of 1 ms.
func genericPlans(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_generic_plan")
	}
	if !q.Has("jit") {
		q.Set("jit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Open connects and verifies the connection settings Mailer depends on.
func Open(ctx context.Context, dsn, dialect string, clock mailing.Clock, log *slog.Logger) (*Store, error) {
	var db *bun.DB
	switch dialect {
	case "sqlite":
		// A mistyped folder is an error, not a new empty database: only DATA_DIR, where the
		// default database lives, is created (config.PrepareDataDir).
		if dir := filepath.Dir(config.SQLitePath(dsn)); dir != "" {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("database folder %s does not exist (create it, or fix DATABASE_URL)", dir)
			}
		}
		if err := privateFiles(config.SQLitePath(dsn), log); err != nil {
			return nil, err
		}
		sqldb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// Keep connections open: opening one costs more than most queries (Go keeps 2 idle).
		sqldb.SetMaxOpenConns(8)
		sqldb.SetMaxIdleConns(8)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	case "postgres":
		sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(genericPlans(dsn))))
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(20)
		db = bun.NewDB(sqldb, pgdialect.New())
	default:
		return nil, fmt.Errorf("unknown database dialect %q", dialect)
	}
	s := &Store{DB: db, Dialect: dialect, Clock: clock, log: log}
	if dialect == "sqlite" {
		s.path = config.SQLitePath(dsn)
	}
	if err := s.verify(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// verify fails when SQLite ignored a pragma (a misspelt pragma in a DSN is silently dropped)
// or the database cannot be reached.
func (s *Store) verify(ctx context.Context) error {
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	if s.Dialect != "sqlite" {
		return nil
	}
	// Pragmas are per connection: check them inside one.
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close()
	p, err := readPragmas(ctx, conn)
	if err != nil {
		return err
	}
	if p.JournalMode != "wal" || p.ForeignKeys != 1 || p.BusyTimeout < 1000 {
		return fmt.Errorf("sqlite pragmas not applied (journal_mode=%s foreign_keys=%d busy_timeout=%d): check DATABASE_URL",
			p.JournalMode, p.ForeignKeys, p.BusyTimeout)
	}
	return nil
}

// Pragmas are the SQLite settings Mailer relies on.
type Pragmas struct {
	JournalMode string
	ForeignKeys int
	BusyTimeout int
	Synchronous int
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readPragmas(ctx context.Context, q queryer) (Pragmas, error) {
	var p Pragmas
	for _, r := range []struct {
		sql  string
		dest any
	}{
		{"PRAGMA journal_mode", &p.JournalMode},
		{"PRAGMA foreign_keys", &p.ForeignKeys},
		{"PRAGMA busy_timeout", &p.BusyTimeout},
		{"PRAGMA synchronous", &p.Synchronous},
	} {
		if err := q.QueryRowContext(ctx, r.sql).Scan(r.dest); err != nil {
			return p, fmt.Errorf("%s: %w", r.sql, err)
		}
	}
	p.JournalMode = strings.ToLower(p.JournalMode)
	return p, nil
}

// Pragmas reads the SQLite settings of one pooled connection.
func (s *Store) Pragmas(ctx context.Context) (Pragmas, error) {
	if s.Dialect != "sqlite" {
		return Pragmas{}, errors.New("pragmas exist on sqlite only")
	}
	return readPragmas(ctx, s.DB)
}

// Migrate applies every embedded migration of the store's dialect that has not run yet and
// returns the names of those it applied. Several processes may start at once: they wait for
// one another on a lock the database or the OS releases when its holder dies (bun's own
// lock is a row that a killed process would leave behind for ever).
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	migrations := migrate.NewMigrations()
	if err := migrations.Discover(db.Migrations(s.Dialect)); err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	m := migrate.NewMigrator(s.DB, migrations, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	if pending, err := s.unapplied(ctx, m); err != nil || !pending {
		return nil, err
	}
	unlock, err := s.migrationLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have applied them while this one waited.
	if pending, err := s.unapplied(ctx, m); err != nil || !pending {
		return nil, err
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	if !group.IsZero() {
		for _, mg := range group.Migrations {
			names = append(names, mg.Name)
		}
		s.log.Info("migrations applied", "group", group.ID, "count", len(names))
	}
	return names, nil
}

func (s *Store) unapplied(ctx context.Context, m *migrate.Migrator) (bool, error) {
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return false, fmt.Errorf("read migration status: %w", err)
	}
	return len(ms.Unapplied()) > 0, nil
}

// migrationLock serialises migrations: a session-level advisory lock on PostgreSQL (dropped
// with the connection), an flock on a file beside the database on SQLite (dropped with the
// process).
func (s *Store) migrationLock(ctx context.Context) (func(), error) {
	if s.Dialect == "postgres" {
		conn, err := s.DB.Conn(ctx)
		if err != nil {
			return nil, err
		}
		const key = 7_305_021_001 // "mailer migrations"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", key); err != nil {
			conn.Close()
			return nil, fmt.Errorf("lock migrations: %w", err)
		}
		return func() {
			conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", key)
			conn.Close()
		}, nil
	}
	f, err := os.OpenFile(s.path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// now is the store's clock, in UTC: every timestamp it writes comes from here.
func (s *Store) now() time.Time { return s.Clock.Now().UTC() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Close releases the connection pool.
func (s *Store) Close() error {
	s.closeStmts()
	return s.DB.Close()
}

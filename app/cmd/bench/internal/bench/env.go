package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun/driver/pgdriver"

	"mailer/app/config"
)

// benchSecret signs the benchmark's cookies; the database it protects is thrown away.
const benchSecret = "bench-secret-key-0123456789abcdef0123456789"

// Tunables are the configuration variables a benchmark passes through from the caller's
// environment (so `SEND_BATCH=500 go run ./app/cmd/bench send` tries another setting).
var Tunables = []string{"SEND_BATCH", "SEND_CONCURRENCY", "SMTP_MAX_CONNS", "SEND_RATE", "CLAIM_TTL", "SMTP_TIMEOUT"}

// environment is a throwaway configuration: a fresh database and the variables for
// config.Load.
type environment struct {
	vars    map[string]string
	dialect string
	cleanup []func()
}

func (e *environment) getenv(k string) string { return e.vars[k] }

func (e *environment) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

func (e *environment) config() (config.Config, error) { return config.Load(e.getenv) }

// newEnvironment prepares a fresh database: a SQLite file in a new temporary DATA_DIR when
// db is "" or "sqlite", or a new schema (dropped at close) in the PostgreSQL database db
// names. redisURL empty means the embedded Redis; otherwise the database it names is
// flushed first, and must be named explicitly so that db 0 is never flushed by accident.
// overrides (tunables from the caller) are applied last.
func newEnvironment(ctx context.Context, db, redisURL string, defaults, overrides map[string]string) (*environment, error) {
	dir, err := os.MkdirTemp("", "mailer-bench-")
	if err != nil {
		return nil, err
	}
	e := &environment{vars: map[string]string{
		"DATA_DIR":   dir,
		"SECRET_KEY": benchSecret,
		"LOG_LEVEL":  "warn",
		"MAIL_FROM":  "Mailer Bench <bench@mailer.invalid>",
		// Sign-in is benchmarked once, not its limiter.
		"RATE_LIMIT_LOGIN": "1000/1m",
	}}
	e.cleanup = append(e.cleanup, func() { os.RemoveAll(dir) })
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	switch {
	case db == "" || db == "sqlite":
		e.dialect = "sqlite"
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		dsn, drop, err := freshSchema(ctx, db)
		if err != nil {
			return nil, err
		}
		e.cleanup = append(e.cleanup, drop)
		e.vars["DATABASE_URL"] = dsn
		e.dialect = "postgres"
	default:
		return nil, fmt.Errorf("-db must be sqlite or a postgres:// URL, got %q", db)
	}
	if redisURL != "" {
		if err := flushRedis(ctx, redisURL); err != nil {
			return nil, err
		}
		e.vars["REDIS_URL"] = redisURL
	}
	for k, v := range defaults {
		e.vars[k] = v
	}
	for k, v := range overrides {
		if v != "" {
			e.vars[k] = v
		}
	}
	ok = true
	return e, nil
}

// freshSchema creates an empty schema in the database of base and returns a DSN whose
// search_path is that schema, and a function that drops it.
func freshSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, errors.New("-db is not a valid postgres:// URL")
	}
	b := make([]byte, 5)
	rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	admin, err := openPG(base)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema on -db: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	}
	return u.String(), drop, nil
}

// openPG opens the PostgreSQL database dsn names. The driver panics on a DSN it cannot
// read; that is an error here.
func openPG(dsn string) (db *sql.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("not a usable postgres:// URL: %v", r)
		}
	}()
	return sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn))), nil
}

// CheckPostgres makes sure dsn is a postgres:// URL of a database that answers, within 10 s.
func CheckPostgres(ctx context.Context, dsn string) error {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return fmt.Errorf("must be a postgres:// URL, got %q", dsn)
	}
	if _, err := url.Parse(dsn); err != nil {
		return errors.New("not a valid postgres:// URL")
	}
	db, err := openPG(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL does not answer: %w", err)
	}
	return nil
}

func flushRedis(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return fmt.Errorf("-redis must look like redis://127.0.0.1:6379/14, got %q", raw)
	}
	if strings.Trim(u.Path, "/") == "" {
		return errors.New("-redis must name a database number, e.g. redis://127.0.0.1:6379/14: that database is flushed")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	opts.DisableIdentity = true
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush -redis database %d: %w", opts.DB, err)
	}
	return nil
}

func logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun/driver/pgdriver"

	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
)

// DatabaseURL returns the DSN and dialect for a fresh, empty database of this test's own:
// a new schema in TEST_DATABASE_URL's database, or a new SQLite file.
func DatabaseURL(t testing.TB) (dsn, dialect string) {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if RequireServices() {
			t.Fatal("REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set")
		}
		return config.SQLiteDSN(filepath.Join(t.TempDir(), "mailer.db")), "sqlite"
	}
	schema := "t_" + randomHex(6)
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema on TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() {
		admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), "postgres"
}

// DB opens a migrated store on a database of this test's own.
func DB(t testing.TB, clock mailing.Clock) *store.Store {
	t.Helper()
	s, _ := SharedDB(t, clock)
	return s
}

// SharedDB is DB for a test that starts other processes on the same database: url is the
// DATABASE_URL they take — a PostgreSQL DSN carries the test's schema as search_path, and
// a SQLite file is shared in WAL mode.
func SharedDB(t testing.TB, clock mailing.Clock) (s *store.Store, url string) {
	t.Helper()
	dsn, dialect := DatabaseURL(t)
	url = dsn
	if dialect == "sqlite" {
		url = "sqlite:" + config.SQLitePath(dsn)
	}
	log, _ := Logger(t)
	if clock == nil {
		clock = NewClock()
	}
	s, err := store.Open(context.Background(), dsn, dialect, clock, log)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s, url
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

package store_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"mailer/app/config"
	"mailer/app/store"
	"mailer/app/testutil"
	"mailer/db"
)

// migrationNames lists the embedded migrations of a dialect as Bun names them.
func migrationNames(t *testing.T, dialect string) []string {
	t.Helper()
	files, err := fs.Glob(db.Migrations(dialect), "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.SplitN(f, "_", 2)[0])
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no embedded %s migrations", dialect)
	}
	return names
}

// sqliteStore opens a migrated SQLite store of the test's own whatever TEST_DATABASE_URL
// says: these tests are about SQLite's settings.
func sqliteStore(t *testing.T) *store.Store {
	t.Helper()
	log, _ := testutil.Logger(t)
	dsn := config.SQLiteDSN(filepath.Join(t.TempDir(), "mailer.db"))
	s, err := store.Open(context.Background(), dsn, "sqlite", testutil.NewClock(), log)
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func TestMigrateAppliesEveryMigrationOnAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	dsn, dialect := testutil.DatabaseURL(t)
	log, _ := testutil.Logger(t)
	s, err := store.Open(ctx, dsn, dialect, testutil.NewClock(), log)
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	defer s.Close()

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	want := migrationNames(t, dialect)
	sort.Strings(applied)
	if strings.Join(applied, ",") != strings.Join(want, ",") {
		t.Errorf("%s: first Migrate applied %v, want every embedded migration %v", dialect, applied, want)
	}

	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("%s: second Migrate applied %v, want nothing", dialect, again)
	}
}

func TestMigratedDatabaseHasUsersTableAndMigratesNoFurther(t *testing.T) {
	ctx := context.Background()
	s := testutil.DB(t, nil)

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("%s: Migrate on a migrated database applied %v, want nothing", s.Dialect, applied)
	}

	var n int
	if err := s.DB.NewSelect().Table("users").ColumnExpr("count(*)").Scan(ctx, &n); err != nil {
		t.Fatalf("%s: query users: %v", s.Dialect, err)
	}
	if n != 0 {
		t.Errorf("%s: fresh users table has %d rows, want 0", s.Dialect, n)
	}
	if _, err := s.DB.ExecContext(ctx,
		"INSERT INTO users (email, created_at, updated_at) VALUES (?, ?, ?)",
		"a@example.com", s.Clock.Now(), s.Clock.Now()); err != nil {
		t.Fatalf("%s: insert into users: %v", s.Dialect, err)
	}
	var role string
	if err := s.DB.NewSelect().Table("users").Column("role").Where("email = ?", "a@example.com").Scan(ctx, &role); err != nil {
		t.Fatalf("%s: read back user: %v", s.Dialect, err)
	}
	if role != "user" {
		t.Errorf("%s: default role = %q, want user", s.Dialect, role)
	}
}

func TestStorePingAnswersOnBothDialects(t *testing.T) {
	s := testutil.DB(t, nil)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("%s: Ping: %v", s.Dialect, err)
	}
}

// connPragmas reads the pragmas of one specific connection.
func connPragmas(ctx context.Context, c bun.Conn) (store.Pragmas, error) {
	var p store.Pragmas
	for _, q := range []struct {
		sql  string
		dest any
	}{
		{"PRAGMA journal_mode", &p.JournalMode},
		{"PRAGMA foreign_keys", &p.ForeignKeys},
		{"PRAGMA busy_timeout", &p.BusyTimeout},
		{"PRAGMA synchronous", &p.Synchronous},
	} {
		if err := c.QueryRowContext(ctx, q.sql).Scan(q.dest); err != nil {
			return p, err
		}
	}
	p.JournalMode = strings.ToLower(p.JournalMode)
	return p, nil
}

var wantPragmas = store.Pragmas{JournalMode: "wal", ForeignKeys: 1, BusyTimeout: 5000, Synchronous: 1}

func TestSQLitePragmasReportWALForeignKeysAndBusyTimeout(t *testing.T) {
	s := sqliteStore(t)
	p, err := s.Pragmas(context.Background())
	if err != nil {
		t.Fatalf("Pragmas: %v", err)
	}
	if p != wantPragmas {
		t.Errorf("Pragmas() = %+v, want %+v", p, wantPragmas)
	}
}

func TestSQLitePragmasHoldOnEveryPooledConnection(t *testing.T) {
	ctx := context.Background()
	s := sqliteStore(t)
	const n = 6

	// Hold n connections at once so each is a distinct one from the pool.
	conns := make([]bun.Conn, n)
	for i := range conns {
		c, err := s.DB.Conn(ctx)
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	if got := s.DB.Stats().InUse; got < n {
		t.Fatalf("pool has %d connections in use, want at least %d distinct ones", got, n)
	}

	results := make([]store.Pragmas, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { results[i], errs[i] = connPragmas(ctx, conns[i]) })
	}
	wg.Wait()
	for i := range conns {
		if errs[i] != nil {
			t.Errorf("connection %d: %v", i, errs[i])
		} else if results[i] != wantPragmas {
			t.Errorf("connection %d pragmas = %+v, want %+v", i, results[i], wantPragmas)
		}
	}

	// With all of those busy, Pragmas() has to use yet another, newly opened connection.
	p, err := s.Pragmas(ctx)
	if err != nil {
		t.Fatalf("Pragmas: %v", err)
	}
	if p != wantPragmas {
		t.Errorf("Pragmas() on a new connection = %+v, want %+v", p, wantPragmas)
	}
}

func TestOpenRejectsSQLiteDSNWithoutPragmas(t *testing.T) {
	log, _ := testutil.Logger(t)
	dsn := "file:" + filepath.Join(t.TempDir(), "plain.db")
	s, err := store.Open(context.Background(), dsn, "sqlite", testutil.NewClock(), log)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded, want an error about missing pragmas", dsn)
	}
	if !strings.Contains(err.Error(), "pragmas") {
		t.Errorf("error %q does not mention pragmas", err)
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("error %q does not point at DATABASE_URL", err)
	}
}

func TestOpenRejectsUnknownDialect(t *testing.T) {
	log, _ := testutil.Logger(t)
	_, err := store.Open(context.Background(), "mysql://db", "mysql", testutil.NewClock(), log)
	if err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Errorf("Open with dialect mysql: err = %v, want an error naming the dialect", err)
	}
}

func TestSQLiteRejectsForeignKeyViolations(t *testing.T) {
	ctx := context.Background()
	s := sqliteStore(t)
	for _, q := range []string{
		"CREATE TABLE fk_parent (id INTEGER PRIMARY KEY)",
		"CREATE TABLE fk_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES fk_parent (id))",
		"INSERT INTO fk_parent (id) VALUES (1)",
		"INSERT INTO fk_child (id, parent_id) VALUES (1, 1)",
	} {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err := s.DB.ExecContext(ctx, "INSERT INTO fk_child (id, parent_id) VALUES (2, 999)")
	if err == nil {
		t.Fatal("inserting a child of a missing parent succeeded: foreign keys are not enforced")
	}
	if !strings.Contains(strings.ToUpper(err.Error()), "FOREIGN KEY") {
		t.Errorf("error %q is not a foreign key violation", err)
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM fk_child").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("fk_child has %d rows, want 1 (the dangling row must not be stored)", n)
	}
}

func TestSQLiteConcurrentReadThenWriteTransactionsAllSucceed(t *testing.T) {
	ctx := context.Background()
	s := sqliteStore(t)
	if _, err := s.DB.ExecContext(ctx, "CREATE TABLE tx_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.ExecContext(ctx, "INSERT INTO tx_counter (id, n) VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}

	const workers, rounds = 8, 100
	errs := make(chan error, workers*rounds)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				errs <- s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM tx_counter WHERE id = 1").Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "UPDATE tx_counter SET n = ? WHERE id = 1", n+1)
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 3 {
				t.Errorf("transaction failed: %v", err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d read-then-write transactions failed", failed, workers*rounds)
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT n FROM tx_counter WHERE id = 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != workers*rounds {
		t.Errorf("counter = %d, want %d", n, workers*rounds)
	}
}

// The prepared statements are written for plans made once (prepared.go), run without JIT
// compilation; a DSN that chooses otherwise is obeyed.
func TestPostgreSQLPlansPreparedStatementsOnceUnlessTheDSNSays(t *testing.T) {
	dsn, dialect := testutil.DatabaseURL(t)
	if dialect != "postgres" {
		t.Skip("PostgreSQL only (TEST_DATABASE_URL unset)")
	}
	log, _ := testutil.Logger(t)
	for _, tc := range []struct{ dsn, setting, want string }{
		{dsn, "plan_cache_mode", "force_generic_plan"},
		{dsn + "&plan_cache_mode=auto", "plan_cache_mode", "auto"},
		{dsn, "jit", "off"},
		{dsn + "&jit=on", "jit", "on"},
	} {
		s, err := store.Open(context.Background(), tc.dsn, dialect, testutil.NewClock(), log)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = s.DB.QueryRowContext(context.Background(), "SHOW "+tc.setting).Scan(&got)
		s.Close()
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.setting, got, err, tc.want)
		}
	}
}

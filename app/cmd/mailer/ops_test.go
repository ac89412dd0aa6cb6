package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

// sqliteEnv is a configuration on a SQLite file of the test's own whatever TEST_DATABASE_URL
// says (backup is for SQLite), migrated, with its store open for seeding.
func sqliteEnv(t *testing.T) (map[string]string, *store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mailer.db")
	vars := map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": "sqlite:" + path}
	if out, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	return vars, openSQLite(t, path), path
}

func openSQLite(t *testing.T, path string) *store.Store {
	t.Helper()
	log, _ := testutil.Logger(t)
	st, err := store.Open(context.Background(), config.SQLiteDSN(path), "sqlite", mailing.SystemClock{}, log)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func userEmails(t *testing.T, st *store.Store) []string {
	t.Helper()
	var emails []string
	if err := st.DB.NewSelect().Table("users").Column("email").Order("email").Scan(context.Background(), &emails); err != nil {
		t.Fatalf("read users: %v", err)
	}
	return emails
}

func TestBackupWritesAConsistentCopyOfSQLite(t *testing.T) {
	vars, st, _ := sqliteEnv(t)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := st.CreateUser(context.Background(), &mailing.User{Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(t.TempDir(), "backup.db")
	out, err := runCmd(t, vars, "backup", target)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, target) {
		t.Errorf("backup output %q does not name the file", out)
	}
	// The server keeps writing; the copy is what was there at the time.
	if err := st.CreateUser(context.Background(), &mailing.User{Email: "later@example.com"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(userEmails(t, openSQLite(t, target)), " ")
	if got != "a@example.com b@example.com c@example.com" {
		t.Errorf("users in the backup: %q", got)
	}
}

func TestBackupRefusesAnExistingFile(t *testing.T) {
	vars, _, _ := sqliteEnv(t)
	target := filepath.Join(t.TempDir(), "taken.db")
	if err := os.WriteFile(target, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCmd(t, vars, "backup", target)
	if err == nil || !strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("backup onto an existing file: err = %v, want one line saying it exists", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Error("the existing file was changed")
	}
	if _, err := runCmd(t, vars, "backup"); err == nil {
		t.Error("backup without a file succeeded")
	}
}

func TestBackupOnPostgresPointsToPgDump(t *testing.T) {
	target := filepath.Join(t.TempDir(), "backup.db")
	vars := map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": "postgres://mailer:pgsecret@127.0.0.1:1/mailer"}
	out, err := runCmd(t, vars, "backup", target)
	if err == nil {
		t.Fatal("backup on postgres succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "pg_dump") || !strings.Contains(msg, "DATABASE_URL") || strings.Contains(msg, "\n") {
		t.Errorf("error %q should be one line pointing to pg_dump with DATABASE_URL", msg)
	}
	if strings.Contains(msg+out, "pgsecret") {
		t.Error("the database password was printed")
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("a file was written")
	}
}

// checkEnv is a migrated database of the test's own (PostgreSQL when TEST_DATABASE_URL is
// set), the test's Redis when TEST_REDIS_URL is set, and SMTP_URL with credentials.
func checkEnv(t *testing.T, smtpURL string) map[string]string {
	t.Helper()
	vars, _ := userEnv(t)
	if out, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if r := testutil.RedisURL(t); r != "" {
		vars["REDIS_URL"] = r
	}
	vars["SMTP_URL"] = smtpURL
	vars["SMTP_TIMEOUT"] = "3s"
	return vars
}

// tableRow returns the table line of component, or "".
func tableRow(out, component string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == component {
			return line
		}
	}
	return ""
}

func TestCheckPassesWhenEverythingAnswers(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars := checkEnv(t, "smtp://mailer:smtpsecret@"+sink.Addr())
	out, err := runCmd(t, vars, "check")
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "COMPONENT") {
		t.Errorf("no table header:\n%s", out)
	}
	for _, c := range []string{"configuration", "database", "smtp"} {
		if f := strings.Fields(tableRow(out, c)); len(f) < 2 || f[1] != "ok" {
			t.Errorf("%s row not ok:\n%s", c, out)
		}
	}
	redis := strings.Fields(tableRow(out, "redis"))
	wantRedis := "embedded"
	if vars["REDIS_URL"] != "" {
		wantRedis = "ok"
	}
	if len(redis) < 2 || redis[1] != wantRedis {
		t.Errorf("redis row should be %s:\n%s", wantRedis, out)
	}
	if !strings.Contains(tableRow(out, "database"), "up to date") {
		t.Errorf("database row does not say the migrations are up to date:\n%s", out)
	}
	if strings.Contains(out, "smtpsecret") {
		t.Errorf("check printed the SMTP password:\n%s", out)
	}
	if sink.Count() != 0 {
		t.Errorf("check sent %d mail(s)", sink.Count())
	}
}

func TestCheckFailsWhenSMTPIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := checkEnv(t, "smtp://mailer:smtpsecret@"+addr)
	out, err := runCmd(t, vars, "check")
	if err == nil {
		t.Fatalf("check succeeded with SMTP down:\n%s", out)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "smtp") {
		t.Errorf("error %q should be one line naming smtp", err)
	}
	row := tableRow(out, "smtp")
	if f := strings.Fields(row); len(f) < 2 || f[1] != "FAIL" || !strings.Contains(row, addr) {
		t.Errorf("smtp row should fail and name %s:\n%s", addr, out)
	}
	if f := strings.Fields(tableRow(out, "database")); len(f) < 2 || f[1] != "ok" {
		t.Errorf("database row not ok:\n%s", out)
	}
	if strings.Contains(out+err.Error(), "smtpsecret") {
		t.Errorf("check printed the SMTP password:\n%s", out)
	}
}

func TestCheckReportsAnUnmigratedDatabase(t *testing.T) {
	vars, _ := userEnv(t) // a fresh, empty database
	out, err := runCmd(t, vars, "check")
	if err == nil {
		t.Fatalf("check passed on an unmigrated database:\n%s", out)
	}
	row := tableRow(out, "database")
	if f := strings.Fields(row); len(f) < 2 || f[1] != "FAIL" || !strings.Contains(row, "mailer migrate") {
		t.Errorf("database row should fail and point to mailer migrate:\n%s", out)
	}
	if f := strings.Fields(tableRow(out, "smtp")); len(f) < 2 || f[1] != "log" {
		t.Errorf("without SMTP_URL the smtp row should say log mode:\n%s", out)
	}
}

func TestCheckReportsBadConfiguration(t *testing.T) {
	out, err := runCmd(t, map[string]string{"DATA_DIR": t.TempDir(), "REDIS_URL": "http://nope"}, "check")
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("check with a bad REDIS_URL: err = %v", err)
	}
	if f := strings.Fields(tableRow(out, "configuration")); len(f) < 2 || f[1] != "FAIL" {
		t.Errorf("configuration row should fail:\n%s", out)
	}
}

func TestCheckFailsWhenRedisIsUnreachableWithoutShowingItsPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := checkEnv(t, "")
	delete(vars, "SMTP_URL")
	vars["REDIS_URL"] = "redis://:redissecret@" + addr + "/0"
	out, err := runCmd(t, vars, "check")
	if err == nil {
		t.Fatalf("check succeeded with Redis down:\n%s", out)
	}
	if f := strings.Fields(tableRow(out, "redis")); len(f) < 2 || f[1] != "FAIL" {
		t.Errorf("redis row should fail:\n%s", out)
	}
	if strings.Contains(out+err.Error(), "redissecret") {
		t.Errorf("check printed the Redis password:\n%s", out)
	}
}

// While the workers find the mail server unreachable, check fails on a "sending" row that
// says since when and until when sending waits; once it is back the row is ok.
func TestCheckReportsARelayOutage(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, open := userEnv(t)
	if out, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	vars["SMTP_URL"], vars["SMTP_TIMEOUT"] = sink.URL(), "3s"
	st, ctx := open(), context.Background()
	if out, err := runCmd(t, vars, "check"); err != nil || !strings.HasPrefix(strings.Fields(tableRow(out, "sending"))[1], "ok") {
		t.Fatalf("check before the outage: %v\n%s", err, out)
	}
	if _, _, err := st.RelayFailed(ctx, "smtp connect: connection refused", func(int) time.Duration { return 5 * time.Second }); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, vars, "check")
	row := tableRow(out, "sending")
	if err == nil || !strings.Contains(err.Error(), "sending") || !strings.Contains(row, "FAIL") ||
		!strings.Contains(row, "mail server unreachable since") || !strings.Contains(row, "next try at") ||
		!strings.Contains(row, "connection refused") {
		t.Fatalf("check during the outage: %v\n%s", err, out)
	}
	if _, _, err := st.RelayUp(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, vars, "check"); err != nil {
		t.Fatalf("check after the outage: %v\n%s", err, out)
	}
}

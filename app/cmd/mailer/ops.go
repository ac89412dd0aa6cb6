package main

// Operator commands: backup (a consistent copy of the SQLite database) and check (is every
// configured part reachable).

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	bunmigrate "github.com/uptrace/bun/migrate"

	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/tasks"
	"mailer/db"
)

// backupCmd writes a consistent snapshot of the SQLite database with VACUUM INTO, which reads
// inside one transaction: the server may keep running meanwhile.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, err := parseFlags("backup", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("backup: give the file to write, e.g. mailer backup mailer-backup.db")
	}
	target := fs.Arg(0)
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.Dialect != "sqlite" {
		return errors.New(`backup: DATABASE_URL is PostgreSQL; back it up with pg_dump, e.g. pg_dump "$DATABASE_URL" > mailer.sql`)
	}
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("backup: %s already exists; refusing to overwrite it, choose a new file", target)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %v", err)
	}
	src := config.SQLitePath(cfg.DatabaseURL)
	if _, err := os.Stat(src); err != nil {
		// Opening would create an empty database: there is nothing to back up.
		return fmt.Errorf("backup: no database at %s (check DATABASE_URL or DATA_DIR)", src)
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("backup: %v", err)
	}
	s, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer s.Close()
	// VACUUM INTO also refuses a target that exists, should one appear since the check.
	if _, err := s.DB.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		return fmt.Errorf("backup: %s", oneLine(err.Error()))
	}
	size := int64(0)
	if st, err := os.Stat(abs); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", src, target, size)
	return nil
}

// checkRow is a line of check's table.
type checkRow struct {
	component, status, detail string
	failed                    bool
}

const (
	statusOK   = "ok"
	statusFail = "FAIL"
)

// checkCmd tests each configured part once and prints a table. It changes nothing: no
// migration runs, no mail is sent, and credentials are never printed.
func checkCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, err := parseFlags("check", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	var rows []checkRow
	cfg, err := config.Load(getenv)
	if err != nil {
		rows = append(rows, checkRow{"configuration", statusFail, oneLine(err.Error()), true})
		for _, c := range []string{"database", "redis", "smtp", "sending"} {
			rows = append(rows, checkRow{c, "skipped", "configuration did not load", false})
		}
	} else {
		rows = append(rows, checkRow{"configuration", statusOK, "loaded", false})
		dbRow := checkDatabase(ctx, cfg)
		rows = append(rows, dbRow)
		rows = append(rows, checkRedis(ctx, cfg))
		rows = append(rows, checkSMTP(ctx, cfg))
		if dbRow.failed {
			rows = append(rows, checkRow{"sending", "skipped", "database not available", false})
		} else {
			rows = append(rows, checkSending(ctx, cfg))
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATUS\tDETAIL")
	var failed []string
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.component, r.status, r.detail)
		if r.failed {
			failed = append(failed, r.component)
		}
	}
	tw.Flush()
	if len(failed) > 0 {
		return fmt.Errorf("check: %s failed (see the table above)", strings.Join(failed, ", "))
	}
	return nil
}

func checkDatabase(ctx context.Context, cfg config.Config) checkRow {
	row := checkRow{component: "database"}
	fail := func(format string, a ...any) checkRow {
		row.status, row.failed = statusFail, true
		row.detail = oneLine(fmt.Sprintf(format, a...))
		return row
	}
	where := "sqlite " + config.SQLitePath(cfg.DatabaseURL)
	if cfg.Dialect == "postgres" {
		where = "postgres " + safeURL(cfg.DatabaseURL)
	} else if _, err := os.Stat(config.SQLitePath(cfg.DatabaseURL)); err != nil {
		// Opening would create the file: report instead of changing anything.
		return fail("%s: no database file yet (run mailer migrate, or start the server once)", where)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail("%s: %v", where, err)
	}
	defer s.Close()
	migrations := bunmigrate.NewMigrations()
	if err := migrations.Discover(db.Migrations(s.Dialect)); err != nil {
		return fail("%s: read embedded migrations: %v", where, err)
	}
	m := bunmigrate.NewMigrator(s.DB, migrations)
	all, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return fail("%s: reachable, but migrations cannot be read (run mailer migrate): %v", where, err)
	}
	pending := all.Unapplied()
	if len(pending) > 0 {
		return fail("%s: reachable, %d of %d migrations not applied (run mailer migrate): %s",
			where, len(pending), len(all), migrationNames(pending))
	}
	unknown, err := m.MissingMigrations(ctx)
	if err != nil {
		return fail("%s: reachable, but migrations cannot be read: %v", where, err)
	}
	if len(unknown) > 0 {
		return fail("%s: reachable, but %d applied migration(s) are unknown to this mailer (a newer version?): %s",
			where, len(unknown), migrationNames(unknown))
	}
	row.status = statusOK
	row.detail = fmt.Sprintf("%s: reachable, %d migrations applied, up to date", where, len(all))
	return row
}

// checkSending reports the mail server as the workers last saw it (the relay breaker's
// state in the database): an outage in progress fails the check, with until when sending
// waits.
func checkSending(ctx context.Context, cfg config.Config) checkRow {
	row := checkRow{component: "sending"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		row.status, row.failed, row.detail = statusFail, true, oneLine(err.Error())
		return row
	}
	defer s.Close()
	r, err := s.Relay(ctx)
	switch {
	case err != nil:
		row.status, row.failed, row.detail = statusFail, true, oneLine(err.Error())
	case r.Down() && r.NextTryAt != nil:
		row.status, row.failed = statusFail, true
		row.detail = oneLine(fmt.Sprintf("mail server unreachable since %s, next try at %s (%d failed tries; last: %s)",
			r.DownSince.UTC().Format(time.RFC3339), r.NextTryAt.UTC().Format(time.RFC3339), r.Failures, r.LastError))
	default:
		row.status, row.detail = statusOK, "workers reach the mail server (no outage recorded)"
	}
	return row
}

func migrationNames(ms bunmigrate.MigrationSlice) string {
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

func checkRedis(ctx context.Context, cfg config.Config) checkRow {
	row := checkRow{component: "redis"}
	if cfg.RedisURL == "" {
		row.status, row.detail = "embedded", "REDIS_URL is not set: an in-process server is used (not checked)"
		return row
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := tasks.OpenRedis(ctx, cfg.RedisURL, slog.New(slog.DiscardHandler))
	if err != nil {
		row.status, row.failed = statusFail, true
		row.detail = oneLine(safeURL(cfg.RedisURL) + ": " + err.Error())
		return row
	}
	r.Close()
	row.status, row.detail = statusOK, safeURL(cfg.RedisURL)+": answered PING"
	return row
}

// checkSMTP connects to the mail server and says EHLO (and STARTTLS when offered), within
// SMTP_TIMEOUT. It neither authenticates nor sends.
func checkSMTP(ctx context.Context, cfg config.Config) checkRow {
	row := checkRow{component: "smtp"}
	if cfg.SMTPURL == "" {
		row.status, row.detail = "log", "SMTP_URL is not set: development mail mode, mails are printed to the log"
		return row
	}
	u, err := url.Parse(cfg.SMTPURL)
	if err != nil {
		row.status, row.failed, row.detail = statusFail, true, "SMTP_URL does not parse"
		return row
	}
	implicit := u.Scheme == "smtps"
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "25"}[implicit]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	notes, err := smtpHello(ctx, addr, u.Hostname(), implicit, u.User != nil, cfg.SMTPTimeout)
	if err != nil {
		row.status, row.failed = statusFail, true
		row.detail = oneLine(fmt.Sprintf("%s://%s: %v", u.Scheme, addr, err))
		return row
	}
	row.status = statusOK
	row.detail = fmt.Sprintf("%s://%s: %s (no mail sent)", u.Scheme, addr, notes)
	return row
}

func smtpHello(ctx context.Context, addr, host string, implicit, withAuth bool, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	var nc net.Conn
	var err error
	if implicit {
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	c, err := smtp.NewClient(nc, host)
	if err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	helo, _ := os.Hostname()
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return "", fmt.Errorf("EHLO: %w", err)
	}
	notes := []string{"EHLO ok"}
	tlsOn := implicit
	if implicit {
		notes = append(notes, "TLS")
	} else if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return "", fmt.Errorf("STARTTLS: %w", err)
		}
		tlsOn = true
		notes = append(notes, "STARTTLS ok")
	}
	if withAuth {
		if !tlsOn && !isLoopbackHost(host) {
			return "", errors.New("no TLS offered: mailer refuses to send the password unencrypted")
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return "", errors.New("credentials are set but the server offers no AUTH")
		}
		notes = append(notes, "AUTH offered (credentials not tested)")
	}
	c.Quit() //nolint:errcheck // the check is done
	return strings.Join(notes, ", "), nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// safeURL shows where a URL points without its credentials or query.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

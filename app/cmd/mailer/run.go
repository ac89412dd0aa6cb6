package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"mailer/app"
	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
)

// exitError carries a specific exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

const usage = `usage: mailer [command] [flags]

commands:
  serve [--with-worker]   run the web server (the default); with an embedded Redis it also runs the worker
  migrate                 apply database migrations and exit
  send [--failed] [--wait 2m] [--async] ID
                          send a mailing now in this process (no Redis needed); exit 3 if retries still wait
  healthcheck             exit 0 when the local server's /healthz answers 200 (for containers)
  backup FILE             copy the SQLite database into FILE, a consistent snapshot (PostgreSQL: use pg_dump)
  check                   test the configuration, database, Redis and SMTP, print a table; exit 1 on a failure
  user SUBCOMMAND         manage accounts: create --email E [--manager] (password on stdin, else
                          generated and printed), promote E, block E, unblock E
  token SUBCOMMAND        manage API tokens: create --email E --name N [--read-only] (prints the token
                          as the last word), list --email E, revoke ID
  help                    print this text

configuration comes from environment variables; see README.md`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || !strings.HasPrefix(args[0], "-")) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "serve":
		app.TuneGC(getenv)
		return serve(ctx, args, getenv, stdout)
	case "migrate":
		return migrate(ctx, args, getenv, stdout)
	case "send":
		return sendCmd(ctx, args, getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "backup":
		return backupCmd(ctx, args, getenv, stdout)
	case "check":
		return checkCmd(ctx, args, getenv, stdout)
	case "user":
		return userCmd(ctx, args, getenv, stdin, stdout)
	case "token":
		return tokenCmd(ctx, args, getenv, stdout)
	}
	return fmt.Errorf("unknown command %q (try: mailer help)", cmd)
}

// flags parses args with errors reported as one line, never the flag package's usage dump.
func parseFlags(name string, args []string, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return fs, nil
}

func loadConfig(getenv func(string) string, stdout io.Writer) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.PrepareDataDir(); err != nil {
		return cfg, nil, err
	}
	return cfg, cfg.Logger(stdout), nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var withWorker bool
	fs, err := parseFlags("serve", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&withWorker, "with-worker", false, "also run the worker in this process")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, log, err := loadConfig(getenv, stdout)
	if err != nil {
		return err
	}
	generated, err := cfg.LoadSecretKey()
	if err != nil {
		return err
	}
	if generated {
		log.Warn("SECRET_KEY is not set: using a key generated into DATA_DIR; set SECRET_KEY when running several web processes")
	}
	if cfg.SMTPURL == "" {
		log.Warn("SMTP_URL is not set: development mail mode, every email is printed to this log and none is sent")
	}
	a, err := app.Open(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if a.Redis.Embedded || withWorker {
		if err := a.StartWorker(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on ADDR %s: %w", cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if _, err := parseFlags("migrate", args, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	cfg, log, err := loadConfig(getenv, stdout)
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, log)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(applied), strings.Join(applied, ", "))
	return nil
}

func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("healthcheck: /healthz answered " + resp.Status)
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"mailer/app/auth"
	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mailing"
	"mailer/app/store"
)

const userUsage = "create --email E [--manager], promote E, block E, unblock E"

// userCmd is the operator's account management: mailer user create|promote|block|unblock.
func userCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("user: missing subcommand (one of: " + userUsage + ")")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return userCreate(ctx, args, getenv, stdin, stdout)
	case "promote":
		return userUpdate(ctx, "promote", args, getenv, stdout, func(ctx context.Context, st *store.Store, u *mailing.User) (string, error) {
			return "is now a manager", st.SetRole(ctx, u.ID, mailing.RoleManager)
		})
	case "block":
		return userUpdate(ctx, "block", args, getenv, stdout, func(ctx context.Context, st *store.Store, u *mailing.User) (string, error) {
			return "is blocked", st.SetBlocked(ctx, u.ID, true)
		})
	case "unblock":
		return userUpdate(ctx, "unblock", args, getenv, stdout, func(ctx context.Context, st *store.Store, u *mailing.User) (string, error) {
			return "is unblocked", st.SetBlocked(ctx, u.ID, false)
		})
	}
	return fmt.Errorf("user: unknown subcommand %q (one of: %s)", sub, userUsage)
}

// openUserStore opens and migrates the database, so the commands work on a fresh DATA_DIR.
func openUserStore(ctx context.Context, getenv func(string) string, stdout io.Writer) (config.Config, *slog.Logger, *store.Store, error) {
	cfg, log, err := loadConfig(getenv, stdout)
	if err != nil {
		return cfg, nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, log)
	if err != nil {
		return cfg, nil, nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return cfg, nil, nil, err
	}
	return cfg, log, st, nil
}

func userCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	var (
		email   string
		manager bool
	)
	fs, err := parseFlags("user create", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the account's email address")
		fs.BoolVar(&manager, "manager", false, "give the account the manager role")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("user create: unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(email) == "" {
		return errors.New("user create: --email is required")
	}
	normalized, ok := mailing.NormalizeEmail(email)
	if !ok {
		return fmt.Errorf("user create: not a valid email address: %q", email)
	}
	password, err := readPassword(stdin)
	if err != nil {
		return fmt.Errorf("user create: read password from stdin: %w", err)
	}
	generated := password == ""
	if generated {
		password = auth.GeneratePassword()
	}

	cat, err := i18n.Load(config.Languages)
	if err != nil {
		return err
	}
	if msg := mailing.ValidatePassword(password, normalized); msg != "" {
		return fmt.Errorf("user create: password from stdin rejected: %s", cat.Translate("en", msg, nil))
	}
	cfg, log, st, err := openUserStore(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &auth.Service{Store: st, Catalog: cat, Config: cfg, Log: log}
	u, err := svc.CreateConfirmedUser(ctx, normalized, password, manager)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	log.Info("user created by operator", "user_id", u.ID, "role", u.Role)
	if generated {
		fmt.Fprintf(stdout, "created user %s (role %s); password: %s\n", u.Email, u.Role, password)
	} else {
		fmt.Fprintf(stdout, "created user %s (role %s)\n", u.Email, u.Role)
	}
	return nil
}

// readPassword returns the first line of stdin without its line ending, or "" when stdin is
// a terminal (nobody is piping a password in) or empty.
func readPassword(stdin io.Reader) (string, error) {
	if stdin == nil {
		return "", nil
	}
	if f, ok := stdin.(*os.File); ok {
		fi, err := f.Stat()
		if err != nil || fi.Mode()&os.ModeCharDevice != 0 {
			return "", nil
		}
	}
	// A password is at most mailing.PasswordMax runes; read a little more so an overlong
	// one is rejected rather than silently cut.
	line, err := bufio.NewReader(io.LimitReader(stdin, 4*mailing.PasswordMax+8)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// userUpdate looks up the one email argument and applies change to its account.
func userUpdate(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer,
	change func(context.Context, *store.Store, *mailing.User) (string, error)) error {
	fs, err := parseFlags("user "+name, args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("user %s: expected one email address, got %d arguments", name, fs.NArg())
	}
	email := fs.Arg(0)
	normalized, _ := mailing.NormalizeEmail(email)
	_, log, st, err := openUserStore(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, normalized)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return fmt.Errorf("no user with email %s", email)
	} else if err != nil {
		return err
	}
	what, err := change(ctx, st, u)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	log.Info("user changed by operator", "user_id", u.ID, "change", name)
	fmt.Fprintf(stdout, "%s %s\n", u.Email, what)
	return nil
}

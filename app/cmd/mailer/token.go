package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"mailer/app/auth"
	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mailing"
)

const tokenUsage = "create --email E --name N [--read-only], list --email E, revoke ID"

// tokenCmd manages API tokens: mailer token create|list|revoke.
func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("token: missing subcommand (one of: " + tokenUsage + ")")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return tokenCreate(ctx, args, getenv, stdout)
	case "list":
		return tokenList(ctx, args, getenv, stdout)
	case "revoke":
		return tokenRevoke(ctx, args, getenv, stdout)
	}
	return fmt.Errorf("token: unknown subcommand %q (one of: %s)", sub, tokenUsage)
}

func tokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var (
		email, name string
		readOnly    bool
	)
	fs, err := parseFlags("token create", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the account the token acts as")
		fs.StringVar(&name, "name", "", "what the token is for")
		fs.BoolVar(&readOnly, "read-only", false, "refuse every write made with the token")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create: unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(email) == "" || strings.TrimSpace(name) == "" {
		return errors.New("token create: --email and --name are required")
	}
	cfg, log, st, err := openUserStore(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := userByEmailArg(ctx, st, email)
	if err != nil {
		return err
	}
	cat, err := i18n.Load(config.Languages)
	if err != nil {
		return err
	}
	svc := &auth.Service{Store: st, Catalog: cat, Config: cfg, Log: log}
	t, value, err := svc.CreateAPIToken(ctx, u, name, readOnly)
	var invalid *mailing.Error
	if errors.As(err, &invalid) && invalid.Fields["name"] != "" {
		return fmt.Errorf("token create: --name: %s", cat.Translate("en", invalid.Fields["name"], nil))
	} else if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	access := "read-write"
	if t.ReadOnly {
		access = "read-only"
	}
	// The value goes last, alone after the colon, so scripts take the last word.
	fmt.Fprintf(stdout, "created %s token %d %q for %s; it is shown only now: %s\n", access, t.ID, t.Name, u.Email, value)
	return nil
}

func tokenList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var email string
	fs, err := parseFlags("token list", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "whose tokens to list")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 || strings.TrimSpace(email) == "" {
		return errors.New("token list: --email is required and nothing else")
	}
	_, _, st, err := openUserStore(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := userByEmailArg(ctx, st, email)
	if err != nil {
		return err
	}
	tokens, err := st.ListAPITokens(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-6s %-12s %-10s %-8s %-20s %-20s %s\n", "ID", "PREFIX", "ACCESS", "STATE", "CREATED", "LAST USED", "NAME")
	for _, t := range tokens {
		access, state, used := "read-write", "active", "never"
		if t.ReadOnly {
			access = "read-only"
		}
		if t.Revoked() {
			state = "revoked"
		}
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(stdout, "%-6d %-12s %-10s %-8s %-20s %-20s %s\n", t.ID, t.Prefix, access, state,
			t.CreatedAt.UTC().Format("2006-01-02 15:04:05"), used, t.Name)
	}
	return nil
}

func tokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, err := parseFlags("token revoke", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("token revoke: expected one token id, got %d arguments", fs.NArg())
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("token revoke: not a token id: %q", fs.Arg(0))
	}
	_, log, st, err := openUserStore(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.RevokeAPIToken(ctx, 0, id)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return fmt.Errorf("no token with id %d", id)
	} else if err != nil {
		return err
	}
	log.Info("api token revoked by operator", "token_id", t.ID, "user_id", t.UserID)
	fmt.Fprintf(stdout, "token %d %q is revoked\n", t.ID, t.Name)
	return nil
}

func userByEmailArg(ctx context.Context, st interface {
	UserByEmail(context.Context, string) (*mailing.User, error)
}, email string) (*mailing.User, error) {
	normalized, _ := mailing.NormalizeEmail(email)
	u, err := st.UserByEmail(ctx, normalized)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil, fmt.Errorf("no user with email %s", email)
	}
	return u, err
}

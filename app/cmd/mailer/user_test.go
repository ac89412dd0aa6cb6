package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailer/app/auth"
	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

// userEnv is a configuration of the test's own and the store behind it, for checking what
// the commands did.
func userEnv(t *testing.T) (map[string]string, func() *store.Store) {
	t.Helper()
	dsn, dialect := testutil.DatabaseURL(t)
	url := dsn
	if dialect == "sqlite" {
		url = "sqlite:" + config.SQLitePath(dsn)
	}
	vars := map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": url}
	open := func() *store.Store {
		t.Helper()
		log, _ := testutil.Logger(t)
		st, err := store.Open(context.Background(), dsn, dialect, mailing.SystemClock{}, log)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return vars, open
}

func runUser(t *testing.T, vars map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := func(k string) string { return vars[k] }
	err := run(context.Background(), append([]string{"user"}, args...), env, strings.NewReader(stdin), &out)
	return out.String(), err
}

func mustUser(t *testing.T, st *store.Store, email string) *mailing.User {
	t.Helper()
	u, err := st.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func TestUserCreateWithPasswordFromStdin(t *testing.T) {
	vars, open := userEnv(t)
	const pw = "correct horse battery"
	out, err := runUser(t, vars, pw+"\nsecond line ignored\n", "create", "--email", "Ann@Example.com")
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "created user ann@example.com (role user)") {
		t.Errorf("output %q lacks the confirmation line", out)
	}
	if strings.Contains(out, "password") {
		t.Errorf("output %q shows a password the operator supplied", out)
	}
	u := mustUser(t, open(), "ann@example.com")
	if !u.Confirmed() || u.Blocked() || u.Role != mailing.RoleUser {
		t.Errorf("user = confirmed %v blocked %v role %q, want confirmed, active, user", u.Confirmed(), u.Blocked(), u.Role)
	}
	if ok, err := auth.CheckPassword(u.PasswordHash, pw); err != nil || !ok {
		t.Errorf("stored hash does not verify the stdin password (without its newline): %v %v", ok, err)
	}
}

func TestUserCreateManagerGeneratesPassword(t *testing.T) {
	vars, open := userEnv(t)
	out, err := runUser(t, vars, "", "create", "--email", "boss@example.com", "--manager")
	if err != nil {
		t.Fatalf("user create --manager: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`created user boss@example\.com \(role manager\); password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output %q lacks the generated password", out)
	}
	u := mustUser(t, open(), "boss@example.com")
	if u.Role != mailing.RoleManager || !u.Confirmed() {
		t.Errorf("user = role %q confirmed %v, want a confirmed manager", u.Role, u.Confirmed())
	}
	if ok, err := auth.CheckPassword(u.PasswordHash, m[1]); err != nil || !ok {
		t.Errorf("printed password %q does not verify against the stored hash: %v %v", m[1], ok, err)
	}
}

func TestUserCreateRejects(t *testing.T) {
	vars, _ := userEnv(t)
	if out, err := runUser(t, vars, "operator pass 42\n", "create", "--email", "dup@example.com"); err != nil {
		t.Fatalf("first create: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate", "operator pass 42\n", []string{"create", "--email", "DUP@example.com"}, "already exists"},
		{"bad email", "operator pass 42\n", []string{"create", "--email", "not-an-email"}, "not a valid email"},
		{"missing email", "operator pass 42\n", []string{"create"}, "--email"},
		{"short password", "short\n", []string{"create", "--email", "new@example.com"}, "8 characters"},
		{"bad flag", "", []string{"create", "--nope"}, "nope"},
		{"no subcommand", "", nil, "promote"},
		{"unknown subcommand", "", []string{"frob"}, "unblock"},
		{"promote without email", "", []string{"promote"}, "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runUser(t, vars, tc.stdin, tc.args...)
			if err == nil {
				t.Fatalf("succeeded, want an error; output %q", out)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.want)
			}
		})
	}
}

func TestUserPromoteBlockUnblock(t *testing.T) {
	vars, open := userEnv(t)
	ctx := context.Background()
	if out, err := runUser(t, vars, "operator pass 42\n", "create", "--email", "eve@example.com"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	st := open()

	out, err := runUser(t, vars, "", "promote", "Eve@example.com")
	if err != nil || !strings.Contains(out, "eve@example.com is now a manager") {
		t.Fatalf("promote: %v %q", err, out)
	}
	if u := mustUser(t, st, "eve@example.com"); u.Role != mailing.RoleManager {
		t.Errorf("role after promote = %q, want manager", u.Role)
	}

	u := mustUser(t, st, "eve@example.com")
	if err := st.CreateSession(ctx, "session-hash", u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	out, err = runUser(t, vars, "", "block", "eve@example.com")
	if err != nil || !strings.Contains(out, "eve@example.com is blocked") {
		t.Fatalf("block: %v %q", err, out)
	}
	if u := mustUser(t, st, "eve@example.com"); !u.Blocked() {
		t.Error("BlockedAt not set after block")
	}
	if n, err := st.CountSessions(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("sessions after block = %d (%v), want 0", n, err)
	}

	out, err = runUser(t, vars, "", "unblock", "eve@example.com")
	if err != nil || !strings.Contains(out, "eve@example.com is unblocked") {
		t.Fatalf("unblock: %v %q", err, out)
	}
	if u := mustUser(t, st, "eve@example.com"); u.Blocked() {
		t.Error("BlockedAt still set after unblock")
	}
}

func TestUserUnknownEmail(t *testing.T) {
	vars, _ := userEnv(t)
	for _, sub := range []string{"promote", "block", "unblock"} {
		_, err := runUser(t, vars, "", sub, "ghost@example.com")
		if err == nil || !strings.Contains(err.Error(), "no user with email ghost@example.com") {
			t.Errorf("%s of an unknown email: err = %v, want %q", sub, err, "no user with email ghost@example.com")
		}
	}
}

func TestUserReadPasswordFromFiles(t *testing.T) {
	// A pipe is read; a character device (as a terminal is) is not.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("from-a-pipe\r\nrest\n")
	w.Close()
	if got, err := readPassword(r); err != nil || got != "from-a-pipe" {
		t.Errorf("readPassword(pipe) = %q, %v; want %q", got, err, "from-a-pipe")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	if got, err := readPassword(null); err != nil || got != "" {
		t.Errorf("readPassword(%s) = %q, %v; want nothing read", os.DevNull, got, err)
	}
}

package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"mailer/app/auth"
	"mailer/app/mailing"
)

func runToken(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), append([]string{"token"}, args...), func(k string) string { return vars[k] }, strings.NewReader(""), &out)
	return out.String(), err
}

// TestTokenCommands: create prints the value as the last word, list shows only its prefix,
// revoke stops it.
func TestTokenCommands(t *testing.T) {
	vars, open := userEnv(t)
	if _, err := runUser(t, vars, "a long enough password\n", "create", "--email", "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	out, err := runToken(t, vars, "create", "--email", "dev@example.com", "--name", "shop", "--read-only")
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(out)
	value := words[len(words)-1]
	if !strings.HasPrefix(value, mailing.APITokenPrefix) || len(value) != 47 {
		t.Fatalf("last word %q is not a token:\n%s", value, out)
	}
	st := open()
	ctx := context.Background()
	tok, u, err := st.APITokenUser(ctx, auth.HashToken(value))
	if err != nil || u.Email != "dev@example.com" || !tok.ReadOnly || tok.Name != "shop" {
		t.Fatalf("stored token: %+v %+v %v", tok, u, err)
	}
	list, err := runToken(t, vars, "list", "--email", "dev@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, value) || !strings.Contains(list, value[:12]) || !strings.Contains(list, "read-only") {
		t.Fatalf("list shows the value or misses its prefix:\n%s", list)
	}
	if _, err := runToken(t, vars, "revoke", strconv.FormatInt(tok.ID, 10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.APITokenUser(ctx, auth.HashToken(value)); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("a revoked token still resolves: %v", err)
	}
	if list, _ := runToken(t, vars, "list", "--email", "dev@example.com"); !strings.Contains(list, "revoked") {
		t.Fatalf("list after revoke:\n%s", list)
	}
	for _, bad := range [][]string{
		{"create", "--email", "nobody@example.com", "--name", "x"},
		{"create", "--email", "dev@example.com"},
		{"revoke", "99999"},
		{"revoke", "abc"},
		{"frobnicate"},
	} {
		if _, err := runToken(t, vars, bad...); err == nil {
			t.Errorf("token %v: no error", bad)
		}
	}
}

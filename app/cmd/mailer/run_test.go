package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailer/app/config"
	"mailer/app/testutil"
	"mailer/db"
)

// testEnv is a configuration of the test's own: a temporary DATA_DIR and a fresh database
// (a PostgreSQL schema when TEST_DATABASE_URL is set, else a SQLite file).
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	dsn, dialect := testutil.DatabaseURL(t)
	if dialect == "sqlite" {
		dsn = "sqlite:" + config.SQLitePath(dsn)
	}
	return map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": dsn}
}

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func runCmd(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, getenv(vars), strings.NewReader(""), &out)
	return out.String(), err
}

func TestRunRejectsUnknownCommandByName(t *testing.T) {
	_, err := runCmd(t, nil, "frobnicate")
	if err == nil {
		t.Fatal("run frobnicate succeeded, want an error")
	}
	if !strings.Contains(err.Error(), `"frobnicate"`) || !strings.Contains(err.Error(), "mailer help") {
		t.Errorf("error %q should name the command and point at mailer help", err)
	}
}

// TestRunHasNoBenchCommand: the benchmarks are their own command (app/cmd/bench), not part
// of the product binary.
func TestRunHasNoBenchCommand(t *testing.T) {
	out, err := runCmd(t, nil, "bench", "all")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `unknown command "bench"`) {
		t.Errorf("run bench all: err = %v, want the one-line unknown command error", err)
	}
	if out != "" {
		t.Errorf("run bench all printed %q", out)
	}
	if help, _ := runCmd(t, nil, "help"); strings.Contains(help, "bench") {
		t.Errorf("help still lists bench:\n%s", help)
	}
}

func TestRunReportsBadFlagsOnOneLine(t *testing.T) {
	for _, args := range [][]string{{"serve", "--nope"}, {"migrate", "--nope"}, {"--nope"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := runCmd(t, nil, args...)
			if err == nil {
				t.Fatalf("run %v succeeded, want an error", args)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if !strings.Contains(msg, "nope") {
				t.Errorf("error %q does not name the bad flag", msg)
			}
			if out != "" {
				t.Errorf("a bad flag printed %q, want nothing (no usage dump)", out)
			}
		})
	}
}

func TestRunServeRejectsStrayArguments(t *testing.T) {
	_, err := runCmd(t, nil, "serve", "extra")
	if err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("run serve extra: err = %v, want an error naming the argument", err)
	}
}

func TestRunHelpPrintsUsage(t *testing.T) {
	out, err := runCmd(t, nil, "help")
	if err != nil {
		t.Fatalf("run help: %v", err)
	}
	for _, want := range []string{"usage: mailer", "serve", "migrate", "healthcheck", "help"} {
		if !strings.Contains(out, want) {
			t.Errorf("help output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunMigrateAppliesThenReportsUpToDate(t *testing.T) {
	vars := testEnv(t)
	cfg, err := config.Load(getenv(vars))
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(db.Migrations(cfg.Dialect), "*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded %s migrations: %v %v", cfg.Dialect, files, err)
	}

	out, err := runCmd(t, vars, "migrate")
	if err != nil {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("applied %d migration(s)", len(files)); !strings.Contains(out, want) {
		t.Errorf("first migrate printed %q, want it to contain %q", out, want)
	}

	out, err = runCmd(t, vars, "migrate")
	if err != nil {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "database is up to date") {
		t.Errorf("second migrate printed %q, want %q", out, "database is up to date")
	}
	if strings.Contains(out, "applied") {
		t.Errorf("second migrate printed %q, want no migration applied", out)
	}
}

func TestRunSurfacesConfigErrors(t *testing.T) {
	tests := []struct {
		args    []string
		key     string
		value   string
		wantVar string
	}{
		{[]string{"migrate"}, "LOG_FORMAT", "xml", "LOG_FORMAT"},
		{[]string{"serve"}, "LOG_FORMAT", "xml", "LOG_FORMAT"},
		{[]string{"serve"}, "BASE_URL", "nowhere", "BASE_URL"},
		{[]string{"healthcheck"}, "DEFAULT_LANGUAGE", "de", "DEFAULT_LANGUAGE"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+" "+tt.key, func(t *testing.T) {
			vars := map[string]string{"DATA_DIR": t.TempDir(), tt.key: tt.value}
			_, err := runCmd(t, vars, tt.args...)
			if err == nil {
				t.Fatalf("run %v with %s=%s succeeded, want an error", tt.args, tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error %q does not mention %s", err, tt.wantVar)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunServeAnswersHealthzAndStopsOnCancel(t *testing.T) {
	vars := testEnv(t)
	addr := freeAddr(t)
	vars["ADDR"] = addr
	vars["BASE_URL"] = "http://" + addr
	vars["REDIS_URL"] = testutil.RedisURL(t) // "" means embedded
	vars["LOG_LEVEL"] = "debug"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv(vars), strings.NewReader(""), out) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve output:\n%s", out.String())
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	status := 0
	testutil.Eventually(t, 30*time.Second, "GET /healthz to answer", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned before answering: %v", err)
		default:
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		status = resp.StatusCode
		return true
	})
	if status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", status)
	}

	// The healthcheck command is what containers run against this server.
	if err := run(context.Background(), []string{"healthcheck"}, getenv(vars), strings.NewReader(""), &bytes.Buffer{}); err != nil {
		t.Errorf("healthcheck against the running server: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return within 15s of cancel")
	}
	if !strings.Contains(out.String(), "listening") {
		t.Errorf("serve output lacks the listening line:\n%s", out.String())
	}
}

func TestRunHealthcheckFailsWhenNothingListens(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir(), "ADDR": freeAddr(t)}
	_, err := runCmd(t, vars, "healthcheck")
	if err == nil || !strings.Contains(err.Error(), "healthcheck") {
		t.Errorf("healthcheck with no server: err = %v, want a healthcheck error", err)
	}
}

// TestMistypedSQLiteFolderIsAnError: DATABASE_URL naming a folder that does not exist stops
// the command with one line naming the folder — it does not create a new, empty database
// there — while the default database's DATA_DIR is still created on a first start.
func TestMistypedSQLiteFolderIsAnError(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "mistyped", "dir")
	vars := map[string]string{"DATA_DIR": filepath.Join(root, "data"), "DATABASE_URL": "sqlite:" + filepath.Join(missing, "x.db")}
	_, err := runCmd(t, vars, "migrate")
	if err == nil || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("migrate into a missing folder: err = %v, want one line naming %s", err, missing)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the missing folder was created (stat: %v)", err)
	}

	delete(vars, "DATABASE_URL")
	if out, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate with the default database: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "data", "mailer.db")); err != nil {
		t.Errorf("the default database was not created in DATA_DIR: %v", err)
	}
}

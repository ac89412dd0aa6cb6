package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"mailer/app/testutil"
)

// runCmd runs the command with args and an empty environment, and returns what it printed.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out)
	return out.String(), err
}

// TestBenchAllTiny runs the one benchmark command with tiny sizes: SQLite (and PostgreSQL
// when TEST_DATABASE_URL is set), the test's Redis when TEST_REDIS_URL is set, and a send
// over a 5 ms round trip. Figures are not judged — they depend on the machine — only that
// every part ran and was reported.
func TestBenchAllTiny(t *testing.T) {
	args := []string{"all", "-clients", "300", "-n", "200", "-d", "200ms", "-rtt", "5ms"}
	if u := testutil.RedisURL(t); u != "" {
		args = append(args, "-redis", u)
	}
	pg := os.Getenv("TEST_DATABASE_URL")
	if pg != "" {
		args = append(args, "-pg", pg)
	}
	out, err := runCmd(t, args...)
	if err != nil {
		t.Fatalf("bench all: %v\n%s", err, out)
	}
	want := []string{
		"=== sqlite: send, N=200 ===", "mailer bench send: N=200", "=== sqlite: web, 300 clients, c=64", "mailer bench web: 300 clients",
		"  stats ", "=== summary ===", "machine: ", "load average (1, 5, 15 min): ",
		"pages p99 ≤ 4× the static file's at c=64: static ", "stats ", "304 path ≥ 2× the full render's req/s (home): home-304 ", "(clients): clients-304 ",
		"send ≥ 0.7× its raw ceiling: ", "memory: worker (send) peak heap ", "web peak heap ", "\nresult: ",
		"=== sqlite: send over a +5ms round trip, N=200 ===", "round trip: +5ms through a delay proxy",
		"[reference] send over +5ms ≥ 3.0× its raw ceiling (lock-step net/smtp through the same proxy): ",
		"=== sqlite: send of an HTML message in the default layout, N=200 ===", "html message of ",
		"HTML send (default layout) ≥ 0.7× its raw ceiling: ",
	}
	backends := 1
	if pg == "" {
		want = append(want, "postgres: skipped — add -pg postgres://")
	} else {
		backends = 2
		want = append(want, "=== postgres: send", "=== postgres: web", "\npostgres + ", "[reference]")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	summary := out[strings.Index(out, "=== summary ===")+1:]
	verdicts := strings.Count(summary, "[met]") + strings.Count(summary, "[NOT met]") + strings.Count(summary, "[reference]")
	if verdicts != 5*backends+2 {
		t.Errorf("summary has %d verdicts, want 5 per database, the HTML send's and the round-trip send's:\n%s", verdicts, summary)
	}
	if i, j := strings.Index(out, "mailer bench send"), strings.Index(out, "mailer bench web"); i < 0 || j < i {
		t.Errorf("send should run before web:\n%s", out)
	}
	t.Logf("\n%s", out)
}

func TestBenchAllRefusesWithOneLine(t *testing.T) {
	for name, args := range map[string][]string{
		"not postgres":   {"-pg", "mysql://127.0.0.1/x"},
		"unreachable pg": {"-pg", "postgres://postgres@127.0.0.1:1/x?sslmode=disable"},
		"zero duration":  {"-d", "0"},
		"negative rtt":   {"-rtt", "-5ms"},
		"stray argument": {"extra"},
		"unknown flag":   {"-c", "8"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runCmd(t, append([]string{"all"}, args...)...)
			if err == nil {
				t.Fatalf("bench all %v succeeded:\n%s", args, out)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "bench all") {
				t.Errorf("error %q: want one line starting with bench all", msg)
			}
			if strings.Contains(out, "=== sqlite") {
				t.Errorf("benchmarks ran before the refusal:\n%s", out)
			}
		})
	}
}

func TestBenchUsageNamesAll(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"help"}} {
		_, err := runCmd(t, args...)
		if err == nil || !strings.HasPrefix(err.Error(), "bench: usage: go run ./app/cmd/bench all [-pg") {
			t.Errorf("bench %v: %v, want the usage naming bench all", args, err)
		}
		for _, sub := range []string{"send", "web", "faults"} {
			if err != nil && !strings.Contains(err.Error(), "go run ./app/cmd/bench "+sub+" [") {
				t.Errorf("bench %v: the usage does not name bench %s: %v", args, sub, err)
			}
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("bench %v: the usage is not one line: %q", args, err)
		}
	}
}

// TestErrorLineNamesTheCommand: main prints every error on one line that starts with bench,
// the subcommand's name when the error carries it.
func TestErrorLineNamesTheCommand(t *testing.T) {
	for in, want := range map[string]string{
		"bench all: -d, -clients and -n must be positive": "bench all: -d, -clients and -n must be positive",
		"bench: usage: go run ./app/cmd/bench all":        "bench: usage: go run ./app/cmd/bench all",
		"seed user: database is locked":                   "bench: seed user: database is locked",
		"benchmark database: gone":                        "bench: benchmark database: gone",
	} {
		if got := errorLine(errors.New(in)); got != want {
			t.Errorf("errorLine(%q) = %q, want %q", in, got, want)
		}
	}
}

package main

import (
	"os"
	"strings"
	"testing"

	"mailer/app/testutil"
)

// TestBenchAllTiny runs the one benchmark command with tiny sizes: SQLite (and PostgreSQL
// when TEST_DATABASE_URL is set), the test's Redis when TEST_REDIS_URL is set. Figures are
// not judged — they depend on the machine — only that every part ran and was reported.
func TestBenchAllTiny(t *testing.T) {
	args := []string{"bench", "all", "-clients", "300", "-n", "200", "-d", "200ms"}
	if u := testutil.RedisURL(t); u != "" {
		args = append(args, "-redis", u)
	}
	pg := os.Getenv("TEST_DATABASE_URL")
	if pg != "" {
		args = append(args, "-pg", pg)
	}
	out, err := runCmd(t, nil, args...)
	if err != nil {
		t.Fatalf("bench all: %v\n%s", err, out)
	}
	want := []string{
		"=== sqlite: send, N=200 ===", "mailer bench send: N=200", "=== sqlite: web, 300 clients, c=64", "mailer bench web: 300 clients",
		"  stats ", "=== summary ===", "machine: ", "load average (1, 5, 15 min): ",
		"pages p99 < 10ms at c=64: home ", "stats ", "304 path ≥ 2× the full render's req/s (home): home-304 ", "(clients): clients-304 ",
		"send ≥ 5000 msg/s and ≥ 0.7× its raw ceiling: ", "memory: worker (send) peak heap ", "web peak heap ", "\nresult: ",
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
	if verdicts != 5*backends {
		t.Errorf("summary has %d verdicts, want 5 per database:\n%s", verdicts, summary)
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
		"stray argument": {"extra"},
		"unknown flag":   {"-c", "8"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runCmd(t, nil, append([]string{"bench", "all"}, args...)...)
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
	_, err := runCmd(t, nil, "bench")
	if err == nil || !strings.Contains(err.Error(), "mailer bench all [-pg") {
		t.Errorf("bench without a subcommand: %v, want the usage naming bench all", err)
	}
	out, _ := runCmd(t, nil, "help")
	if !strings.Contains(out, "bench all|send|web|faults") {
		t.Errorf("help does not list bench all:\n%s", out)
	}
}

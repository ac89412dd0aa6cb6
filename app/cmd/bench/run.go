package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"mailer/app"
	"mailer/app/cmd/bench/internal/bench"
)

const usage = "bench: usage: go run ./app/cmd/bench all [-pg postgres-url] [-d 10s] [-clients 100000] [-n 10000] [-rtt 20ms] [-redis URL] | " +
	"go run ./app/cmd/bench send [-n 10000] [-rtt 20ms] [-transfer pipelining|lock-step] [-format text|html] [-redis URL] [-db sqlite|postgres-url] [-cpuprofile FILE] [-timeout 10m] | " +
	"go run ./app/cmd/bench web [-clients 100000] [-c 64] [-d 10s] [-max 200000] [-db sqlite|postgres-url] [-redis URL] [-cpuprofile PREFIX] | " +
	"go run ./app/cmd/bench faults [-n 10000] -redis URL [-at 10,50,90]"

// run measures this machine: the send path end to end, the web pages under load, or both
// on each database (all), or what killing a worker costs (faults). Each run works on a
// throwaway database; -redis names a database number that is flushed.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	app.TuneGC(getenv) // measure the server as `mailer serve` runs it
	if len(args) == 0 {
		return errors.New(usage)
	}
	// SEND_BATCH, SEND_CONCURRENCY, SMTP_MAX_CONNS… in the environment override the
	// benchmark's settings, to try others.
	env := map[string]string{}
	for _, k := range bench.Tunables {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	switch args[0] {
	case "all":
		return benchAll(ctx, args[1:], env, stdout)
	case "faults":
		return benchFaults(ctx, args[1:], getenv, stdout)
	case "send":
		o := bench.SendOptions{Env: env, Log: os.Stderr}
		var profile string
		fs, err := parseFlags("bench send", args[1:], func(fs *flag.FlagSet) {
			fs.IntVar(&o.N, "n", 10000, "recipients (1000 with -rtt)")
			fs.DurationVar(&o.RTT, "rtt", 0, "round trip added between the senders and the sink, e.g. 20ms")
			fs.StringVar(&o.Transfer, "transfer", "", "pipelining (CHUNKING off) or lock-step (PIPELINING off); empty: the pool's choice")
			fs.StringVar(&o.Format, "format", "text", "text (2.4 KB plain text) or html (a ~20 KB newsletter in the default layout)")
			fs.StringVar(&o.RedisURL, "redis", "", "Redis URL with a database number (flushed); empty: embedded")
			fs.StringVar(&o.DB, "db", "sqlite", "sqlite, or a postgres:// URL (a fresh schema is used)")
			fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the send to this file")
			fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for the run to finish")
		})
		if err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("bench send: unexpected argument %q", fs.Arg(0))
		}
		if o.RTT < 0 {
			return errors.New("bench send: -rtt must not be negative")
		}
		if o.RTT > 0 && !flagSet(fs, "n") {
			// Lock-step over 20 ms carries ~80 msg/s: 10,000 would keep the raw loop busy for minutes.
			o.N = 1000
		}
		if profile != "" {
			f, err := os.Create(profile)
			if err != nil {
				return fmt.Errorf("bench send: %w", err)
			}
			defer f.Close()
			o.CPUProfile = f
		}
		res, err := bench.RunSend(ctx, o)
		if err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
		res.WriteTable(stdout)
		if profile != "" {
			fmt.Fprintf(stdout, "\nCPU profile of the send written to %s (go tool pprof -top %s)\n", profile, profile)
		}
		if !res.Finished {
			return fmt.Errorf("bench send: the run did not finish within -timeout %s: %d deliveries still pending", o.Timeout, res.Pending)
		}
		return nil
	case "web":
		o := bench.WebOptions{Env: env, Log: os.Stderr}
		var profile string
		fs, err := parseFlags("bench web", args[1:], func(fs *flag.FlagSet) {
			fs.IntVar(&o.Clients, "clients", 100000, "clients of the signed-in user")
			fs.IntVar(&o.Concurrency, "c", 64, "requests in flight")
			fs.DurationVar(&o.Duration, "d", 10*time.Second, "duration per endpoint")
			fs.IntVar(&o.MaxRequests, "max", 200000, "at most this many requests per endpoint")
			fs.StringVar(&o.DB, "db", "sqlite", "sqlite, or a postgres:// URL (a fresh schema is used)")
			fs.StringVar(&o.RedisURL, "redis", "", "Redis URL with a database number (flushed); empty: embedded")
			fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of each endpoint's load to PREFIX.ENDPOINT.prof")
		})
		if err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("bench web: unexpected argument %q", fs.Arg(0))
		}
		if profile != "" {
			o.CPUProfile = func(endpoint string) (func(), error) {
				f, err := os.Create(profile + "." + endpoint + ".prof")
				if err != nil {
					return nil, fmt.Errorf("bench web: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return nil, fmt.Errorf("bench web: %w", err)
				}
				return func() { pprof.StopCPUProfile(); f.Close() }, nil
			}
		}
		if o.Clients <= 0 || o.Concurrency <= 0 || o.Duration <= 0 || o.MaxRequests <= 0 {
			return errors.New("bench web: -clients, -c, -d and -max must be positive")
		}
		res, err := bench.RunWeb(ctx, o)
		if err != nil {
			return fmt.Errorf("bench web: %w", err)
		}
		res.WriteTable(stdout)
		return nil
	}
	return errors.New(usage)
}

// benchAll runs `bench send` and `bench web` on SQLite, then on PostgreSQL when -pg is
// given, printing every table and then a summary of the targets and the machine. Targets
// that are not met are reported, not an error: the exit status is 0 whenever everything ran.
func benchAll(ctx context.Context, args []string, env map[string]string, stdout io.Writer) error {
	o := bench.AllOptions{Env: env, Log: os.Stderr, Out: stdout}
	fs, err := parseFlags("bench all", args, func(fs *flag.FlagSet) {
		fs.StringVar(&o.PG, "pg", "", "also run on PostgreSQL: a postgres:// URL (a fresh schema is used and dropped)")
		fs.DurationVar(&o.Duration, "d", 10*time.Second, "web: duration per endpoint")
		fs.IntVar(&o.Clients, "clients", 100000, "web: clients of the signed-in user")
		fs.IntVar(&o.N, "n", 10000, "send: recipients")
		fs.DurationVar(&o.RTT, "rtt", 20*time.Millisecond, "also send on SQLite over this added round trip (min(-n, 1000) recipients); 0 skips")
		fs.StringVar(&o.RedisURL, "redis", "", "Redis URL with a database number (flushed); empty: embedded")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench all: unexpected argument %q", fs.Arg(0))
	}
	if o.Duration <= 0 || o.Clients <= 0 || o.N <= 0 {
		return errors.New("bench all: -d, -clients and -n must be positive")
	}
	if o.RTT < 0 {
		return errors.New("bench all: -rtt must not be negative")
	}
	res, err := bench.RunAll(ctx, o)
	if err != nil {
		return fmt.Errorf("bench all: %w", err)
	}
	res.WriteSummary(stdout)
	return nil
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseFlags parses args with errors reported as one line, never the flag package's usage dump.
func parseFlags(name string, args []string, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return fs, nil
}

// errorLine is err as main prints it: one line that names the command, "bench" or the
// subcommand ("bench send: …") the error already starts with.
func errorLine(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "bench:") || strings.HasPrefix(msg, "bench ") {
		return msg
	}
	return "bench: " + msg
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"mailer/app/bench"
)

const benchUsage = "bench: usage: mailer bench all [-pg postgres-url] [-d 10s] [-clients 100000] [-n 10000] [-redis URL] | " +
	"mailer bench send [-n 10000] [-redis URL] [-db sqlite|postgres-url] [-cpuprofile FILE] [-timeout 10m] | " +
	"mailer bench web [-clients 100000] [-c 64] [-d 10s] [-max 200000] [-db sqlite|postgres-url] [-redis URL] [-cpuprofile PREFIX] | " +
	"mailer bench faults [-n 10000] -redis URL [-at 10,50,90]"

// benchCmd measures this machine: the send path end to end, the web pages under load, or
// both on each database (all). Each run works on a throwaway database; -redis names a
// database number that is flushed.
func benchCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
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
			fs.IntVar(&o.N, "n", 10000, "recipients")
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
	return errors.New(benchUsage)
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
	res, err := bench.RunAll(ctx, o)
	if err != nil {
		return fmt.Errorf("bench all: %w", err)
	}
	res.WriteSummary(stdout)
	return nil
}

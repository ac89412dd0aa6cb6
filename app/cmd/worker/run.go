package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/tasks"
)

var errNoRedis = errors.New("REDIS_URL is not set; a separate worker needs a shared Redis " +
	"(with an embedded Redis, `mailer serve` runs an in-process worker)")

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return errNoRedis
	}
	log := cfg.Logger(stdout).With("process", "worker")

	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	r, err := tasks.OpenRedis(ctx, cfg.RedisURL, log)
	if err != nil {
		return err
	}
	defer r.Close()

	w := tasks.NewWorker(r, log, tasks.WorkerOptions{})
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.Shutdown()
	return nil
}

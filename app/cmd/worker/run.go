package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"mailer/app"
	"mailer/app/config"
	"mailer/app/sending"
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
	if _, err := cfg.LoadSecretKey(); err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Engine.WorkerID = sending.NewWorkerID("worker")
	if err := a.StartWorker(); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

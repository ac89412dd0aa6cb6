package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

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
	app.TuneGC(getenv)
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
	if addr := getenv("WORKER_METRICS_ADDR"); addr != "" {
		// The worker's sending figures live in its own process: it serves them itself.
		srv := &http.Server{Addr: addr, Handler: metricsOnly(a.Metrics.Handler(), cfg.MetricsToken), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Error("worker metrics", "addr", addr, "err", err)
			}
		}()
		defer srv.Close()
	}
	<-ctx.Done()
	return nil
}

// metricsOnly serves /metrics, behind METRICS_TOKEN when it is set.
func metricsOnly(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Package app wires Mailer's parts together from a Config. The binaries and the end-to-end
// test harness build the same App, so what the tests run is what ships.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"mailer/app/auth"
	"mailer/app/bounce"
	"mailer/app/cache"
	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/metrics"
	"mailer/app/sending"
	"mailer/app/store"
	"mailer/app/tasks"
	"mailer/app/web"
)

// App is one running Mailer: database, Redis, mail, web, and optionally an in-process worker.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Clock   mailing.Clock
	Store   *store.Store
	Redis   *tasks.Redis
	Catalog *i18n.Catalog
	Mail    mail.Sender
	Web     *web.Server
	Worker  *tasks.Worker
	Auth    *auth.Service
	Limiter *auth.Limiter
	Queue   *tasks.Queue
	Engine  *sending.Engine
	// Bounces records bounce reports; Webhooks serves the providers' webhooks with it.
	Bounces  *bounce.Service
	Webhooks *bounce.Webhooks
	Versions *cache.Versions
	Cache    *cache.Cache
	// Metrics is this App's own Prometheus registry, served on /metrics.
	Metrics *metrics.Metrics

	closers       []io.Closer
	stopRecovery  context.CancelFunc
	heartbeatDone chan struct{}
}

// Options change how Open builds an App; tests use them to inject parts.
type Options struct {
	Clock mailing.Clock
	// Store and Redis, when set, are used instead of opening the configured ones; the App
	// then does not close them.
	Store *store.Store
	Redis *tasks.Redis
	Mail  mail.Sender
}

// Open connects to the database (applying migrations) and Redis, and builds the web server.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	a := &App{Config: cfg, Log: log, Clock: opts.Clock, Store: opts.Store, Redis: opts.Redis, Mail: opts.Mail}
	if a.Clock == nil {
		a.Clock = mailing.SystemClock{}
	}
	owned := []io.Closer{}
	defer func() {
		if err != nil {
			for _, c := range owned {
				c.Close()
			}
		}
	}()
	if len(cfg.SecretKey) == 0 {
		return nil, fmt.Errorf("secret key not loaded")
	}
	if a.Store == nil {
		if err = cfg.PrepareDataDir(); err != nil {
			return nil, err
		}
		if a.Store, err = store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, a.Clock, log); err != nil {
			return nil, err
		}
		owned = append(owned, a.Store)
		if _, err = a.Store.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	a.Store.Bounces = mailing.BouncePolicy{SoftLimit: cfg.BounceSoftLimit, SoftWindow: cfg.BounceSoftWindow}
	if a.Redis == nil {
		if a.Redis, err = tasks.OpenRedis(ctx, cfg.RedisURL, log); err != nil {
			return nil, err
		}
		owned = append(owned, a.Redis)
	}
	if a.Catalog, err = i18n.Load(config.Languages); err != nil {
		return nil, err
	}
	if a.Mail == nil {
		if cfg.SMTPURL == "" {
			a.Mail = mail.LogSender{Log: log.With("component", "mail")}
		} else {
			pool, err := mail.NewPool(cfg.SMTPURL, mail.PoolOptions{MaxConns: cfg.SMTPMaxConns, Timeout: cfg.SMTPTimeout})
			if err != nil {
				return nil, err
			}
			a.Mail = pool
			owned = append(owned, pool)
			a.closers = append(a.closers, pool)
		}
	}
	a.Queue = tasks.NewQueue(a.Redis)
	a.closers = append(a.closers, a.Queue)
	a.Engine = &sending.Engine{
		Store: a.Store, Sender: a.Mail, Clock: a.Clock, Log: log.With("component", "sending"), Enqueue: a.Queue,
		WorkerID: sending.NewWorkerID("web"),
		Options: sending.Options{
			From: cfg.MailFrom, BaseURL: cfg.BaseURL.String(), Batch: cfg.SendBatch, Conns: cfg.SMTPMaxConns,
			MaxTries: cfg.SendMaxTries, RetryBase: cfg.SendRetryBase, ClaimTTL: cfg.ClaimTTL,
			Secret: cfg.SecretKey, OutageMax: cfg.SendOutageMax, ReturnPath: cfg.Bounce.ReturnPath,
		},
	}
	a.Versions = &cache.Versions{Redis: a.Redis.Client, Log: log}
	a.Cache = &cache.Cache{Redis: a.Redis.Client, Log: log.With("component", "cache")}
	a.Engine.Changed = func(ctx context.Context, ownerID int64) { a.Versions.Bump(ctx, ownerID) }
	a.Metrics = metrics.New()
	a.Metrics.WatchCache(a.Cache.Stats)
	a.Metrics.WatchQueues(a.Redis.ConnOpt(), tasks.Queues()...)
	a.closers = append(a.closers, a.Metrics)
	a.Engine.Metrics = a.Metrics
	if cfg.SendRate > 0 {
		a.Engine.Limiter = &sending.RedisLimiter{Redis: a.Redis.Client, Rate: cfg.SendRate}
	}
	a.Bounces = &bounce.Service{Store: a.Store, Log: log.With("component", "bounce"),
		Policy:  mailing.BouncePolicy{SoftLimit: cfg.Bounce.SoftLimit, SoftWindow: cfg.Bounce.SoftWindow},
		Changed: func(ctx context.Context, ownerID int64) { a.Versions.Bump(ctx, ownerID) }}
	a.Webhooks = bounce.NewWebhooks(a.Bounces, cfg.Bounce, a.Clock, log.With("component", "bounce"))
	a.Limiter = &auth.Limiter{Redis: a.Redis.Client}
	a.Auth = &auth.Service{Store: a.Store, Mail: a.Mail, Catalog: a.Catalog, Config: cfg, Limiter: a.Limiter, Log: log}
	a.Web = web.New(web.Deps{
		Config: cfg, Store: a.Store, Redis: a.Redis, Catalog: a.Catalog,
		Mail: a.Mail, Clock: a.Clock, Log: log,
		Auth: a.Auth, Providers: auth.NewProviders(cfg, log), Limiter: a.Limiter, Engine: a.Engine, Bounces: a.Webhooks,
		Versions: a.Versions, Cache: a.Cache, Metrics: a.Metrics,
	})
	if opts.Store == nil {
		a.closers = append(a.closers, a.Store)
	}
	if opts.Redis == nil {
		a.closers = append(a.closers, a.Redis)
	}
	return a, nil
}

// StartWorker runs the Asynq worker and scheduler inside this process.
func (a *App) StartWorker() error {
	// A heartbeat before the first claim; with the embedded Redis this process is the only
	// sender, so whatever a killed predecessor held is taken back now (see heartbeat.go).
	kind := store.WorkerWorker
	if a.Config.RedisURL == "" {
		kind = store.WorkerServe
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopRecovery = cancel
	if err := a.Engine.Beat(ctx, kind); err != nil {
		return fmt.Errorf("worker heartbeat: %w", err)
	}
	if kind == store.WorkerServe {
		if err := a.Engine.ReleaseAtStart(ctx); err != nil {
			return fmt.Errorf("release claims at start: %w", err)
		}
	}
	a.Worker = tasks.NewWorker(a.Redis, a.Log, tasks.WorkerOptions{Concurrency: a.Config.SendConcurrency})
	a.Worker.HandleSendRun(a.Engine)
	if err := a.Worker.HandleSchedule(a.Engine); err != nil {
		return err
	}
	if a.Config.Bounce.MailboxURL != "" {
		if err := a.Worker.HandleBouncePoll(a.BounceMailbox()); err != nil {
			return err
		}
	}
	if err := a.Worker.Start(); err != nil {
		return err
	}
	// Recovery runs at start and then every RECOVER_INTERVAL (see sending.Engine.Recover);
	// the heartbeat takes back a dead worker's claims within seconds.
	go a.Engine.RunRecovery(ctx, a.Config.RecoverInterval)
	a.heartbeatDone = make(chan struct{})
	go func() {
		defer close(a.heartbeatDone)
		a.Engine.RunHeartbeat(ctx, kind, true)
	}()
	return nil
}

// BounceMailbox is the poller of BOUNCE_MAILBOX_URL, recording through a.Bounces.
func (a *App) BounceMailbox() *bounce.Mailbox {
	return &bounce.Mailbox{URL: a.Config.Bounce.MailboxURL, Service: a.Bounces, ReturnPath: a.Config.Bounce.ReturnPath,
		Secret: a.Config.SecretKey, Log: a.Log.With("component", "bounce-mailbox"), Metrics: a.Metrics}
}

// Serve answers HTTP on ln until ctx ends.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	a.Log.Info("listening", "addr", ln.Addr().String(), "base_url", a.Config.BaseURL.String())
	return a.Web.Serve(ctx, ln)
}

// Close stops the worker and releases what Open opened.
func (a *App) Close() {
	if a.Worker != nil {
		a.Worker.Shutdown()
	}
	// After the worker: its last sends are recorded before this process's row goes.
	if a.stopRecovery != nil {
		a.stopRecovery()
	}
	if a.heartbeatDone != nil {
		<-a.heartbeatDone
	}
	if a.Auth != nil {
		a.Auth.Close()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i].Close()
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/store"
	"mailer/app/tasks"
)

// Exit statuses of `mailer send` beyond 0 (every recipient sent) and 1 (usage, an unknown
// or unsendable mailing, an error).
const (
	exitSomeFailed     = 2 // the run finished, but some recipients failed or were cancelled
	exitRetriesPending = 3 // --wait ended with deliveries waiting for a retry
)

// sendCmd runs a mailing now, in this process, through the same engine as the workers. It
// needs no Redis and is safe beside running workers: deliveries are claimed in the database.
func sendCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var wait time.Duration
	var async, failed bool
	fs, err := parseFlags("send", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for deliveries that wait for a retry")
		fs.BoolVar(&async, "async", false, "only record the run and enqueue it for the workers")
		fs.BoolVar(&failed, "failed", false, "resend to the failed and unsent recipients of the latest run")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("send: usage: mailer send [--failed] [--wait 2m] [--async] MAILING_ID")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("send: %q is not a mailing id", fs.Arg(0))
	}
	cfg, log, err := loadConfig(getenv, stdout)
	if err != nil {
		return err
	}
	// Unsubscribe links are signed with the secret key the web process checks them with.
	if _, err := cfg.LoadSecretKey(); err != nil {
		return err
	}
	if async && cfg.RedisURL == "" {
		return errors.New("send: --async needs REDIS_URL: with an embedded Redis no worker would see the run")
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Dialect, mailing.SystemClock{}, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}

	var sender mail.Sender = mail.LogSender{Log: log.With("component", "mail")}
	if cfg.SMTPURL != "" {
		pool, err := mail.NewPool(cfg.SMTPURL, mail.PoolOptions{MaxConns: cfg.SMTPMaxConns, Timeout: cfg.SMTPTimeout})
		if err != nil {
			return err
		}
		defer pool.Close()
		sender = pool
	}
	e := &sending.Engine{
		Store: st, Sender: sender, Clock: mailing.SystemClock{}, Log: log.With("component", "sending"),
		WorkerID: sending.NewWorkerID("cli"),
		Options: sending.Options{From: cfg.MailFrom, BaseURL: cfg.BaseURL.String(), Batch: cfg.SendBatch,
			Conns: cfg.SMTPMaxConns, MaxTries: cfg.SendMaxTries, RetryBase: cfg.SendRetryBase, ClaimTTL: cfg.ClaimTTL,
			Secret: cfg.SecretKey, OutageMax: cfg.SendOutageMax},
	}
	if async {
		r, err := tasks.OpenRedis(ctx, cfg.RedisURL, log)
		if err != nil {
			return err
		}
		defer r.Close()
		q := tasks.NewQueue(r)
		defer q.Close()
		e.Enqueue = q
	}

	m, err := st.MailingByID(ctx, mailing.Scope{All: true}, id)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return fmt.Errorf("send: no mailing with id %d", id)
	} else if err != nil {
		return err
	}
	kind, from := mailing.RunCLI, int64(0)
	if failed {
		last, err := st.LatestRun(ctx, id)
		if mailing.ErrorCode(err) == mailing.ENOTFOUND {
			return fmt.Errorf("send: mailing %d has no run to resend", id)
		} else if err != nil {
			return err
		}
		kind, from = mailing.RunResend, last.ID
	}
	// Claims of this process are its own: a heartbeat says it is alive while it sends.
	if err := e.Beat(ctx, store.WorkerCLI); err != nil {
		return err
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); e.RunHeartbeat(hbCtx, store.WorkerCLI, false) }()
	defer func() { stopHeartbeat(); <-hbDone }()

	start := time.Now()
	run, err := e.StartMailing(ctx, m, kind, nil, from)
	if err != nil {
		return fmt.Errorf("send: mailing %d: %s", id, refusal(err))
	}
	fmt.Fprintf(stdout, "run %d started: %d recipients\n", run.ID, run.Total)
	if async {
		fmt.Fprintf(stdout, "run %d enqueued for the workers\n", run.ID)
		return nil
	}

	deadline := time.Now().Add(wait)
	for {
		res, err := e.Process(ctx, run.ID)
		if err != nil {
			return err
		}
		p, err := st.Progress(context.WithoutCancel(ctx), run.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sent %d, failed %d, cancelled %d, waiting %d of %d\n", p.Sent, p.Failed, p.Cancelled, p.Pending, p.Total)
		if p.Done() {
			fmt.Fprintf(stdout, "run %d done: sent %d, failed %d, cancelled %d, took %s\n",
				run.ID, p.Sent, p.Failed, p.Cancelled, time.Since(start).Round(time.Millisecond))
			if p.Failed+p.Cancelled > 0 {
				// A cron job must not read a run that missed recipients as a success.
				return exitError{code: exitSomeFailed, err: fmt.Errorf("send: run %d: %d of %d recipients not sent (%d failed, %d cancelled)",
					run.ID, p.Failed+p.Cancelled, p.Total, p.Failed, p.Cancelled)}
			}
			return nil
		}
		if ctx.Err() != nil {
			return exitError{code: 1, err: errors.New("send: interrupted; the remaining deliveries stay for the workers")}
		}
		if r := res.Relay; r.Paused(time.Now()) {
			fmt.Fprintf(stdout, "mail server unreachable since %s, next try at %s: %s\n",
				r.DownSince.Local().Format(time.DateTime), r.NextTryAt.Local().Format(time.DateTime), r.LastError)
		}
		next := res.NextRetry
		if next.IsZero() {
			next = time.Now().Add(time.Second) // claimed by another process: look again shortly
		}
		if next.After(deadline) {
			return exitError{code: exitRetriesPending, err: fmt.Errorf(
				"send: %d deliveries wait for a retry at %s, after --wait %s ends (waited %s); they stay for the workers",
				p.Pending, next.Local().Format(time.DateTime), wait, time.Since(start).Round(time.Second))}
		}
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
		}
	}
}

// refusal says in words why a mailing cannot be sent.
func refusal(err error) string {
	switch {
	case errors.Is(err, mailing.ErrMailingFinished):
		return "it has finished (its end time has passed)"
	case errors.Is(err, mailing.ErrMailingDisabled):
		return "it is disabled by a manager"
	case errors.Is(err, mailing.ErrOwnerBlocked):
		return "its owner is blocked"
	case errors.Is(err, mailing.ErrNoRecipients):
		return "it has no recipients to send to"
	case errors.Is(err, mailing.ErrRunInProgress):
		return "a run of it is still going; send again when it has finished"
	case errors.Is(err, mailing.ErrRunSuperseded):
		return "that run has been resent already"
	}
	return err.Error()
}

// Package sending is Mailer's sending engine: it starts runs, and works through a run's
// deliveries in batches — claim in bulk, render, send over pooled SMTP connections, record
// every attempt — the same way in a worker, in `mailer serve`, and in `mailer send`.
//
// The database is the source of truth. A claim is a conditional update, so a task that
// runs twice (Asynq delivers at least once) finds nothing left to take; only a crash between
// the server's acceptance and the database write can repeat a send.
package sending

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	mailpkg "mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/store"
)

// Enqueuer hands a run to workers: fan copies of its task now, or one at a later time (a
// retry). Asynq implements it; the CLI runs without one.
type Enqueuer interface {
	EnqueueRun(ctx context.Context, runID int64, fan int, at time.Time) error
}

// Limiter paces sending across every worker; nil means unlimited.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Observer is told what the engine does, for metrics (app/metrics implements it). Results
// are sent, failed, deferred and cancelled; code classes 2xx, 4xx, 5xx, network (a failure
// without a server reply) and none (no SMTP exchange took place).
type Observer interface {
	RunStarted()
	RunFinished()
	Delivery(result, codeClass string, n int)
	SMTPLatency(d time.Duration)
}

// Options are the engine's tunables (see the README's configuration table).
type Options struct {
	From      string
	BaseURL   string
	Batch     int
	Conns     int // concurrent sends per batch; the SMTP pool bounds connections
	MaxTries  int
	RetryBase time.Duration
	ClaimTTL  time.Duration
	Secret    []byte // signs one-click unsubscribe links (SECRET_KEY)
}

// Engine runs the sending of mailings.
type Engine struct {
	Store    *store.Store
	Sender   mailpkg.Sender
	Clock    mailing.Clock
	Log      *slog.Logger
	Enqueue  Enqueuer
	Limiter  Limiter
	Options  Options
	WorkerID string // who holds claims; unique per process
	// Changed is told whose data changed (a run started, attempts recorded), so caches
	// keyed by data version move on; nil in processes without a cache.
	Changed func(ctx context.Context, ownerID int64)
	// Metrics, when set, observes runs, delivery outcomes and SMTP latency.
	Metrics Observer

	tplMu sync.Mutex
	tpls  map[int64]*compiled
}

// NewWorkerID returns a claim holder name unique to this process.
func NewWorkerID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Start checks the rules, records a run with one delivery per recipient, and — after the
// transaction commits — hands it to the workers. scope is who asks: only the owner may send.
func (e *Engine) Start(ctx context.Context, scope mailing.Scope, mailingID int64, kind string) (*mailing.Run, error) {
	m, err := e.Store.MailingByID(ctx, scope, mailingID)
	if err != nil {
		return nil, err
	}
	return e.StartMailing(ctx, m, kind, nil, 0)
}

// StartMailing starts a run of a loaded mailing; slot is set for scheduled runs, and
// resendOf limits the recipients to the unsent ones of an earlier run.
func (e *Engine) StartMailing(ctx context.Context, m *mailing.Mailing, kind string, slot *time.Time, resendOf int64) (*mailing.Run, error) {
	if err := mailing.CanSend(m, m.OwnerBlocked, e.Clock.Now()); err != nil {
		return nil, err
	}
	run, err := e.Store.CreateRun(ctx, m, kind, slot, resendOf)
	if err != nil {
		return nil, err
	}
	e.Log.Info("run started", "run_id", run.ID, "mailing_id", m.ID, "kind", kind, "recipients", run.Total)
	if e.Metrics != nil {
		e.Metrics.RunStarted()
	}
	e.changed(ctx, m.OwnerID)
	if e.Enqueue != nil {
		// Each task works until the run is drained, so more tasks than workers can run at
		// once would only queue up to find nothing left.
		fan := min((run.Total+e.batch()-1)/e.batch(), 16)
		if err := e.Enqueue.EnqueueRun(ctx, run.ID, fan, time.Time{}); err != nil {
			// The run is recorded; recovery enqueues it again from the database.
			e.Log.Error("enqueue run", "run_id", run.ID, "err", err)
		}
	}
	return run, nil
}

func (e *Engine) batch() int {
	if e.Options.Batch <= 0 {
		return 200
	}
	return e.Options.Batch
}

// Result says where a run stands after Process.
type Result struct {
	Sent, Failed, Retried, Cancelled int
	// NextRetry is when deliveries waiting for a retry are due; zero when none wait.
	NextRetry time.Time
	Finished  bool
}

// Process works through a run's due deliveries until none is left to claim, then schedules
// a retry task for deliveries that wait. Several Process calls on one run share the work.
// When ctx ends it stops claiming, finishes the sends in flight and hands back the rest.
func (e *Engine) Process(ctx context.Context, runID int64) (Result, error) {
	var res Result
	run, err := e.Store.RunByID(ctx, runID)
	if err != nil {
		return res, err
	}
	for ctx.Err() == nil {
		stopped, err := e.Store.SendingStopped(ctx, run.MailingID)
		if err != nil {
			return res, err
		}
		if stopped {
			n, err := e.Store.CancelPending(ctx, runID)
			if err != nil {
				return res, err
			}
			res.Cancelled += int(n)
			e.observe("cancelled", "none", int(n))
			if n > 0 {
				e.Log.Info("run stopped: mailing disabled or owner blocked", "run_id", runID, "cancelled", n)
			}
			break
		}
		claimed, err := e.Store.ClaimDeliveries(ctx, runID, e.WorkerID, e.batch(), e.Clock.Now().Add(e.claimTTL()))
		if err != nil {
			return res, err
		}
		if len(claimed) == 0 {
			break
		}
		stopHeartbeat := e.holdClaims(ctx, runID, claimed)
		outs := e.sendBatch(ctx, run, claimed)
		stopHeartbeat()
		// Recording must survive a cancelled ctx: these mails have gone out.
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = e.Store.RecordOutcomes(rec, e.WorkerID, outs)
		cancel()
		if err != nil {
			return res, fmt.Errorf("record attempts of run %d: %w", runID, err)
		}
		e.changed(ctx, run.OwnerID)
		for _, o := range outs {
			switch o.State {
			case mailing.DeliverySent:
				res.Sent++
				e.observe("sent", codeClass(o), 1)
			case mailing.DeliveryFailed:
				res.Failed++
				e.observe("failed", codeClass(o), 1)
				e.Log.Warn("delivery failed", "run_id", runID, "mailing_id", run.MailingID,
					"delivery_id", o.Delivery.ID, "response", o.Attempt.Response)
			case mailing.DeliveryPending:
				res.Retried++
				e.observe("deferred", codeClass(o), 1)
				e.Log.Info("delivery deferred", "run_id", runID, "delivery_id", o.Delivery.ID,
					"try", o.Delivery.Tries+1, "retry_at", o.RetryAt, "response", o.Attempt.Response)
			case mailing.DeliveryCancelled:
				res.Cancelled++
				e.observe("cancelled", "none", 1)
			}
		}
	}
	bg := context.WithoutCancel(ctx)
	next, err := e.Store.NextRetry(bg, runID)
	if err != nil {
		return res, err
	}
	res.NextRetry = next
	if !next.IsZero() && e.Enqueue != nil {
		if err := e.Enqueue.EnqueueRun(bg, runID, 1, next); err != nil {
			e.Log.Error("schedule retry", "run_id", runID, "err", err)
		}
	}
	finished, err := e.Store.FinishRun(bg, runID)
	if err != nil {
		return res, err
	}
	if finished {
		res.Finished = true
		p, _ := e.Store.Progress(bg, runID)
		e.Log.Info("run finished", "run_id", runID, "mailing_id", run.MailingID,
			"sent", p.Sent, "failed", p.Failed, "cancelled", p.Cancelled, "total", p.Total)
		if e.Metrics != nil {
			e.Metrics.RunFinished()
		}
	}
	return res, nil
}

func (e *Engine) claimTTL() time.Duration {
	if e.Options.ClaimTTL <= 0 {
		return 2 * time.Minute
	}
	return e.Options.ClaimTTL
}

// sendBatch sends the claimed deliveries concurrently and returns each one's outcome. When
// ctx ends, deliveries not yet started are handed back as pending.
func (e *Engine) sendBatch(ctx context.Context, run *mailing.Run, ds []mailing.Delivery) []store.Outcome {
	tpl, tplErr := e.template(ctx, run.MailingID)
	outs := make([]store.Outcome, len(ds))
	work := make(chan int)
	var wg sync.WaitGroup
	conns := e.Options.Conns
	if conns <= 0 {
		conns = 8
	}
	for w := 0; w < min(conns, len(ds)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				outs[i] = e.sendOne(ctx, run, ds[i], tpl, tplErr)
			}
		}()
	}
	var unsent []int64
	for i := range ds {
		if ctx.Err() != nil {
			unsent = append(unsent, ds[i].ID)
			outs[i] = store.Outcome{Delivery: ds[i], State: "released"}
			continue
		}
		work <- i
	}
	close(work)
	wg.Wait()
	for i, o := range outs {
		if o.State == "released" && i < len(ds) && o.Delivery.ID == ds[i].ID && !contains(unsent, ds[i].ID) {
			unsent = append(unsent, ds[i].ID)
		}
	}
	if len(unsent) > 0 {
		rel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := e.Store.ReleaseClaims(rel, e.WorkerID, unsent); err != nil {
			e.Log.Error("release claims", "run_id", run.ID, "err", err)
		}
		cancel()
	}
	kept := outs[:0]
	for _, o := range outs {
		if o.State != "released" {
			kept = append(kept, o)
		}
	}
	return kept
}

func (e *Engine) sendOne(ctx context.Context, run *mailing.Run, d mailing.Delivery, tpl *compiled, tplErr error) store.Outcome {
	out := store.Outcome{Delivery: d}
	if ctx.Err() != nil {
		out.State = "released" // not started: hand it back for another worker
		return out
	}
	if e.Limiter != nil {
		if err := e.Limiter.Wait(ctx); err != nil {
			out.State = "released" // handed back unsent: the worker is stopping
			return out
		}
	}
	start := e.Clock.Now()
	a := mailing.Attempt{MailingID: run.MailingID, RunID: run.ID, DeliveryID: d.ID, ClientID: d.ClientID, Email: d.Email, AttemptedAt: start}
	var reply string
	err := tplErr
	if err == nil {
		var msg mailpkg.Message
		msg, err = e.message(run, d, tpl)
		if err == nil {
			// A send that has begun finishes even when the worker is stopping.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			t0 := time.Now()
			reply, err = e.Sender.Send(sctx, msg)
			took := time.Since(t0)
			a.LatencyMS = int(took.Milliseconds())
			if e.Metrics != nil {
				e.Metrics.SMTPLatency(took)
			}
			cancel()
		}
	}
	if err == nil {
		a.Status, a.Response = mailing.AttemptSuccess, reply
		a.SMTPCode = replyCode(reply)
		out.State = mailing.DeliverySent
		out.Attempt = a
		return out
	}
	a.Status, a.Response = mailing.AttemptFailure, errorText(err)
	var se *mailpkg.SMTPError
	if errors.As(err, &se) {
		a.SMTPCode = se.Code
	}
	out.Attempt = a
	if mailpkg.Permanent(err) || errors.Is(err, errTemplate) || d.Tries+1 >= e.maxTries() {
		out.State = mailing.DeliveryFailed
	} else {
		out.State = mailing.DeliveryPending
		out.RetryAt = e.Clock.Now().Add(mailing.Backoff(e.retryBase(), d.Tries+1))
	}
	return out
}

func (e *Engine) maxTries() int {
	if e.Options.MaxTries <= 0 {
		return 4
	}
	return e.Options.MaxTries
}

func (e *Engine) retryBase() time.Duration {
	if e.Options.RetryBase <= 0 {
		return 30 * time.Second
	}
	return e.Options.RetryBase
}

func replyCode(reply string) int {
	code, _ := strconv.Atoi(strings.SplitN(reply, " ", 2)[0])
	return code
}

// errorText is what the ledger keeps of a failure: the server's code and words, or the
// network error.
func errorText(err error) string {
	s := err.Error()
	if len(s) > 1000 {
		s = s[:1000]
	}
	return s
}

var errTemplate = errors.New("template")

// compiled is a message's subject and body templates, parsed once per run and process.
type compiled struct {
	subject, body *template.Template
	loaded        time.Time
}

func (e *Engine) template(ctx context.Context, mailingID int64) (*compiled, error) {
	e.tplMu.Lock()
	defer e.tplMu.Unlock()
	if e.tpls == nil {
		e.tpls = map[int64]*compiled{}
	}
	if c, ok := e.tpls[mailingID]; ok && time.Since(c.loaded) < 10*time.Second {
		return c, nil
	}
	m, err := e.Store.MailingByID(ctx, mailing.Scope{All: true}, mailingID)
	if err != nil {
		return nil, err
	}
	msg, err := e.Store.MessageByID(ctx, mailing.Scope{All: true}, m.MessageID)
	if err != nil {
		return nil, err
	}
	subject, body, err := mailing.ParseTemplates(msg.Subject, msg.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTemplate, err)
	}
	c := &compiled{subject: subject, body: body, loaded: time.Now()}
	e.tpls[mailingID] = c
	return c, nil
}

// message renders one delivery's email. The Message-ID is derived from the run and the
// delivery, so a repeated send of the same delivery is recognisable as a duplicate.
func (e *Engine) message(run *mailing.Run, d mailing.Delivery, tpl *compiled) (mailpkg.Message, error) {
	data := mailing.TemplateData{Name: d.Name, Email: d.Email}
	var subj, body bytes.Buffer
	if err := mailing.Render(&subj, tpl.subject, data); err != nil {
		return mailpkg.Message{}, fmt.Errorf("%w: %v", errTemplate, err)
	}
	if err := mailing.Render(&body, tpl.body, data); err != nil {
		return mailpkg.Message{}, fmt.Errorf("%w: %v", errTemplate, err)
	}
	to := (&mail.Address{Name: d.Name, Address: d.Email}).String()
	headers := map[string]string{}
	text := body.String()
	if d.ClientID != 0 && e.Options.BaseURL != "" {
		// RFC 8058 one-click unsubscribe: mail clients POST to the link; a person can open it.
		link := e.Options.BaseURL + "/unsubscribe/" + mailing.UnsubscribeToken(e.Options.Secret, d.ClientID)
		headers["List-Unsubscribe"] = "<" + link + ">"
		headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
		text += "\n\n--\nUnsubscribe: " + link + "\n"
	}
	domain := "mailer.invalid"
	if a, err := mail.ParseAddress(e.Options.From); err == nil {
		domain = a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	}
	return mailpkg.Message{
		From:      e.Options.From,
		To:        to,
		Subject:   subj.String(),
		Text:      text,
		Headers:   headers,
		MessageID: fmt.Sprintf("run%d.d%d@%s", run.ID, d.ID, domain),
		Date:      e.Clock.Now(),
	}, nil
}

// ProcessRun is Process for the send task.
func (e *Engine) ProcessRun(ctx context.Context, runID int64) error {
	_, err := e.Process(ctx, runID)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil // the run or its mailing was deleted
	}
	return err
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// observe counts n delivery outcomes for metrics.
func (e *Engine) observe(result, class string, n int) {
	if e.Metrics != nil && n > 0 {
		e.Metrics.Delivery(result, class, n)
	}
}

// codeClass is an outcome's SMTP reply class for metrics: from the server's code; network
// for a failure without a reply; none when no SMTP exchange took place (the message could
// not be built).
func codeClass(o store.Outcome) string {
	a := o.Attempt
	switch code := a.SMTPCode; {
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	case a.Status == mailing.AttemptSuccess:
		return "2xx"
	case strings.HasPrefix(a.Response, errTemplate.Error()+":"), strings.HasPrefix(a.Response, "mail: "):
		return "none"
	}
	return "network"
}

func (e *Engine) changed(ctx context.Context, ownerID int64) {
	if e.Changed != nil {
		e.Changed(context.WithoutCancel(ctx), ownerID)
	}
}

// holdClaims extends the claims of a batch while it is being sent, so a batch that takes
// longer than CLAIM_TTL (a slow server, a low SEND_RATE) is not taken back by recovery and
// sent a second time. It returns the function that stops it.
func (e *Engine) holdClaims(ctx context.Context, runID int64, ds []mailing.Delivery) func() {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	every := e.claimTTL() / 3
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
				err := e.Store.ExtendClaims(bg, e.WorkerID, ids, e.Clock.Now().Add(e.claimTTL()))
				cancel()
				if err != nil {
					e.Log.Warn("extend claims", "run_id", runID, "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

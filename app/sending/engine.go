// Package sending is Mailer's sending engine: it starts runs, and works through a run's
// deliveries in batches — claim in bulk, render, send over pooled SMTP connections, record
// every attempt — the same way in a worker, in `mailer serve`, and in `mailer send`.
//
// The database is the source of truth. A claim is a conditional update, so a task that
// runs twice (Asynq delivers at least once) finds nothing left to take; only a crash between
// the server's acceptance and the database write can repeat a send.
package sending

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	Secret    []byte // signs one-click unsubscribe links (SECRET_KEY) and VERP tokens
	// OutageMax is how long the mail server may stay unreachable before a run gives up on
	// its waiting deliveries (SEND_OUTAGE_MAX, 24h by default); RelayBackoff and
	// RelayBackoffMax are the pauses between tries to reach it (5 s doubling to 5 min).
	OutageMax       time.Duration
	RelayBackoff    time.Duration
	RelayBackoffMax time.Duration
	// CommitEvery and CommitN bound how long outcomes wait to be written: a group commit at
	// least every CommitEvery (50 ms) or CommitN (50) outcomes, so a crash leaves few sends
	// unrecorded.
	CommitEvery time.Duration
	CommitN     int
	// HeartbeatEvery is how often a sending process says it is alive; DeadAfter is the
	// silence after which its claims are taken back (1 s and 6 s).
	HeartbeatEvery time.Duration
	DeadAfter      time.Duration
	// ReturnPath (MAIL_RETURN_PATH): when set, each mail's envelope sender is a VERP
	// address of it naming the delivery (returnpath.go).
	ReturnPath string
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

	instMu sync.Mutex
	inst   string // the installation id, read once
}

// NewWorkerID returns a claim holder name unique to this process: prefix, process id and a
// random part ("worker-4242-1a2b3c4d"), so an operator can tell which process holds what.
func NewWorkerID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(b))
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
	// Relay is the mail server's state when Process stopped; Relay.Paused means it waits for
	// the server to come back (NextRetry is then its next try).
	Relay mailing.RelayState
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
	var pausedUntil time.Time
	var cursor store.ClaimCursor
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
		relay, err := e.Store.Relay(ctx)
		if err != nil {
			return res, err
		}
		res.Relay = relay
		now := e.Clock.Now()
		batch := e.batch()
		if relay.Down() {
			if now.Sub(*relay.DownSince) >= e.outageMax() {
				// Like an MTA's maximal queue lifetime: past it, the run stops waiting.
				reason := fmt.Sprintf("mail server unreachable since %s, longer than SEND_OUTAGE_MAX (%s): %s",
					relay.DownSince.UTC().Format(time.RFC3339), e.outageMax(), relay.LastError)
				n, err := e.Store.FailForOutage(ctx, runID, reason)
				if err != nil {
					return res, err
				}
				res.Failed += int(n)
				e.observe("failed", "network", int(n))
				if n > 0 {
					e.Log.Error("run gave up on the mail server", "run_id", runID, "failed", n, "down_since", relay.DownSince)
				}
				break
			}
			if relay.Paused(now) {
				pausedUntil = *relay.NextTryAt
				break
			}
			batch = 1 // the next try is a probe: one message, not a batch to fail
		}
		claimed, err := e.Store.ClaimNext(ctx, runID, e.WorkerID, batch, now.Add(e.claimTTL()), &cursor)
		if err != nil {
			return res, err
		}
		if len(claimed) == 0 {
			break
		}
		stopHeartbeat := e.holdClaims(ctx, runID, claimed)
		err = e.sendBatch(ctx, run, claimed, relay.Down(), &res)
		stopHeartbeat()
		if err != nil {
			return res, fmt.Errorf("send batch of run %d: %w", runID, err)
		}
	}
	bg := context.WithoutCancel(ctx)
	next, err := e.Store.NextRetry(bg, runID)
	if err != nil {
		return res, err
	}
	if !next.IsZero() && next.Before(pausedUntil) {
		next = pausedUntil // due, but the relay is paused: no sooner than its next try
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

// account counts committed outcomes into res, for metrics and the log.
func (e *Engine) account(run *mailing.Run, outs []store.Outcome, res *Result) {
	for _, o := range outs {
		switch o.State {
		case mailing.DeliverySent:
			res.Sent++
			e.observe("sent", codeClass(o), 1)
		case mailing.DeliveryFailed:
			res.Failed++
			e.observe("failed", codeClass(o), 1)
			e.Log.Warn("delivery failed", "run_id", run.ID, "mailing_id", run.MailingID,
				"delivery_id", o.Delivery.ID, "response", o.Attempt.Response)
		case mailing.DeliveryPending:
			res.Retried++
			e.observe("deferred", codeClass(o), 1)
			if !o.Relay {
				e.Log.Info("delivery deferred", "run_id", run.ID, "delivery_id", o.Delivery.ID,
					"try", o.Delivery.Tries+1, "retry_at", o.RetryAt, "response", o.Attempt.Response)
			}
		case mailing.DeliveryCancelled:
			res.Cancelled++
			e.observe("cancelled", "none", 1)
		}
	}
}

func (e *Engine) outageMax() time.Duration {
	if e.Options.OutageMax <= 0 {
		return 24 * time.Hour
	}
	return e.Options.OutageMax
}

func (e *Engine) relayBackoff(failures int) time.Duration {
	base, limit := e.Options.RelayBackoff, e.Options.RelayBackoffMax
	if base <= 0 {
		base = 5 * time.Second
	}
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	return mailing.RelayBackoff(base, limit, failures)
}

func (e *Engine) claimTTL() time.Duration {
	if e.Options.ClaimTTL <= 0 {
		return 2 * time.Minute
	}
	return e.Options.ClaimTTL
}

// batchRun is what the sends of one claimed batch share.
type batchRun struct {
	run       *mailing.Run
	tpl       *compiled
	tplErr    error
	inst      string
	relayDown bool        // the relay was down when the batch was claimed (a probe)
	paused    atomic.Bool // a send of this batch found the relay unreachable: send no more
	upOnce    sync.Once
}

// sendBatch sends the claimed deliveries concurrently. Before a group of them is handed to
// the server it is marked so (MarkHanded), and outcomes are written as they come, in group
// commits (commit), so a crash leaves only the marked, uncommitted ones in doubt — and
// those get an "outcome unknown" attempt when their claims are taken back. When ctx ends,
// or the relay turns out unreachable, deliveries not yet started are handed back.
func (e *Engine) sendBatch(ctx context.Context, run *mailing.Run, ds []mailing.Delivery, relayDown bool, res *Result) error {
	b := &batchRun{run: run, relayDown: relayDown}
	b.tpl, b.tplErr = e.template(ctx, run.MailingID)
	inst, err := e.installation(ctx)
	if err != nil {
		e.releaseUnsent(ctx, run.ID, ds)
		return err
	}
	b.inst = inst
	outc := make(chan store.Outcome, len(ds))
	committed := make(chan error, 1)
	go func() { committed <- e.commit(ctx, run, outc, res) }()

	var (
		mu     sync.Mutex
		unsent []mailing.Delivery
	)
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
				o := e.sendOne(ctx, b, ds[i])
				if o.State == "released" {
					mu.Lock()
					unsent = append(unsent, ds[i])
					mu.Unlock()
					continue
				}
				outc <- o
			}
		}()
	}
	// Marks go a group ahead of the sends: one statement per group keeps the window of
	// doubt small without a write per message.
	group := max(2*conns, 16)
	marked := 0
	var markErr error
	for i := range ds {
		if ctx.Err() != nil || b.paused.Load() || markErr != nil {
			mu.Lock()
			unsent = append(unsent, ds[i])
			mu.Unlock()
			continue
		}
		if i >= marked {
			end := min(i+group, len(ds))
			ids := make([]int64, 0, end-i)
			for _, d := range ds[i:end] {
				ids = append(ids, d.ID)
			}
			if markErr = e.Store.MarkHanded(ctx, e.WorkerID, ids); markErr != nil {
				mu.Lock()
				unsent = append(unsent, ds[i])
				mu.Unlock()
				continue
			}
			marked = end
		}
		work <- i
	}
	close(work)
	wg.Wait()
	close(outc)
	e.releaseUnsent(ctx, run.ID, unsent)
	if err := <-committed; err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	if markErr != nil && ctx.Err() == nil {
		return fmt.Errorf("mark handed: %w", markErr)
	}
	return nil
}

// releaseUnsent hands back claims this worker never sent.
func (e *Engine) releaseUnsent(ctx context.Context, runID int64, ds []mailing.Delivery) {
	if len(ds) == 0 {
		return
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	rel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.Store.ReleaseClaims(rel, e.WorkerID, ids); err != nil {
		e.Log.Error("release claims", "run_id", runID, "err", err)
	}
}

// commit writes outcomes as they arrive, in groups: when CommitN are waiting or the oldest
// has waited CommitEvery, whichever comes first. It keeps reading after a failed write so
// no sender blocks, and returns the first error.
func (e *Engine) commit(ctx context.Context, run *mailing.Run, in <-chan store.Outcome, res *Result) error {
	every, n := e.Options.CommitEvery, e.Options.CommitN
	if every <= 0 {
		every = 50 * time.Millisecond
	}
	if n <= 0 {
		n = 50
	}
	var (
		buf   []store.Outcome
		timer = time.NewTimer(time.Hour)
		first error
	)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		timer.Stop()
		if len(buf) == 0 || first != nil {
			buf = buf[:0]
			return
		}
		// Recording must survive a cancelled ctx: these mails have gone out.
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		first = e.Store.RecordOutcomes(rec, e.WorkerID, buf)
		cancel()
		if first == nil {
			e.account(run, buf, res)
			e.changed(ctx, run.OwnerID)
		}
		buf = buf[:0]
	}
	for {
		select {
		case o, ok := <-in:
			if !ok {
				flush()
				return first
			}
			buf = append(buf, o)
			if len(buf) == 1 {
				timer.Reset(every)
			}
			if len(buf) >= n {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// installation is this installation's id (part of every Message-ID), read once.
func (e *Engine) installation(ctx context.Context) (string, error) {
	e.instMu.Lock()
	defer e.instMu.Unlock()
	if e.inst == "" {
		id, err := e.Store.InstallationID(ctx)
		if err != nil {
			return "", fmt.Errorf("installation id: %w", err)
		}
		e.inst = id
	}
	return e.inst, nil
}

func (e *Engine) sendOne(ctx context.Context, b *batchRun, d mailing.Delivery) store.Outcome {
	run := b.run
	out := store.Outcome{Delivery: d}
	if ctx.Err() != nil || b.paused.Load() {
		out.State = "released" // not started: hand it back for another worker, or for later
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
	err := b.tplErr
	if err == nil {
		var msg mailpkg.Message
		msg, err = e.message(run, d, b.tpl, b.inst)
		msg.ReturnPath = e.returnPath(d.ID)
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
		if b.relayDown {
			b.upOnce.Do(func() { e.relayUp(ctx) })
		}
		return out
	}
	f := mailpkg.Classify(err)
	a.Status, a.Response, a.SMTPCode, a.Reason = mailing.AttemptFailure, errorText(err), f.Code, f.Reason
	if errors.Is(err, errTemplate) {
		a.Reason = "template error"
	}
	out.Attempt = a
	switch {
	case f.Scope == mailpkg.ScopeRelay && !errors.Is(err, errTemplate):
		// Nothing about the recipient: the attempt is recorded, no try is spent, and the
		// delivery waits for the relay's next try with everyone else.
		b.paused.Store(true)
		out.State, out.Relay = mailing.DeliveryPending, true
		out.RetryAt = e.relayFailed(ctx, f, a.Response)
	case mailpkg.Permanent(err) || errors.Is(err, errTemplate) || d.Tries+1 >= e.maxTries():
		out.State = mailing.DeliveryFailed
	default:
		out.State = mailing.DeliveryPending
		out.RetryAt = e.Clock.Now().Add(mailing.Backoff(e.retryBase(), d.Tries+1))
	}
	return out
}

// relayObserver is an Observer that also counts the relay's pauses (app/metrics does).
type relayObserver interface {
	RelayPaused()
}

// relayFailed records that the relay could not be reached (the breaker opens, or a failed
// probe doubles the pause) and returns when it is to be tried next.
func (e *Engine) relayFailed(ctx context.Context, f mailpkg.Failure, text string) time.Time {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	st, moved, err := e.Store.RelayFailed(bg, text, e.relayBackoff)
	if err != nil || st.NextTryAt == nil {
		e.Log.Error("record relay failure", "err", err)
		return e.Clock.Now().Add(e.relayBackoff(1))
	}
	if moved {
		e.Log.Warn("mail server unreachable: sending paused", "since", st.DownSince, "next_try_at", st.NextTryAt,
			"failures", st.Failures, "reason", f.Reason, "error", text)
		if o, ok := e.Metrics.(relayObserver); ok {
			o.RelayPaused()
		}
	}
	return *st.NextTryAt
}

// relayUp records that the relay took a message again after an outage.
func (e *Engine) relayUp(ctx context.Context) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ended, since, err := e.Store.RelayUp(bg)
	if err != nil {
		e.Log.Error("record relay up", "err", err)
		return
	}
	if ended {
		e.Log.Warn("mail server reachable again: sending resumed", "down_since", since,
			"down_for", e.Clock.Now().Sub(since).Round(time.Second))
	}
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

// compiled is a message compiled for sending, once per run and process.
type compiled struct {
	*mailing.Template
	loaded time.Time
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
	var layout *mailing.Layout
	if msg.LayoutID != nil {
		if layout, err = e.Store.LayoutByID(ctx, mailing.Scope{All: true}, *msg.LayoutID); err != nil {
			return nil, err
		}
	}
	t, err := mailing.Compile(msg, layout)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTemplate, err)
	}
	c := &compiled{Template: t, loaded: time.Now()}
	e.tpls[mailingID] = c
	return c, nil
}

// message renders one delivery's email. The Message-ID is the delivery's, the run's and the
// installation's ids: the same for every try of a delivery, so receivers can drop a crash's
// duplicate, and never the same for different mail of two installations.
func (e *Engine) message(run *mailing.Run, d mailing.Delivery, tpl *compiled, inst string) (mailpkg.Message, error) {
	data := mailing.TemplateData{Name: d.Name, Email: d.Email, Sender: mailing.SenderName(e.Options.From)}
	headers := map[string]string{}
	if d.ClientID != 0 && e.Options.BaseURL != "" {
		// RFC 8058 one-click unsubscribe: mail clients POST to the link; a person can open it.
		data.UnsubscribeURL = e.Options.BaseURL + "/unsubscribe/" + mailing.UnsubscribeToken(e.Options.Secret, d.ClientID)
		headers["List-Unsubscribe"] = "<" + data.UnsubscribeURL + ">"
		headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
	}
	r, err := tpl.Render(data)
	if err != nil {
		return mailpkg.Message{}, fmt.Errorf("%w: %v", errTemplate, err)
	}
	text := r.Text
	if data.UnsubscribeURL != "" && !strings.Contains(text, data.UnsubscribeURL) {
		text += "\n\n--\nUnsubscribe: " + data.UnsubscribeURL + "\n"
	}
	to := (&mail.Address{Name: d.Name, Address: d.Email}).String()
	domain := "mailer.invalid"
	if a, err := mail.ParseAddress(e.Options.From); err == nil {
		domain = a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	}
	return mailpkg.Message{
		From:      e.Options.From,
		To:        to,
		Subject:   r.Subject,
		Text:      text,
		HTML:      r.HTML,
		Headers:   headers,
		MessageID: mailing.MessageID(d.ID, run.ID, inst, domain),
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

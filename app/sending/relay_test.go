package sending_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/testutil"
)

// relayEngine is the fixture's engine with the settings: 3 tries, 1 s apart at first.
func relayEngine(f *fixture) *sending.Engine {
	e := f.engine("t1", nil)
	e.Options.MaxTries, e.Options.RetryBase = 3, time.Second
	return e
}

// drive calls Process until the run finishes, moving the injected clock to each next try
// (the retry task's time) and calling at(now) before each call; it fails after 200 calls.
func drive(f *fixture, e *sending.Engine, runID int64, at func(now time.Time)) sending.Result {
	f.t.Helper()
	for range 200 {
		at(f.clock.Now())
		res := f.process(e, runID)
		if res.Finished {
			return res
		}
		if next := res.NextRetry; next.After(f.clock.Now()) {
			f.clock.Set(next)
		} else {
			f.clock.Advance(100 * time.Millisecond)
		}
	}
	f.t.Fatalf("run %d did not finish: %+v", runID, f.progress(runID))
	return sending.Result{}
}

// A relay down for 30 s in the middle of a run — longer than the 3 tries of 1 s base
// (1 + 2 s) would last — fails nobody: its failures pause sending for everyone with a
// backoff from 5 s, spend no recipient's try, and the run finishes once it is back. The
// pause is visible in the database (what the mailing page, /healthz and `mailer check`
// read) while it lasts.
func TestRelayOutageMidRunFailsNobody(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 30, batch: 5})
	var downAt time.Time
	hook := &hookSender{Sender: f.pool}
	hook.after = func(n int) {
		if n == 10 {
			f.sink.SetRelay(testutil.RelayDown)
		}
	}
	e := relayEngine(f)
	e.Sender = hook
	run := f.start(e, f.m)
	var sawPause bool
	res := drive(f, e, run.ID, func(now time.Time) {
		st, err := f.st.Relay(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Down() {
			if downAt.IsZero() {
				downAt = *st.DownSince
			}
			if st.NextTryAt != nil && st.NextTryAt.After(*st.DownSince) {
				sawPause = true // sending waits for the next try (drive moved the clock to it)
			}
			if now.Sub(downAt) >= 30*time.Second {
				f.sink.SetRelay(testutil.RelayUp)
			}
		}
	})
	if downAt.IsZero() || !sawPause {
		t.Fatalf("the outage was never recorded (down at %v, paused %v)", downAt, sawPause)
	}
	if took := f.clock.Now().Sub(downAt); took < 30*time.Second || took > 70*time.Second {
		t.Errorf("the run finished %s after the relay went down, want soon after its 30 s outage", took)
	}
	p := f.progress(run.ID)
	if p.Sent != 30 || p.Failed != 0 || !res.Finished {
		t.Fatalf("progress %+v (result %+v), want all 30 sent and none failed", p, res)
	}
	for _, d := range f.deliveries(run.ID) {
		if d.Tries != 1 {
			t.Errorf("delivery %d: %d tries, want 1 (an outage spends none)", d.ID, d.Tries)
		}
	}
	relayFailures := 0
	for _, a := range f.attempts(f.m.ID) {
		if a.Status == mailing.AttemptFailure {
			relayFailures++
			if a.Reason == "" || a.SMTPCode != 0 {
				t.Errorf("relay failure attempt %+v: want a reason and no SMTP code", a)
			}
		}
	}
	// The sends under way when it went down, and one probe per pause (5, 10, 20 s): few.
	if relayFailures == 0 || relayFailures > 4+4 {
		t.Errorf("%d failed attempts during the outage, want a few (the sends under way, then a probe per pause)", relayFailures)
	}
	if st, _ := f.st.Relay(f.ctx); st.Down() {
		t.Errorf("relay state %+v after the run, want up", st)
	}
	if f.sink.Count() != 30 {
		t.Errorf("sink accepted %d, want 30", f.sink.Count())
	}
}

// A hanging relay (connections accepted, never greeted) costs one timeout per connection
// under way, not one per recipient: the pause stops the rest, and no try is spent.
func TestHangingRelayPausesWithoutSpendingTries(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 20, batch: 20, timeout: 300 * time.Millisecond})
	f.sink.SetRelay(testutil.RelayHanging)
	e := relayEngine(f)
	run := f.start(e, f.m)
	began := time.Now()
	res := f.process(e, run.ID)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Process took %s against a hanging relay", took)
	}
	st, _ := f.st.Relay(f.ctx)
	if !st.Paused(f.clock.Now()) || !res.NextRetry.Equal(*st.NextTryAt) || st.NextTryAt.Sub(*st.DownSince) != 5*time.Second {
		t.Fatalf("relay %+v, result %+v: want a 5 s pause and the run's next try at its end", st, res)
	}
	if !strings.Contains(st.LastError, "timeout") && !strings.Contains(st.LastError, "i/o timeout") {
		t.Errorf("last error %q, want the timeout", st.LastError)
	}
	atts := f.attempts(f.m.ID)
	if len(atts) == 0 || len(atts) > 4 { // the pool's 4 connections
		t.Errorf("%d attempts against the hanging relay, want one per connection at most", len(atts))
	}
	for _, a := range atts {
		if a.Reason != "timeout" {
			t.Errorf("attempt reason %q, want timeout", a.Reason)
		}
	}
	for _, d := range f.deliveries(run.ID) {
		if d.Tries != 0 || d.State != mailing.DeliveryPending {
			t.Errorf("delivery %+v, want pending with no try spent", d)
		}
	}
	f.sink.SetRelay(testutil.RelayUp)
	res = drive(f, e, run.ID, func(time.Time) {})
	if p := f.progress(run.ID); p.Sent != 20 || p.Failed != 0 {
		t.Fatalf("after the relay came back: %+v", p)
	}
}

// An outage longer than SEND_OUTAGE_MAX ends the run's waiting deliveries as failed, each
// with the reason, like an MTA's maximal queue lifetime; the backoff never passes its cap.
func TestOutageLongerThanOutageMaxFailsWithReason(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 4, batch: 4})
	f.sink.SetRelay(testutil.RelayDown)
	e := relayEngine(f)
	e.Options.OutageMax = 10 * time.Minute
	run := f.start(e, f.m)
	start := f.clock.Now()
	var maxPause time.Duration
	drive(f, e, run.ID, func(now time.Time) {
		if st, _ := f.st.Relay(f.ctx); st.NextTryAt != nil && now.Before(*st.NextTryAt) {
			maxPause = max(maxPause, st.NextTryAt.Sub(now))
		}
	})
	if took := f.clock.Now().Sub(start); took < 10*time.Minute || took > 16*time.Minute {
		t.Errorf("gave up after %s, want just past SEND_OUTAGE_MAX (10m)", took)
	}
	if maxPause > 5*time.Minute {
		t.Errorf("a pause of %s, want at most the 5 min cap", maxPause)
	}
	var rows []struct {
		State  string
		Reason string
		Tries  int
	}
	if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("state", "reason", "tries").
		Where("run_id = ?", run.ID).Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.State != mailing.DeliveryFailed || !strings.Contains(r.Reason, "SEND_OUTAGE_MAX") || r.Tries != 0 {
			t.Errorf("delivery %+v, want failed with the outage as its reason and no try spent", r)
		}
	}
}

// Classify is the one place a send's failure is judged; the pool gives it what it needs.
func TestPoolFailuresAreClassified(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 0, timeout: 300 * time.Millisecond})
	msg := func(to string) mail.Message {
		return mail.Message{From: fromHeader, To: to, Subject: "s", Text: "t"}
	}
	send := func(p *mail.Pool, to string) mail.Failure {
		t.Helper()
		_, err := p.Send(f.ctx, msg(to))
		if err == nil {
			t.Fatalf("send to %s succeeded", to)
		}
		return mail.Classify(err)
	}
	f.sink.FailRecipient("refused@example.com", testutil.AtRcpt, testutil.Reject550)
	f.sink.FailRecipient("later@example.com", testutil.AtEnd, testutil.Defer451)
	if got := send(f.pool, "refused@example.com"); got.Scope != mail.ScopeRecipient || got.Code != 550 ||
		got.Enhanced != "5.1.1" || got.Temporary || got.Reason != "550 5.1.1" {
		t.Errorf("550 at RCPT: %+v", got)
	}
	if got := send(f.pool, "later@example.com"); got.Scope != mail.ScopeRecipient || got.Code != 451 ||
		got.Enhanced != "4.3.0" || !got.Temporary || got.Reason != "451 4.3.0" {
		t.Errorf("451 at the end of data: %+v", got)
	}
	// A connection the server closed while idle is not an outage: the message goes out on a
	// new one.
	f.sink.SetRelay(testutil.RelayDown)
	f.sink.SetRelay(testutil.RelayUp)
	if _, err := f.pool.Send(f.ctx, msg("fine@example.com")); err != nil {
		t.Errorf("send after the server dropped the idle connections: %v", err)
	}
	f.sink.SetRelay(testutil.RelayDown)
	if got := send(f.pool, "a@example.com"); got.Scope != mail.ScopeRelay || !got.Temporary || got.Code != 0 {
		t.Errorf("relay down: %+v", got)
	}
	f.sink.SetRelay(testutil.RelayHanging)
	if got := send(f.pool, "a@example.com"); got.Scope != mail.ScopeRelay || got.Reason != "timeout" {
		t.Errorf("relay hanging: %+v", got)
	}
	f.sink.SetRelay(testutil.RelayUp)
	// Nobody listening: connection refused.
	closed, err := mail.NewPool("smtp://127.0.0.1:1", mail.PoolOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	if got := send(closed, "a@example.com"); got.Scope != mail.ScopeRelay || got.Reason != "connection refused" {
		t.Errorf("nobody listening: %+v", got)
	}
	if got := mail.Classify(&mail.SMTPError{Code: 421, Msg: "4.3.2 shutting down"}); got.Scope != mail.ScopeRelay || got.Reason != "421 4.3.2" {
		t.Errorf("421: %+v", got)
	}
	if got := mail.Classify(&mail.RelayError{Stage: "auth", Err: &mail.SMTPError{Code: 535, Msg: "5.7.8 bad credentials"}}); got.Scope != mail.ScopeRelay ||
		mail.Permanent(&mail.RelayError{Stage: "auth", Err: &mail.SMTPError{Code: 535, Msg: "5.7.8 no"}}) {
		t.Errorf("535 to AUTH: %+v, want the relay's and not permanent", got)
	}
}

// The "done when": a 15-minute relay outage in the middle of a mailing costs no
// recipient, with the shipped settings (4 tries from 30 s, pauses 5 s → 5 min). On the
// injected clock it runs in seconds; OUTAGE_RECIPIENTS=10000 runs it at the size
// (the suite's default is 300).
func TestFifteenMinuteOutageCostsNoRecipient(t *testing.T) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("OUTAGE_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	f := newFixture(t, fixtureOptions{n: n, batch: 200})
	hook := &hookSender{Sender: f.pool}
	hook.after = func(sent int) {
		if sent == n/2 {
			f.sink.SetRelay(testutil.RelayDown)
		}
	}
	e := f.engine("t1", hook) // MaxTries 4, RetryBase 30 s
	run := f.start(e, f.m)
	var downAt time.Time
	pauses := 0
	began := time.Now()
	drive(f, e, run.ID, func(now time.Time) {
		st, _ := f.st.Relay(f.ctx)
		if st.Down() {
			if downAt.IsZero() {
				downAt = *st.DownSince
			}
			pauses = st.Failures
			if now.Sub(downAt) >= 15*time.Minute {
				f.sink.SetRelay(testutil.RelayUp)
			}
		}
	})
	// Going down closes the open connections, and a message whose data was already handed
	// over may have been taken by the server before the sender could read its answer:
	// SMTP cannot tell, so the engine counts that try and sends it again (at least once,
	// never lost). Those are the only tries the outage may cost — at most the messages in
	// flight then, two per connection (one answered, one pipelined behind it) — and the
	// only copies the sink may hold twice. The outage itself spends no try.
	var cut []struct {
		DeliveryID int64
		Status     string
		Response   string
		SMTPCode   int `bun:"smtp_code"`
	}
	if err := f.st.DB.NewSelect().TableExpr("attempts").Column("delivery_id", "status", "response", "smtp_code").
		Where("delivery_id IN (SELECT id FROM deliveries WHERE run_id = ? AND tries > 1)", run.ID).
		Where("status = 'failure'").Scan(f.ctx, &cut); err != nil {
		t.Fatal(err)
	}
	const inFlight = 2 * 4 // MaxConns 4
	if len(cut) > inFlight {
		t.Errorf("%d deliveries took a second try, want at most the %d in flight when the relay went down: %+v", len(cut), inFlight, cut)
	}
	for _, a := range cut {
		if a.SMTPCode != 0 {
			t.Errorf("delivery %d spent a try on an answer (%d %s): only a connection cut mid-transaction may cost one", a.DeliveryID, a.SMTPCode, a.Response)
		}
	}
	p := f.progress(run.ID)
	if downAt.IsZero() || p.Sent != n || p.Failed != 0 || f.sink.Count() < n || f.sink.Count() > n+len(cut) {
		t.Fatalf("progress %+v, sink %d, down at %v, %d cut mid-transaction: want all %d sent after the outage", p, f.sink.Count(), downAt, len(cut), n)
	}
	var maxTries int
	if err := f.st.DB.NewSelect().TableExpr("deliveries").ColumnExpr("MAX(tries)").Where("run_id = ?", run.ID).Scan(f.ctx, &maxTries); err != nil {
		t.Fatal(err)
	}
	if maxTries > 2 {
		t.Errorf("a delivery took %d tries, want at most 2: the outage spent none", maxTries)
	}
	t.Logf("%d recipients, relay down at %d sent for 15 min (injected clock): %d pauses, finished %s after it went down, %d failed; took %s",
		n, n/2, pauses, f.clock.Now().Sub(downAt).Round(time.Second), p.Failed, time.Since(began).Round(time.Millisecond))
}

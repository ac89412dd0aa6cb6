package sending_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/testutil"
)

func TestSendRecordsEachAttemptWithServerReply(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 5})
	e := f.engine("t1", nil)
	if st, err := f.st.MailingStatus(f.ctx, f.m.ID); err != nil || st != mailing.StatusCreated {
		t.Fatalf("status before sending = %q, %v; want created", st, err)
	}
	run := f.start(e, f.m)
	if run.Total != 5 || run.MailingID != f.m.ID || run.Kind != mailing.RunManual {
		t.Fatalf("run = %+v", run)
	}
	res := f.process(e, run.ID)
	if res.Sent != 5 || res.Failed != 0 || res.Retried != 0 || res.Cancelled != 0 || !res.Finished || !res.NextRetry.IsZero() {
		t.Fatalf("result = %+v, want 5 sent and finished", res)
	}

	byEmail := map[string]mailing.Client{}
	for _, c := range f.clients {
		byEmail[c.Email] = c
	}
	ds := f.deliveries(run.ID)
	deliveryOf := map[int64]deliveryRow{}
	for _, d := range ds {
		deliveryOf[d.ID] = d
		if d.State != mailing.DeliverySent || d.Tries != 1 || d.ClaimedBy != nil || d.ClaimedUntil != nil {
			t.Errorf("delivery %+v, want sent after 1 try with no claim", d)
		}
	}
	atts := f.attempts(f.m.ID)
	if len(atts) != 5 {
		t.Fatalf("%d attempts, want 5", len(atts))
	}
	wantIDs := map[string]string{} // Message-ID → email
	seen := map[int64]bool{}
	inst, err := f.st.InstallationID(f.ctx)
	if err != nil || inst == "" {
		t.Fatalf("installation id %q: %v", inst, err)
	}
	for _, a := range atts {
		d, ok := deliveryOf[a.DeliveryID]
		if a.Status != mailing.AttemptSuccess || a.SMTPCode != 250 || !strings.HasPrefix(a.Response, "250 2.0.0 queued as") ||
			a.MailingID != f.m.ID || a.RunID != run.ID || !ok || seen[a.DeliveryID] || d.Email != a.Email ||
			byEmail[a.Email].ID != a.ClientID || !a.AttemptedAt.Equal(f.clock.Now()) {
			t.Errorf("attempt %+v (delivery %+v)", a, d)
		}
		seen[a.DeliveryID] = true
		wantIDs[fmt.Sprintf("%d.%d.%s@example.com", a.DeliveryID, run.ID, inst)] = a.Email
	}

	msgs := f.sink.Messages()
	if len(msgs) != 5 {
		t.Fatalf("sink has %d messages, want 5", len(msgs))
	}
	for _, m := range msgs {
		email, ok := wantIDs[m.MessageID]
		if !ok {
			t.Errorf("Message-ID %q is not <delivery>.<run>.<installation>@example.com of an attempt", m.MessageID)
			continue
		}
		delete(wantIDs, m.MessageID) // a second message with the same id fails above
		c := byEmail[email]
		// DATA ends with a line break, which the sink keeps in the text.
		if m.Subject != "Hello "+c.FullName || strings.TrimSuffix(m.Text, "\n") != "Hi "+c.FullName+" <"+email+">" {
			t.Errorf("message to %s: subject %q, text %q", email, m.Subject, m.Text)
		}
		if m.From != "m@example.com" || len(m.To) != 1 || m.To[0] != email {
			t.Errorf("envelope from %q to %v, want m@example.com to %s", m.From, m.To, email)
		}
		if got := m.Header.Get("From"); !strings.Contains(got, "<m@example.com>") {
			t.Errorf("From header %q", got)
		}
		if got := m.Header.Get("To"); !strings.Contains(got, "<"+email+">") || !strings.Contains(got, c.FullName) {
			t.Errorf("To header %q", got)
		}
	}

	if st, err := f.st.MailingStatus(f.ctx, f.m.ID); err != nil || st != mailing.StatusRunning {
		t.Fatalf("status after sending = %q, %v; want running", st, err)
	}
	if p := f.progress(run.ID); p.Sent != 5 || p.Pending != 0 || p.Total != 5 || p.FinishedAt == nil {
		t.Fatalf("progress = %+v", p)
	}
	// The task running again finds nothing to do.
	if res := f.process(e, run.ID); res.Sent != 0 || res.Finished || f.sink.Count() != 5 || len(f.attempts(f.m.ID)) != 5 {
		t.Fatalf("second Process: %+v, sink %d", res, f.sink.Count())
	}
}

func TestPermanentRejectionIsFinalAfterOneAttempt(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 3})
	f.sink.SetMode(testutil.Reject550)
	e := f.engine("t1", nil)
	run := f.start(e, f.m)
	res := f.process(e, run.ID)
	if res.Failed != 3 || res.Sent != 0 || res.Retried != 0 || !res.Finished || !res.NextRetry.IsZero() {
		t.Fatalf("result = %+v, want 3 failed and finished", res)
	}
	// Much later, nothing is tried again.
	f.clock.Advance(24 * time.Hour)
	if res := f.process(e, run.ID); res.Failed+res.Sent+res.Retried != 0 {
		t.Fatalf("later Process: %+v", res)
	}
	for _, d := range f.deliveries(run.ID) {
		if d.State != mailing.DeliveryFailed || d.Tries != 1 || d.ClaimedBy != nil {
			t.Errorf("delivery %+v, want failed after 1 try", d)
		}
	}
	atts := f.attempts(f.m.ID)
	if len(atts) != 3 {
		t.Fatalf("%d attempts, want 3", len(atts))
	}
	perDelivery := map[int64]int{}
	for _, a := range atts {
		perDelivery[a.DeliveryID]++
		if a.Status != mailing.AttemptFailure || a.SMTPCode != 550 || !strings.Contains(a.Response, "550") ||
			!strings.Contains(a.Response, "5.1.1") {
			t.Errorf("attempt %+v", a)
		}
	}
	for id, n := range perDelivery {
		if n != 1 {
			t.Errorf("delivery %d has %d attempts", id, n)
		}
	}
	if f.sink.Count() != 0 {
		t.Fatalf("sink accepted %d messages", f.sink.Count())
	}
	if p := f.progress(run.ID); p.Failed != 3 || p.Pending != 0 {
		t.Fatalf("progress = %+v", p)
	}
}

func TestDeferralIsRetriedWithBackoffAndEachTryRecorded(t *testing.T) {
	t.Run("deferred once then sent", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 1})
		f.sink.FailNext(1, testutil.Defer451)
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		t0 := f.clock.Now()
		res := f.process(e, run.ID)
		if res.Retried != 1 || res.Sent != 0 || res.Failed != 0 || res.Finished {
			t.Fatalf("first Process = %+v, want 1 retried", res)
		}
		if want := t0.Add(30 * time.Second); !res.NextRetry.Equal(want) {
			t.Fatalf("NextRetry = %v, want %v", res.NextRetry, want)
		}
		if d := f.deliveries(run.ID)[0]; d.State != mailing.DeliveryPending || d.Tries != 1 || d.ClaimedBy != nil ||
			!d.NextTryAt.Equal(t0.Add(30*time.Second)) {
			t.Fatalf("delivery after deferral = %+v", d)
		}
		// Not due yet.
		f.clock.Advance(29 * time.Second)
		if res := f.process(e, run.ID); res.Sent+res.Retried+res.Failed != 0 || res.Finished {
			t.Fatalf("Process before the retry is due = %+v", res)
		}
		if n := len(f.attempts(f.m.ID)); n != 1 {
			t.Fatalf("%d attempts before the retry is due", n)
		}
		f.clock.Advance(time.Second)
		if res := f.process(e, run.ID); res.Sent != 1 || !res.Finished || !res.NextRetry.IsZero() {
			t.Fatalf("Process when due = %+v, want sent and finished", res)
		}
		atts := f.attempts(f.m.ID)
		if len(atts) != 2 {
			t.Fatalf("%d attempts, want 2", len(atts))
		}
		if a := atts[0]; a.Status != mailing.AttemptFailure || a.SMTPCode != 451 || !strings.Contains(a.Response, "451") ||
			!strings.Contains(a.Response, "4.3.0") || !a.AttemptedAt.Equal(t0) {
			t.Errorf("first attempt %+v", a)
		}
		if a := atts[1]; a.Status != mailing.AttemptSuccess || a.SMTPCode != 250 || !a.AttemptedAt.Equal(t0.Add(30*time.Second)) ||
			a.DeliveryID != atts[0].DeliveryID {
			t.Errorf("second attempt %+v", a)
		}
		if d := f.deliveries(run.ID)[0]; d.State != mailing.DeliverySent || d.Tries != 2 {
			t.Errorf("delivery = %+v", d)
		}
		if f.sink.Count() != 1 {
			t.Errorf("sink has %d messages", f.sink.Count())
		}
	})

	t.Run("keeps deferring until MaxTries", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 1})
		f.sink.SetMode(testutil.Defer451)
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		for try, wait := 1, 30*time.Second; try <= 4; try, wait = try+1, wait*2 {
			now := f.clock.Now()
			res := f.process(e, run.ID)
			if try == 4 {
				if res.Failed != 1 || res.Retried != 0 || !res.Finished || !res.NextRetry.IsZero() {
					t.Fatalf("try 4: %+v, want failed and finished", res)
				}
				break
			}
			if res.Retried != 1 || res.Failed != 0 || !res.NextRetry.Equal(now.Add(wait)) {
				t.Fatalf("try %d: %+v, want a retry at %v (+%s)", try, res, now.Add(wait), wait)
			}
			f.clock.Set(res.NextRetry.Add(-time.Second))
			if res := f.process(e, run.ID); res.Sent+res.Retried+res.Failed != 0 {
				t.Fatalf("try %d: retried early: %+v", try, res)
			}
			f.clock.Set(res.NextRetry)
		}
		atts := f.attempts(f.m.ID)
		if len(atts) != 4 {
			t.Fatalf("%d attempts, want exactly MaxTries = 4", len(atts))
		}
		for _, a := range atts {
			if a.Status != mailing.AttemptFailure || a.SMTPCode != 451 {
				t.Errorf("attempt %+v", a)
			}
		}
		if d := f.deliveries(run.ID)[0]; d.State != mailing.DeliveryFailed || d.Tries != 4 {
			t.Errorf("delivery = %+v", d)
		}
		// Later Process calls try nothing more.
		f.clock.Advance(time.Hour)
		f.process(e, run.ID)
		if n := len(f.attempts(f.m.ID)); n != 4 {
			t.Fatalf("%d attempts after the run finished", n)
		}
	})
}

// transientOnce checks that a delivery whose first try met a network failure (mode) is
// pending for a retry with the failure recorded, and is sent by the retry.
func transientOnce(t *testing.T, mode testutil.Mode, timeout time.Duration, check func(t *testing.T, a mailing.Attempt)) {
	f := newFixture(t, fixtureOptions{n: 1, timeout: timeout})
	f.sink.FailNext(1, mode)
	e := f.engine("t1", nil)
	run := f.start(e, f.m)
	t0 := f.clock.Now()
	began := time.Now()
	res := f.process(e, run.ID)
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Process took %s", took)
	}
	if res.Retried != 1 || res.Sent != 0 || res.Failed != 0 || res.Finished || !res.NextRetry.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("result = %+v, want 1 retry at +30s", res)
	}
	d := f.deliveries(run.ID)[0]
	if d.State != mailing.DeliveryPending || d.Tries != 1 || d.ClaimedBy != nil {
		t.Fatalf("delivery = %+v, want pending for a retry", d)
	}
	atts := f.attempts(f.m.ID)
	if len(atts) != 1 || atts[0].Status != mailing.AttemptFailure || atts[0].Response == "" || atts[0].SMTPCode != 0 {
		t.Fatalf("attempts = %+v, want one failure without an SMTP code", atts)
	}
	check(t, atts[0])
	if f.sink.Count() != 0 {
		t.Fatalf("sink recorded %d messages", f.sink.Count())
	}
	f.clock.Advance(30 * time.Second)
	if res := f.process(e, run.ID); res.Sent != 1 || !res.Finished {
		t.Fatalf("retry: %+v", res)
	}
	if f.sink.Count() != 1 || len(f.attempts(f.m.ID)) != 2 {
		t.Fatalf("after the retry: sink %d, attempts %d", f.sink.Count(), len(f.attempts(f.m.ID)))
	}
}

func TestHangingServerTimesOutAndIsRetried(t *testing.T) {
	transientOnce(t, testutil.Hang, 300*time.Millisecond, func(t *testing.T, a mailing.Attempt) {
		if !strings.Contains(strings.ToLower(a.Response), "timeout") {
			t.Errorf("response %q does not mention the timeout", a.Response)
		}
		if a.LatencyMS < 250 {
			t.Errorf("latency %d ms, want about the 300 ms timeout", a.LatencyMS)
		}
	})
}

func TestDroppedConnectionIsTransient(t *testing.T) {
	transientOnce(t, testutil.Drop, 0, func(t *testing.T, a mailing.Attempt) {
		if !strings.Contains(strings.ToLower(a.Response), "eof") && !strings.Contains(a.Response, "reset") {
			t.Errorf("response %q does not say the connection ended", a.Response)
		}
	})
}

func TestDuplicateTaskSendsOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 200, batch: 20})
	run := f.start(f.engine("starter", nil), f.m)
	results := make([]sending.Result, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		e := f.engine(fmt.Sprintf("w%d", i+1), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.Process(f.ctx, run.ID)
		}()
	}
	wg.Wait()
	sent, finished := 0, 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i+1, errs[i])
		}
		sent += r.Sent
		if r.Finished {
			finished++
		}
		if r.Failed+r.Retried+r.Cancelled != 0 {
			t.Errorf("worker %d: %+v", i+1, r)
		}
	}
	if sent != 200 || finished != 1 {
		t.Fatalf("sent %d (want 200), finished by %d calls (want 1): %+v", sent, finished, results)
	}
	counts := f.sink.CountByMessageID()
	total := 0
	for id, n := range counts {
		total += n
		if n != 1 {
			t.Errorf("Message-ID %s received %d times", id, n)
		}
	}
	if total != 200 || len(counts) != 200 {
		t.Fatalf("sink: %d messages with %d distinct ids, want 200", total, len(counts))
	}
	atts := f.attempts(f.m.ID)
	perDelivery := map[int64]int{}
	for _, a := range atts {
		perDelivery[a.DeliveryID]++
	}
	if len(atts) != 200 || len(perDelivery) != 200 {
		t.Fatalf("%d attempts over %d deliveries, want 200 each", len(atts), len(perDelivery))
	}
	if p := f.progress(run.ID); p.Sent != 200 || p.Pending != 0 || p.FinishedAt == nil {
		t.Fatalf("progress = %+v", p)
	}
}

func TestDisabledMidRunStopsAndCancelsTheRest(t *testing.T) {
	t.Run("disabled mid-run", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 8, batch: 1})
		hook := &hookSender{Sender: f.pool}
		hook.after = func(n int) {
			if n == 3 {
				if err := f.st.SetMailingDisabled(context.Background(), f.m.ID, true); err != nil {
					t.Error(err)
				}
			}
		}
		e := f.engine("t1", hook)
		run := f.start(e, f.m)
		res := f.process(e, run.ID)
		if res.Sent != 3 || res.Cancelled != 5 || res.Failed+res.Retried != 0 || !res.Finished || !res.NextRetry.IsZero() {
			t.Fatalf("result = %+v, want 3 sent, 5 cancelled, finished", res)
		}
		p := f.progress(run.ID)
		if p.Pending != 0 || p.Sent != 3 || p.Cancelled != 5 || p.FinishedAt == nil {
			t.Fatalf("progress = %+v", p)
		}
		for _, d := range f.deliveries(run.ID) {
			if d.ClaimedBy != nil || (d.State == mailing.DeliveryCancelled) != (d.Tries == 0) {
				t.Errorf("delivery %+v", d)
			}
		}
		if f.sink.Count() != 3 || len(f.attempts(f.m.ID)) != 3 {
			t.Fatalf("sink %d, attempts %d; want 3 each", f.sink.Count(), len(f.attempts(f.m.ID)))
		}
		// Enabling the mailing again does not revive the cancelled deliveries of this run.
		if err := f.st.SetMailingDisabled(f.ctx, f.m.ID, false); err != nil {
			t.Fatal(err)
		}
		if res := f.process(e, run.ID); res.Sent != 0 || f.sink.Count() != 3 {
			t.Fatalf("Process after enabling: %+v", res)
		}
	})

	t.Run("owner blocked after the run started", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 4})
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		if err := f.st.SetBlocked(f.ctx, f.owner, true); err != nil {
			t.Fatal(err)
		}
		res := f.process(e, run.ID)
		if res.Sent != 0 || res.Cancelled != 4 || !res.Finished {
			t.Fatalf("result = %+v, want all 4 cancelled", res)
		}
		if f.sink.Count() != 0 || len(f.attempts(f.m.ID)) != 0 {
			t.Fatalf("a blocked owner's mailing was sent")
		}
	})

	refused := func(t *testing.T, prepare func(f *fixture), want error) {
		f := newFixture(t, fixtureOptions{n: 2})
		prepare(f)
		e := f.engine("t1", nil)
		run, err := e.Start(f.ctx, mailing.Scope{UserID: f.owner}, f.m.ID, mailing.RunManual)
		if !errors.Is(err, want) || run != nil {
			t.Fatalf("Start = %v, %v; want %v", run, err, want)
		}
		if _, err := f.st.LatestRun(f.ctx, f.m.ID); mailing.ErrorCode(err) != mailing.ENOTFOUND {
			t.Fatalf("a refused Start recorded a run: %v", err)
		}
	}
	t.Run("start refused when disabled", func(t *testing.T) {
		refused(t, func(f *fixture) {
			if err := f.st.SetMailingDisabled(f.ctx, f.m.ID, true); err != nil {
				t.Fatal(err)
			}
		}, mailing.ErrMailingDisabled)
	})
	t.Run("start refused when the owner is blocked", func(t *testing.T) {
		refused(t, func(f *fixture) {
			if err := f.st.SetBlocked(f.ctx, f.owner, true); err != nil {
				t.Fatal(err)
			}
		}, mailing.ErrOwnerBlocked)
	})
	t.Run("start refused when finished", func(t *testing.T) {
		refused(t, func(f *fixture) { f.clock.Set(f.m.EndAt) }, mailing.ErrMailingFinished)
	})
	t.Run("start refused outside the owner's scope", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 1})
		other := &mailing.User{Email: "other@example.com"}
		if err := f.st.CreateUser(f.ctx, other); err != nil {
			t.Fatal(err)
		}
		_, err := f.engine("t1", nil).Start(f.ctx, mailing.Scope{UserID: other.ID}, f.m.ID, mailing.RunManual)
		if mailing.ErrorCode(err) != mailing.ENOTFOUND {
			t.Fatalf("Start by another user = %v, want not found", err)
		}
	})
}

func TestHeaderInjectionThroughNameIsImpossible(t *testing.T) {
	const evilName = "X\r\nBcc: evil@example.com"
	// insertEvil stores a client the way no form would: straight into the table.
	insertEvil := func(f *fixture) int64 {
		var id int64
		now := f.clock.Now()
		if err := f.st.DB.NewRaw(`INSERT INTO clients (owner_id, email, full_name, name_lc, comment, created_at, updated_at)
			VALUES (?, ?, ?, ?, '', ?, ?) RETURNING id`, f.owner, "victim@example.com", evilName, strings.ToLower(evilName),
			now, now).Scan(f.ctx, &id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	noBcc := func(t *testing.T, f *fixture) {
		for _, m := range f.sink.Messages() {
			head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
			for _, line := range strings.Split(head, "\r\n") {
				if strings.HasPrefix(strings.ToLower(line), "bcc:") {
					t.Errorf("message to %v carries the header %q:\n%s", m.To, line, head)
				}
			}
			if m.Header.Get("Bcc") != "" || strings.Contains(strings.Join(m.To, ","), "evil") {
				t.Errorf("message to %v: Bcc %q", m.To, m.Header.Get("Bcc"))
			}
		}
	}

	t.Run("name in the subject", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 2})
		evil := insertEvil(f)
		m := f.newMailing(f.clients[0].ID, evil, f.clients[1].ID)
		e := f.engine("t1", nil)
		run := f.start(e, m)
		res := f.process(e, run.ID)
		if res.Sent != 2 || res.Failed != 1 || res.Retried != 0 || !res.Finished {
			t.Fatalf("result = %+v, want 2 sent and the injected one failed for good", res)
		}
		var found bool
		for _, a := range f.attempts(m.ID) {
			if a.ClientID != evil {
				continue
			}
			found = true
			if a.Status != mailing.AttemptFailure || a.Response != mail.ErrHeaderInjection.Error() || a.SMTPCode != 0 {
				t.Errorf("attempt %+v, want a header-injection failure", a)
			}
		}
		if !found {
			t.Fatal("no attempt recorded for the injected client")
		}
		for _, d := range f.deliveries(run.ID) {
			if d.ClientID == evil && (d.State != mailing.DeliveryFailed || d.Tries != 1) {
				t.Errorf("injected delivery %+v, want failed after 1 try", d)
			}
		}
		if f.sink.Count() != 2 {
			t.Errorf("sink has %d messages, want 2", f.sink.Count())
		}
		noBcc(t, f)
	})

	t.Run("name in the To header only", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 0, subject: "Hello"})
		evil := insertEvil(f)
		m := f.newMailing(evil)
		e := f.engine("t1", nil)
		run := f.start(e, m)
		res := f.process(e, run.ID)
		// Sent with the name encoded, or refused; never with a header of its own.
		if res.Sent+res.Failed != 1 || res.Retried != 0 || !res.Finished {
			t.Fatalf("result = %+v", res)
		}
		noBcc(t, f)
		for _, msg := range f.sink.Messages() {
			if to := msg.Header.Get("To"); !strings.HasSuffix(to, "<victim@example.com>") {
				t.Errorf("To header %q", to)
			}
			if msg.To[0] != "victim@example.com" || len(msg.To) != 1 {
				t.Errorf("envelope recipients %v", msg.To)
			}
		}
	})

	t.Run("validation refuses line breaks", func(t *testing.T) {
		for _, s := range []string{"Hi\r\nBcc: evil@example.com", "Hi\nBcc: evil@example.com", "Hi\rthere"} {
			m := &mailing.Message{Subject: s, Body: "body"}
			if got := m.Validate()["subject"]; got != "validation.one_line" {
				t.Errorf("subject %q: error %q, want validation.one_line", s, got)
			}
			c := &mailing.Client{Email: "a@example.com", FullName: s}
			if got := c.Validate()["full_name"]; got != "validation.one_line" {
				t.Errorf("full name %q: error %q, want validation.one_line", s, got)
			}
		}
	})
}

func TestCancelledContextReleasesClaims(t *testing.T) {
	check := func(t *testing.T, batch int, conns int) {
		f := newFixture(t, fixtureOptions{n: 5, batch: batch})
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		hook := &hookSender{Sender: f.pool, after: func(n int) {
			if n == 1 {
				cancel()
			}
		}}
		e := f.engine("t1", hook)
		e.Options.Conns = conns
		run := f.start(e, f.m)
		res, err := e.Process(ctx, run.ID)
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		if res.Sent != 1 || res.Finished {
			t.Fatalf("result = %+v, want the one message in flight sent and the run unfinished", res)
		}
		states := map[string]int{}
		for _, d := range f.deliveries(run.ID) {
			states[d.State]++
			if d.State == mailing.DeliverySending {
				t.Errorf("delivery %d left claimed: %+v", d.ID, d)
			}
			if d.State == mailing.DeliveryPending && (d.ClaimedBy != nil || d.ClaimedUntil != nil || d.Tries != 0) {
				t.Errorf("unsent delivery %+v still carries a claim or a try", d)
			}
		}
		if states[mailing.DeliverySent] != 1 || states[mailing.DeliveryPending] != 4 {
			t.Fatalf("states = %v, want 1 sent and 4 pending", states)
		}
		if f.sink.Count() != 1 {
			t.Fatalf("sink has %d messages, want 1", f.sink.Count())
		}
		// Another worker takes the rest at once.
		res = f.process(f.engine("t2", nil), run.ID)
		if res.Sent != 4 || !res.Finished {
			t.Fatalf("second worker: %+v", res)
		}
		for id, n := range f.sink.CountByMessageID() {
			if n != 1 {
				t.Errorf("Message-ID %s received %d times", id, n)
			}
		}
		if f.sink.Count() != 5 {
			t.Fatalf("sink has %d messages, want 5", f.sink.Count())
		}
	}
	t.Run("between batches", func(t *testing.T) { check(t, 1, 4) })
	// One connection, one batch of 5: deliveries not yet begun when ctx ends are handed back.
	t.Run("within a batch", func(t *testing.T) { check(t, 5, 1) })
}

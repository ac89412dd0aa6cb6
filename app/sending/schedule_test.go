package sending_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/testutil"
)

// schedFixture is a fixture whose only mailing is a daily one from now to three days on, to
// every client. The fixture's own one-off mailing is deleted so it does not schedule too.
func schedFixture(t *testing.T, n int) (*fixture, *mailing.Mailing) {
	t.Helper()
	f := newFixture(t, fixtureOptions{n: n})
	if err := f.st.DeleteMailing(f.ctx, f.owner, f.m.ID); err != nil {
		t.Fatal(err)
	}
	f.m = nil
	return f, schedMailing(f, mailing.PeriodDaily, f.clock.Now(), f.clock.Now().Add(3*24*time.Hour))
}

func schedMailing(f *fixture, period string, start, end time.Time) *mailing.Mailing {
	f.t.Helper()
	ids := make([]int64, len(f.clients))
	for i, c := range f.clients {
		ids[i] = c.ID
	}
	m := &mailing.Mailing{OwnerID: f.owner, MessageID: f.msg.ID, StartAt: start, EndAt: end, Period: period}
	if errs := m.Validate(); len(errs) > 0 {
		f.t.Fatalf("mailing: %v", errs)
	}
	if err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: ids}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// schedRuns returns a mailing's runs, oldest first.
func schedRuns(f *fixture, mailingID int64) []mailing.Run {
	f.t.Helper()
	var runs []mailing.Run
	if err := f.st.DB.NewSelect().Model(&runs).Where("mailing_id = ?", mailingID).OrderExpr("id").Scan(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return runs
}

func schedule(f *fixture, e *sending.Engine) int {
	f.t.Helper()
	n, err := e.Schedule(f.ctx)
	if err != nil {
		f.t.Fatalf("Schedule: %v", err)
	}
	return n
}

// schedCheck asserts a mailing's runs: their number, and that the last is a scheduled run
// of the given slot with every current recipient.
func schedCheck(f *fixture, m *mailing.Mailing, wantRuns int, slot time.Time, total int) {
	f.t.Helper()
	runs := schedRuns(f, m.ID)
	if len(runs) != wantRuns {
		f.t.Fatalf("%d runs, want %d: %+v", len(runs), wantRuns, runs)
	}
	last := runs[len(runs)-1]
	if last.Kind != mailing.RunSchedule || last.Slot == nil || !last.Slot.Equal(slot) || last.Total != total || last.OwnerID != f.owner {
		f.t.Fatalf("last run %+v (slot %v), want a scheduled run of slot %s for %d", last, last.Slot, slot, total)
	}
	if p := f.progress(last.ID); p.Total != total || p.Pending != total {
		f.t.Fatalf("progress of run %d = %+v, want %d pending", last.ID, p, total)
	}
}

func TestScheduleStartsOneRunPerDailySlot(t *testing.T) {
	f, m := schedFixture(t, 3)
	e := f.engine("s1", nil)
	start := m.StartAt

	if n := schedule(f, e); n != 1 {
		t.Fatalf("first Schedule started %d runs, want 1", n)
	}
	schedCheck(f, m, 1, start, 3)

	// The same minute, a doubled tick: nothing new.
	f.clock.Advance(30 * time.Second)
	if n := schedule(f, e); n != 0 {
		t.Fatalf("second Schedule in the same minute started %d runs", n)
	}
	schedCheck(f, m, 1, start, 3)

	// Just before the next slot: nothing.
	f.clock.Set(start.Add(24*time.Hour - time.Second))
	if n := schedule(f, e); n != 0 {
		t.Fatalf("Schedule before the next slot started %d runs", n)
	}

	// A day after the start: the second slot.
	f.clock.Set(start.Add(24 * time.Hour))
	if n := schedule(f, e); n != 1 {
		t.Fatalf("Schedule a day later started %d runs, want 1", n)
	}
	schedCheck(f, m, 2, start.Add(24*time.Hour), 3)
	f.clock.Advance(5 * time.Minute)
	if n := schedule(f, e); n != 0 {
		t.Fatalf("Schedule five minutes later started %d runs", n)
	}
	schedCheck(f, m, 2, start.Add(24*time.Hour), 3)

	// A new slot, scheduled by two workers at once, ten ticks each: one run.
	f.clock.Set(start.Add(48*time.Hour + time.Minute))
	engines := []*sending.Engine{f.engine("s1", nil), f.engine("s2", nil)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := 0
	var errs []error
	for _, e := range engines {
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := e.Schedule(f.ctx)
				mu.Lock()
				defer mu.Unlock()
				started += n
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("concurrent Schedule errors: %v", errs)
	}
	if started != 1 {
		t.Errorf("concurrent Schedule calls reported %d runs started, want 1", started)
	}
	schedCheck(f, m, 3, start.Add(48*time.Hour), 3)

	// The last slot before the end stays the latest until the end; at and after the end,
	// nothing more.
	f.clock.Set(m.EndAt.Add(-time.Second))
	if n := schedule(f, e); n != 0 {
		t.Fatalf("Schedule just before the end started %d runs", n)
	}
	for _, at := range []time.Time{m.EndAt, m.EndAt.Add(time.Hour), m.EndAt.Add(7 * 24 * time.Hour)} {
		f.clock.Set(at)
		if n := schedule(f, e); n != 0 {
			t.Fatalf("Schedule at %s (end %s) started %d runs", at, m.EndAt, n)
		}
	}
	runs := schedRuns(f, m.ID)
	if len(runs) != 3 {
		t.Fatalf("%d runs after the end, want 3", len(runs))
	}
	for i, r := range runs {
		if want := start.Add(time.Duration(i) * 24 * time.Hour); r.Slot == nil || !r.Slot.Equal(want) {
			t.Errorf("run %d slot %v, want %s", i, r.Slot, want)
		}
	}
	// The runs were only recorded: Schedule sends nothing itself.
	if f.sink.Count() != 0 {
		t.Fatalf("Schedule sent %d messages", f.sink.Count())
	}
}

// A worker that was down for days starts the latest slot only, not one run per missed day.
func TestScheduleAfterDowntimeStartsTheLatestSlotOnly(t *testing.T) {
	f, m := schedFixture(t, 2)
	e := f.engine("s1", nil)
	f.clock.Set(m.StartAt.Add(2*24*time.Hour + 5*time.Hour))
	if n := schedule(f, e); n != 1 {
		t.Fatalf("Schedule started %d runs, want 1", n)
	}
	schedCheck(f, m, 1, m.StartAt.Add(2*24*time.Hour), 2)
}

func TestScheduleBeforeStartStartsNothing(t *testing.T) {
	f, _ := schedFixture(t, 2)
	m := schedMailing(f, mailing.PeriodWeekly, f.clock.Now().Add(time.Hour), f.clock.Now().Add(30*24*time.Hour))
	e := f.engine("s1", nil)
	if n := schedule(f, e); n != 1 { // the daily mailing only
		t.Fatalf("Schedule started %d runs, want 1", n)
	}
	if runs := schedRuns(f, m.ID); len(runs) != 0 {
		t.Fatalf("a mailing not started yet has runs: %+v", runs)
	}
	f.clock.Advance(time.Hour)
	if n := schedule(f, e); n != 1 {
		t.Fatalf("Schedule at the weekly start started %d runs, want 1", n)
	}
	schedCheck(f, m, 1, m.StartAt, 2)
}

func TestScheduleSkipsStoppedMailings(t *testing.T) {
	t.Run("disabled mailing", func(t *testing.T) {
		f, m := schedFixture(t, 2)
		if err := f.st.SetMailingDisabled(f.ctx, m.ID, true); err != nil {
			t.Fatal(err)
		}
		e := f.engine("s1", nil)
		if n := schedule(f, e); n != 0 {
			t.Fatalf("Schedule started %d runs of a disabled mailing", n)
		}
		if runs := schedRuns(f, m.ID); len(runs) != 0 {
			t.Fatalf("runs of a disabled mailing: %+v", runs)
		}
		// Enabled again, the current slot is started.
		if err := f.st.SetMailingDisabled(f.ctx, m.ID, false); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		if n := schedule(f, e); n != 1 {
			t.Fatalf("Schedule after enabling started %d runs, want 1", n)
		}
		schedCheck(f, m, 1, m.StartAt, 2)
	})
	t.Run("blocked owner", func(t *testing.T) {
		f, m := schedFixture(t, 2)
		if err := f.st.SetBlocked(f.ctx, f.owner, true); err != nil {
			t.Fatal(err)
		}
		if n := schedule(f, f.engine("s1", nil)); n != 0 {
			t.Fatalf("Schedule started %d runs of a blocked owner's mailing", n)
		}
		if runs := schedRuns(f, m.ID); len(runs) != 0 {
			t.Fatalf("runs of a blocked owner's mailing: %+v", runs)
		}
	})
	t.Run("every recipient unsubscribed", func(t *testing.T) {
		f, m := schedFixture(t, 3)
		for _, c := range f.clients {
			if _, err := f.st.Unsubscribe(f.ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		e := f.engine("s1", nil)
		for range 2 {
			n, err := e.Schedule(f.ctx)
			if err != nil || n != 0 {
				t.Fatalf("Schedule with no recipients = %d, %v; want 0 and no error", n, err)
			}
		}
		if runs := schedRuns(f, m.ID); len(runs) != 0 {
			t.Fatalf("runs with no recipients: %+v", runs)
		}
	})
	t.Run("some recipients unsubscribed", func(t *testing.T) {
		f, m := schedFixture(t, 3)
		if _, err := f.st.Unsubscribe(f.ctx, f.clients[1].ID); err != nil {
			t.Fatal(err)
		}
		if n := schedule(f, f.engine("s1", nil)); n != 1 {
			t.Fatalf("Schedule started %d runs, want 1", n)
		}
		schedCheck(f, m, 1, m.StartAt, 2)
		// The unsubscribed client's delivery is recorded as suppressed, never pending.
		var state, reason string
		if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("state", "reason").
			Where("run_id = ? AND client_id = ?", schedRuns(f, m.ID)[0].ID, f.clients[1].ID).Scan(f.ctx, &state, &reason); err != nil ||
			state != mailing.DeliverySuppressed || reason != mailing.SuppressUnsubscribed {
			t.Fatalf("the unsubscribed client's delivery: %q %q %v", state, reason, err)
		}
	})
}

// A manual send does not use up a slot: the slot's scheduled run still starts.
func TestScheduleIgnoresManualRuns(t *testing.T) {
	f, m := schedFixture(t, 2)
	e := f.engine("s1", nil)
	f.start(e, m)
	if n := schedule(f, e); n != 1 {
		t.Fatalf("Schedule after a manual run started %d runs, want 1", n)
	}
	schedCheck(f, m, 2, m.StartAt, 2)
}

// schedQueue records what the engine enqueues.
type schedQueue struct {
	mu   sync.Mutex
	runs []int64
}

func (q *schedQueue) EnqueueRun(ctx context.Context, runID int64, fan int, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.runs = append(q.runs, runID)
	return nil
}

func (q *schedQueue) take() []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.runs
	q.runs = nil
	return r
}

func TestRecoverReleasesExpiredClaims(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 3})
	e := f.engine("starter", nil)
	run := f.start(e, f.m)
	// A worker claimed everything and died; its claim ran out a second ago.
	claimed, err := f.st.ClaimDeliveries(f.ctx, run.ID, "dead", 10, f.clock.Now().Add(-time.Second))
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim = %d, %v", len(claimed), err)
	}
	if err := f.engine("recoverer", nil).Recover(f.ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	for _, d := range f.deliveries(run.ID) {
		if d.State != mailing.DeliveryPending || d.ClaimedBy != nil || d.ClaimedUntil != nil || d.Tries != 0 {
			t.Fatalf("delivery after Recover: %+v, want pending and unclaimed", d)
		}
	}
	if p := f.progress(run.ID); p.FinishedAt != nil || p.Pending != 3 {
		t.Fatalf("progress after Recover = %+v", p)
	}
	res := f.process(f.engine("other", nil), run.ID)
	if res.Sent != 3 || !res.Finished {
		t.Fatalf("Process after Recover = %+v, want 3 sent and finished", res)
	}
	if f.sink.Count() != 3 {
		t.Fatalf("sink has %d messages, want 3", f.sink.Count())
	}
}

func TestRecoverLeavesLiveClaimsAlone(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 4})
	e := f.engine("starter", nil)
	run := f.start(e, f.m)
	if _, err := f.st.ClaimDeliveries(f.ctx, run.ID, "alive", 2, f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ClaimDeliveries(f.ctx, run.ID, "dead", 2, f.clock.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.Recover(f.ctx); err != nil {
		t.Fatal(err)
	}
	byWorker := map[string]int{}
	for _, d := range f.deliveries(run.ID) {
		switch {
		case d.State == mailing.DeliverySending && d.ClaimedBy != nil && *d.ClaimedBy == "alive":
			byWorker["alive"]++
		case d.State == mailing.DeliveryPending && d.ClaimedBy == nil:
			byWorker["released"]++
		default:
			t.Errorf("delivery %+v", d)
		}
	}
	if byWorker["alive"] != 2 || byWorker["released"] != 2 {
		t.Fatalf("after Recover: %v, want 2 still claimed and 2 released", byWorker)
	}
	// Once the live claim runs out too (ClaimTTL passes), Recover hands those back as well.
	f.clock.Advance(2 * time.Minute)
	if err := e.Recover(f.ctx); err != nil {
		t.Fatal(err)
	}
	res := f.process(f.engine("other", nil), run.ID)
	if res.Sent != 4 || !res.Finished || f.sink.Count() != 4 {
		t.Fatalf("Process = %+v, sink %d; want 4 sent", res, f.sink.Count())
	}
}

func TestRecoverFinishesIdleRuns(t *testing.T) {
	t.Run("all cancelled", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 3})
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		if n, err := f.st.CancelPending(f.ctx, run.ID); err != nil || n != 3 {
			t.Fatalf("CancelPending = %d, %v", n, err)
		}
		if p := f.progress(run.ID); p.FinishedAt != nil {
			t.Fatal("cancelling finished the run by itself")
		}
		f.clock.Advance(time.Minute)
		if err := e.Recover(f.ctx); err != nil {
			t.Fatal(err)
		}
		p := f.progress(run.ID)
		if p.FinishedAt == nil || !p.FinishedAt.Equal(f.clock.Now()) || p.Cancelled != 3 {
			t.Fatalf("progress after Recover = %+v, want finished now with 3 cancelled", p)
		}
		if f.sink.Count() != 0 {
			t.Fatal("Recover sent cancelled deliveries")
		}
	})
	t.Run("sent and failed, finish lost", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 3})
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		f.sink.FailNext(1, testutil.Reject550)
		res := f.process(e, run.ID)
		if res.Sent != 2 || res.Failed != 1 || !res.Finished {
			t.Fatalf("Process = %+v", res)
		}
		// The worker died between its last batch and FinishRun.
		if _, err := f.st.DB.NewUpdate().TableExpr("runs").Set("finished_at = NULL").Where("id = ?", run.ID).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Recover(f.ctx); err != nil {
			t.Fatal(err)
		}
		p := f.progress(run.ID)
		if p.FinishedAt == nil || p.Sent != 2 || p.Failed != 1 || f.sink.Count() != 2 {
			t.Fatalf("progress after Recover = %+v, sink %d", p, f.sink.Count())
		}
		// Recovery is safe to repeat.
		if err := e.Recover(f.ctx); err != nil {
			t.Fatal(err)
		}
		if f.sink.Count() != 2 || len(f.attempts(f.m.ID)) != 3 {
			t.Fatalf("a second Recover sent again: sink %d", f.sink.Count())
		}
	})
	t.Run("unfinished runs with work left stay open", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{n: 2})
		e := f.engine("t1", nil)
		run := f.start(e, f.m)
		if err := e.Recover(f.ctx); err != nil {
			t.Fatal(err)
		}
		if p := f.progress(run.ID); p.FinishedAt != nil || p.Pending != 2 || f.sink.Count() != 0 {
			t.Fatalf("Recover with no queue touched a run with work left: %+v", p)
		}
	})
}

// Runs whose tasks were lost (a flushed Redis) are enqueued again; runs someone is working
// on, or that wait for a retry later, are not.
func TestRecoverEnqueuesStalledRuns(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 2})
	q := &schedQueue{}
	e := f.engine("t1", nil)
	e.Enqueue = q
	lost := f.start(e, f.m)
	busy := f.start(e, f.newMailing(f.clients[0].ID))
	later := f.start(e, f.newMailing(f.clients[1].ID))
	q.take()
	if _, err := f.st.ClaimDeliveries(f.ctx, busy.ID, "alive", 10, f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("next_try_at = ?", f.clock.Now().Add(time.Hour)).
		Where("run_id = ?", later.ID).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Recover(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := q.take(); len(got) != 1 || got[0] != lost.ID {
		t.Fatalf("Recover enqueued %v, want only run %d", got, lost.ID)
	}
	if f.sink.Count() != 0 {
		t.Fatal("Recover sent mail itself")
	}
}

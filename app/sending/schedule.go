package sending

import (
	"context"
	"time"

	"mailer/app/mailing"
)

// Schedule starts a run for every mailing whose latest slot is due and has no run yet.
// The slot is a unique key of runs, so two workers scheduling at once, or one tick firing
// twice, still start exactly one run per slot.
func (e *Engine) Schedule(ctx context.Context) (started int, err error) {
	cands, err := e.Store.ScheduleCandidates(ctx)
	if err != nil {
		return 0, err
	}
	now := e.Clock.Now()
	for i := range cands {
		c := &cands[i]
		slot, ok := mailing.DueSlot(&c.Mailing, now)
		if !ok || (c.LastSlot != nil && !slot.After(c.LastSlot.UTC())) {
			continue
		}
		// A one-off mailing someone already sent by hand is not sent again by the clock.
		if c.Period == mailing.PeriodNone && c.FirstAttemptAt != nil {
			continue
		}
		_, err := e.StartMailing(ctx, &c.Mailing, mailing.RunSchedule, &slot, 0)
		switch mailing.ErrorCode(err) {
		case "":
			started++
		case mailing.ECONFLICT:
			// Another worker started this slot first.
		case mailing.EINVALID, mailing.EFORBIDDEN:
			// No recipients left, or the mailing cannot be sent: nothing to do for this slot.
			e.Log.Info("scheduled slot skipped", "mailing_id", c.ID, "slot", slot, "reason", err)
		default:
			return started, err
		}
	}
	return started, nil
}

// Recover makes the database's view of the work true again after a worker died or Redis
// lost its tasks: expired claims go back to pending, stalled runs are enqueued again, and
// runs with nothing left are closed. It is safe to run anywhere, any number of times.
func (e *Engine) Recover(ctx context.Context) error {
	released, err := e.Store.ReleaseExpiredClaims(ctx)
	if err != nil {
		return err
	}
	if released > 0 {
		e.Log.Warn("expired claims released", "deliveries", released)
	}
	stalled, err := e.Store.StalledRuns(ctx)
	if err != nil {
		return err
	}
	for _, id := range stalled {
		if e.Enqueue == nil {
			break
		}
		if err := e.Enqueue.EnqueueRun(ctx, id, 1, time.Time{}); err != nil {
			return err
		}
		e.Log.Info("stalled run enqueued again", "run_id", id)
	}
	idle, err := e.Store.IdleRuns(ctx)
	if err != nil {
		return err
	}
	for _, id := range idle {
		if _, err := e.Process(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// RunRecovery calls Recover now and then every interval until ctx ends.
func (e *Engine) RunRecovery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := e.Recover(ctx); err != nil && ctx.Err() == nil {
			e.Log.Error("recovery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

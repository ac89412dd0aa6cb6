package sending

import (
	"context"
	"time"
)

func (e *Engine) heartbeatEvery() time.Duration {
	if e.Options.HeartbeatEvery <= 0 {
		return time.Second
	}
	return e.Options.HeartbeatEvery
}

func (e *Engine) deadAfter() time.Duration {
	if e.Options.DeadAfter <= 0 {
		return 6 * time.Second
	}
	return e.Options.DeadAfter
}

// Beat says this process is alive; a sending process beats before its first claim.
func (e *Engine) Beat(ctx context.Context, kind string) error {
	return e.Store.Heartbeat(ctx, e.WorkerID, kind)
}

// ReleaseAtStart is for `mailer serve` with its embedded Redis, the only process that sends
// from its database: every claim of a serve found at its start belongs to a killed
// predecessor (however fresh its last heartbeat), so it is taken back at once, not after
// CLAIM_TTL.
func (e *Engine) ReleaseAtStart(ctx context.Context) error {
	n, err := e.Store.ReleaseClaimsAtStart(ctx, e.deadAfter())
	if err != nil {
		return err
	}
	if n > 0 {
		e.Log.Warn("claims of a stopped process released at start", "deliveries", n)
	}
	return nil
}

// RunHeartbeat beats every HeartbeatEvery until ctx ends; when reap is set it also takes
// back the claims of workers silent for DeadAfter and has their runs picked up again
// (Recover), so a killed worker costs seconds, not CLAIM_TTL. At the end it removes its row.
func (e *Engine) RunHeartbeat(ctx context.Context, kind string, reap bool) {
	t := time.NewTicker(e.heartbeatEvery())
	defer t.Stop()
	defer func() {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		e.Store.ForgetWorker(bg, e.WorkerID)
	}()
	for {
		if err := e.Beat(ctx, kind); err != nil && ctx.Err() == nil {
			e.Log.Warn("heartbeat", "err", err)
		}
		if reap {
			n, err := e.Store.ReleaseDeadClaims(ctx, e.deadAfter())
			switch {
			case err != nil && ctx.Err() == nil:
				e.Log.Warn("release claims of dead workers", "err", err)
			case n > 0:
				e.Log.Warn("claims of a dead worker released", "deliveries", n)
				if err := e.Recover(ctx); err != nil && ctx.Err() == nil {
					e.Log.Error("recovery", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

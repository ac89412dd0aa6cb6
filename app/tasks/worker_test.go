package tasks_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

// blockingRuns is a send task's run that holds its worker slot until released or until the
// worker stops (the handler's context ends).
type blockingRuns struct {
	active  atomic.Int32
	release chan struct{}
}

func (b *blockingRuns) ProcessRun(ctx context.Context, runID int64) error {
	b.active.Add(1)
	defer b.active.Add(-1)
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// blockingSchedule reports, when a tick reaches it, how many send slots were busy at that
// moment, then holds the tick until released.
type blockingSchedule struct {
	busy    func() int32
	entered chan int32
	release chan struct{}
}

func (s *blockingSchedule) Schedule(ctx context.Context) (int, error) {
	select {
	case s.entered <- s.busy():
	default:
	}
	<-s.release
	return 0, nil
}

// A big run's send tasks fill every slot of a worker (and more wait behind them); a tick
// enqueued as the scheduler enqueues it still reaches Schedule while every slot is busy.
// Then the worker stops gracefully: the send handlers are told to stop and Shutdown waits
// for them.
func TestTickRunsWhileEverySendSlotIsBusy(t *testing.T) {
	t.Parallel()
	const slots = 3
	ctx := context.Background()
	r := testutil.Redis(t)
	log, _ := testutil.Logger(t)
	w := tasks.NewWorker(r, log, tasks.WorkerOptions{Concurrency: slots})
	sends := &blockingRuns{release: make(chan struct{})}
	w.HandleSendRun(sends)
	ticks := &blockingSchedule{busy: sends.active.Load, entered: make(chan int32, 1), release: make(chan struct{})}
	if err := w.HandleSchedule(ticks); err != nil {
		t.Fatalf("HandleSchedule: %v", err)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	releaseTick := sync.OnceFunc(func() { close(ticks.release) })
	stopped := false
	t.Cleanup(func() {
		releaseTick()
		if !stopped {
			close(sends.release)
			w.Shutdown()
		}
	})

	q := tasks.NewQueue(r)
	defer q.Close()
	if err := q.EnqueueRun(ctx, 1, slots+2, time.Time{}); err != nil {
		t.Fatalf("enqueue send tasks: %v", err)
	}
	testutil.Eventually(t, 15*time.Second, "every send slot busy", func() bool { return sends.active.Load() == slots })

	client := asynq.NewClient(r.ConnOpt())
	defer client.Close()
	task, opts := tasks.ScheduleTick()
	info, err := client.EnqueueContext(ctx, task, opts...)
	if err != nil {
		t.Fatalf("enqueue the tick: %v", err)
	}
	if info.Type != tasks.TypeScheduleTick || info.MaxRetry != 0 {
		t.Errorf("tick enqueued as %s with MaxRetry %d, want %s with 0", info.Type, info.MaxRetry, tasks.TypeScheduleTick)
	}
	var busyAtTick int32
	testutil.Eventually(t, 10*time.Second, "the tick to reach Schedule while the send tasks hold every slot", func() bool {
		select {
		case busyAtTick = <-ticks.entered:
			return true
		default:
			return false
		}
	})
	if busyAtTick != slots {
		t.Errorf("the tick ran with %d of %d send slots busy, want all of them", busyAtTick, slots)
	}
	if n := sends.active.Load(); n != slots {
		t.Errorf("%d send tasks running after the tick started, want %d still holding their slots", n, slots)
	}
	// Unique still holds on the tick's queue: a second scheduler's tick of the same minute
	// (this one is still running) is refused.
	if _, err := client.EnqueueContext(ctx, task, opts...); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Errorf("a second tick while the first runs: err %v, want %v", err, asynq.ErrDuplicateTask)
	}

	// Graceful stop with the send tasks still blocked: stopping cancels their context and
	// Shutdown returns only once every send handler has returned.
	releaseTick()
	stopped = true
	w.Shutdown()
	if n := sends.active.Load(); n != 0 {
		t.Errorf("%d send handlers still running after Shutdown, want 0", n)
	}
}

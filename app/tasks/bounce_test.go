package tasks_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

// countingPoller counts polls, and the most that ran at once, holding each until released.
type countingPoller struct {
	running, most, done atomic.Int32
	release             chan struct{}
}

func (p *countingPoller) PollMailbox(ctx context.Context) error {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		m := p.most.Load()
		if n <= m || p.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	p.done.Add(1)
	return nil
}

// Two workers, each with its scheduler, enqueue the poll every minute: Unique lets one
// through while one is queued or running, so one poll reads the mailbox at a time; once
// it is done the next minute's poll runs again.
func TestBouncePollRunsOnOneWorkerAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testutil.Redis(t)
	log, _ := testutil.Logger(t)
	p := &countingPoller{release: make(chan struct{})}
	for i := 0; i < 2; i++ {
		w := tasks.NewWorker(r, log, tasks.WorkerOptions{Concurrency: 2})
		if err := w.HandleBouncePoll(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Shutdown)
	}
	t.Cleanup(func() {
		select {
		case <-p.release:
		default:
			close(p.release)
		}
	})
	client := asynq.NewClient(r.ConnOpt())
	defer client.Close()
	task, opts := tasks.BouncePoll()
	// What each scheduler does at the minute: enqueue the same poll.
	if _, err := client.EnqueueContext(ctx, task, opts...); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the poll to start", func() bool { return p.running.Load() == 1 })
	if _, err := client.EnqueueContext(ctx, task, opts...); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("a second poll while one runs: %v, want %v", err, asynq.ErrDuplicateTask)
	}
	close(p.release)
	testutil.Eventually(t, 10*time.Second, "the poll to finish", func() bool { return p.done.Load() == 1 })
	// The lock is released on success: the next minute's poll is taken.
	testutil.Eventually(t, 10*time.Second, "the next poll to be accepted", func() bool {
		_, err := client.EnqueueContext(ctx, task, opts...)
		return err == nil
	})
	testutil.Eventually(t, 10*time.Second, "the next poll to run", func() bool { return p.done.Load() == 2 })
	if p.most.Load() != 1 {
		t.Fatalf("%d polls ran at once", p.most.Load())
	}
}

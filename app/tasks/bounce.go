package tasks

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// TypeBouncePoll asks a worker to read the bounce mailbox once.
const TypeBouncePoll = "bounce:poll"

// BouncePoller is the bounce mailbox as the poll task sees it.
type BouncePoller interface {
	PollMailbox(ctx context.Context) error
}

// HandleBouncePoll registers the poll's handler and has the scheduler enqueue a poll every
// minute. Every worker's scheduler enqueues it; Unique lets one a minute through, and the
// lock outlasts the task's timeout, so two polls never read the mailbox at once (a second
// reader would record nothing twice — reports carry keys — but would fight over deletes).
func (w *Worker) HandleBouncePoll(p BouncePoller) error {
	w.mux.HandleFunc(TypeBouncePoll, func(ctx context.Context, t *asynq.Task) error {
		w.handlers.Add(1)
		defer w.handlers.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(w.stopping, cancel)()
		return p.PollMailbox(ctx)
	})
	task, opts := bouncePoll()
	_, err := w.scheduler.Register("@every 1m", task, opts...)
	return err
}

// bouncePoll is the task the scheduler enqueues every minute, with its options. It runs in
// the send queue: the schedule queue's single slot is kept for the minute tick.
func bouncePoll() (*asynq.Task, []asynq.Option) {
	return asynq.NewTask(TypeBouncePoll, nil), []asynq.Option{asynq.Queue(QueueSend),
		asynq.Unique(5 * time.Minute), asynq.MaxRetry(0), asynq.Timeout(4 * time.Minute)}
}

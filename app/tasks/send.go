package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeSendRun asks a worker to work through a run's due deliveries.
const TypeSendRun = "send:run"

type sendRunPayload struct {
	RunID int64 `json:"run_id"`
}

// Queue enqueues Mailer's tasks.
type Queue struct {
	client *asynq.Client
}

// NewQueue opens a client on r.
func NewQueue(r *Redis) *Queue { return &Queue{client: asynq.NewClient(r.ConnOpt())} }

// Close closes the client.
func (q *Queue) Close() error { return q.client.Close() }

// EnqueueRun enqueues fan tasks for a run now, or — with a non-zero at — one task at that
// time (a retry). Retry tasks carry an id per run and second, so many deferred deliveries
// of one run share one task. A task that runs a little before its time by the engine's
// clock (a clock a little behind, or the relay's pause not over) asks for the same time
// again while its own id is still taken: a second id per time takes it, and the two
// alternate.
func (q *Queue) EnqueueRun(ctx context.Context, runID int64, fan int, at time.Time) error {
	payload, _ := json.Marshal(sendRunPayload{RunID: runID})
	opts := []asynq.Option{asynq.Queue(QueueSend), asynq.MaxRetry(10), asynq.Timeout(30 * time.Minute)}
	if !at.IsZero() {
		id := fmt.Sprintf("run-%d-at-%d", runID, at.Unix())
		for _, id := range []string{id, id + "-b"} {
			_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeSendRun, payload),
				append(opts, asynq.ProcessAt(at), asynq.TaskID(id))...)
			if !errors.Is(err, asynq.ErrTaskIDConflict) {
				return err
			}
		}
		return nil
	}
	if fan < 1 {
		fan = 1
	}
	for i := 0; i < fan; i++ {
		if _, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeSendRun, payload), opts...); err != nil {
			return err
		}
	}
	return nil
}

// RunProcessor is the sending engine as the send task sees it.
type RunProcessor interface {
	ProcessRun(ctx context.Context, runID int64) error
}

// HandleSendRun registers the send task's handler.
func (w *Worker) HandleSendRun(p RunProcessor) {
	w.mux.HandleFunc(TypeSendRun, func(ctx context.Context, t *asynq.Task) error {
		w.handlers.Add(1)
		defer w.handlers.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(w.stopping, cancel)()
		var pl sendRunPayload
		if err := json.Unmarshal(t.Payload(), &pl); err != nil || pl.RunID == 0 {
			return fmt.Errorf("bad %s payload: %w", TypeSendRun, asynq.SkipRetry)
		}
		return p.ProcessRun(ctx, pl.RunID)
	})
}

// TypeScheduleTick asks a worker to start the runs of every due schedule slot.
const TypeScheduleTick = "schedule:tick"

// Scheduler is the sending engine's scheduling, as the tick task sees it.
type Scheduler interface {
	Schedule(ctx context.Context) (int, error)
}

// HandleSchedule registers the tick's handler and has the scheduler enqueue a tick every
// minute. Every worker runs a scheduler; Unique lets one tick a minute through, and the
// database's unique slot key makes even a doubled tick start one run per slot. Ticks go to
// QueueSchedule, which the worker serves apart from the send tasks.
func (w *Worker) HandleSchedule(s Scheduler) error {
	w.mux.HandleFunc(TypeScheduleTick, func(ctx context.Context, t *asynq.Task) error {
		_, err := s.Schedule(ctx)
		return err
	})
	task, opts := scheduleTick()
	_, err := w.scheduler.Register("@every 1m", task, opts...)
	return err
}

// scheduleTick is the task the scheduler enqueues every minute, with its options.
func scheduleTick() (*asynq.Task, []asynq.Option) {
	return asynq.NewTask(TypeScheduleTick, nil), []asynq.Option{asynq.Queue(QueueSchedule),
		asynq.Unique(50 * time.Second), asynq.MaxRetry(0), asynq.Timeout(5 * time.Minute)}
}

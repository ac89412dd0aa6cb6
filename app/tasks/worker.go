package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Queues a worker serves. Send tasks run on QueueSend (Asynq's default queue), the minute
// tick on QueueSchedule: each has its own Asynq server, so a big run's send tasks filling
// every slot never hold a tick back.
const (
	QueueSend     = "default"
	QueueSchedule = "schedule"
)

// Queues lists every queue Mailer puts tasks in.
func Queues() []string { return []string{QueueSend, QueueSchedule} }

// Worker runs Asynq handlers and the scheduler in one process.
type Worker struct {
	server *asynq.Server // QueueSend, Concurrency slots
	// ticks serves QueueSchedule with one slot of its own: a tick is never behind send tasks.
	ticks     *asynq.Server
	scheduler *asynq.Scheduler
	mux       *asynq.ServeMux
	log       *slog.Logger

	// Asynq does not cancel a running handler at shutdown; it abandons it after its grace
	// period, mid-batch. stopping tells handlers to stop claiming at once, and handlers
	// lets Shutdown wait until their sends are recorded.
	stopping context.Context
	stop     context.CancelFunc
	handlers sync.WaitGroup
}

// WorkerOptions tune a worker.
type WorkerOptions struct {
	Concurrency int
}

// NewWorker builds a worker on r. Handlers are registered on Mux before Start.
func NewWorker(r *Redis, log *slog.Logger, opts WorkerOptions) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	conn := r.ConnOpt()
	w := &Worker{log: log, mux: asynq.NewServeMux()}
	w.stopping, w.stop = context.WithCancel(context.Background())
	w.server = asynq.NewServer(conn, asynq.Config{
		Concurrency: opts.Concurrency,
		Queues:      map[string]int{QueueSend: 1},
		// An idle queue is polled this often: the default (about a second) would leave a
		// "Send now" waiting before its first mail goes out.
		TaskCheckInterval: 100 * time.Millisecond,
		// Retry tasks wait in Asynq's scheduled set; by default it is moved to the queue
		// every 5 s, so a retry could fire up to 5 s late. Within a second of its time.
		DelayedTaskCheckInterval: time.Second,
		Logger:                   asynqLogger{log.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
	})
	// One tick a minute needs one slot, and a second's wait for it is nothing.
	w.ticks = asynq.NewServer(conn, asynq.Config{
		Concurrency:       1,
		Queues:            map[string]int{QueueSchedule: 1},
		TaskCheckInterval: time.Second,
		Logger:            asynqLogger{log.With("component", "asynq", "queue", QueueSchedule)},
		LogLevel:          asynq.WarnLevel,
	})
	w.scheduler = asynq.NewScheduler(conn, &asynq.SchedulerOpts{
		Logger:   asynqLogger{log.With("component", "scheduler")},
		LogLevel: asynq.WarnLevel,
	})
	return w
}

// Mux is where task handlers are registered.
func (w *Worker) Mux() *asynq.ServeMux { return w.mux }

// Scheduler is where periodic tasks are registered.
func (w *Worker) Scheduler() *asynq.Scheduler { return w.scheduler }

// Start begins processing; it returns once both servers and the scheduler run.
func (w *Worker) Start() error {
	// Both servers share the mux: each only takes tasks of its own queue (a tick an older
	// worker put in the default queue is still handled).
	if err := w.server.Start(w.mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	if err := w.ticks.Start(w.mux); err != nil {
		w.server.Shutdown()
		return fmt.Errorf("start asynq server for %s: %w", QueueSchedule, err)
	}
	if err := w.scheduler.Start(); err != nil {
		w.shutdownServers()
		return fmt.Errorf("start scheduler: %w", err)
	}
	w.log.Info("worker started")
	return nil
}

// Shutdown stops taking tasks and waits for running ones (Asynq's own timeout applies).
func (w *Worker) Shutdown() {
	w.scheduler.Shutdown()
	w.stop()
	w.shutdownServers()
	w.handlers.Wait()
	w.log.Info("worker stopped")
}

// shutdownServers shuts both servers down at once, so their grace periods overlap rather
// than add up.
func (w *Worker) shutdownServers() {
	var wg sync.WaitGroup
	for _, s := range []*asynq.Server{w.server, w.ticks} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Shutdown()
		}()
	}
	wg.Wait()
}

// asynqLogger routes Asynq's logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Worker runs Asynq handlers and the scheduler in one process.
type Worker struct {
	server    *asynq.Server
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
		// An idle queue is polled this often: the default (about a second) would leave a
		// "Send now" waiting before its first mail goes out.
		TaskCheckInterval: 100 * time.Millisecond,
		Logger:            asynqLogger{log.With("component", "asynq")},
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

// Start begins processing; it returns once the server and scheduler run.
func (w *Worker) Start() error {
	if err := w.server.Start(w.mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	if err := w.scheduler.Start(); err != nil {
		w.server.Shutdown()
		return fmt.Errorf("start scheduler: %w", err)
	}
	w.log.Info("worker started")
	return nil
}

// Shutdown stops taking tasks and waits for running ones (Asynq's own timeout applies).
func (w *Worker) Shutdown() {
	w.scheduler.Shutdown()
	w.stop()
	w.server.Shutdown()
	w.handlers.Wait()
	w.log.Info("worker stopped")
}

// asynqLogger routes Asynq's logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

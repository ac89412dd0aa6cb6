package tasks_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

type countingRuns struct{ done atomic.Int32 }

func (c *countingRuns) ProcessRun(context.Context, int64) error {
	c.done.Add(1)
	return nil
}

// The embedded Redis's password is random per start, reaches every client of this process
// (a task goes from Asynq's client through its server to the handler over TCP), and never
// reaches the log, even at debug level.
func TestEmbeddedRedisPasswordStaysInTheProcess(t *testing.T) {
	log, logged := testutil.Logger(t)
	r, err := tasks.OpenRedis(context.Background(), "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	password := r.ConnOpt().Password
	if len(password) < 32 {
		t.Fatalf("embedded redis password %d characters long, want a random one of at least 32", len(password))
	}
	other, err := tasks.OpenRedis(context.Background(), "", log)
	if err != nil {
		t.Fatal(err)
	}
	if other.ConnOpt().Password == password {
		t.Error("two embedded servers share a password")
	}
	other.Close()

	w := tasks.NewWorker(r, log, tasks.WorkerOptions{Concurrency: 1})
	runs := &countingRuns{}
	w.HandleSendRun(runs)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown()
	q := tasks.NewQueue(r)
	defer q.Close()
	if err := q.EnqueueRun(context.Background(), 1, 1, time.Time{}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	testutil.Eventually(t, 15*time.Second, "the task to reach its handler", func() bool { return runs.done.Load() == 1 })

	// Another process of the test's own (a worker) is handed the URL.
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Errorf("PING with the URL's password: %v", err)
	}

	if strings.Contains(logged.String(), password) {
		t.Errorf("the password is in the log:\n%s", logged.String())
	}
}

package sending_test

// Fault proofs: real worker processes (the binary of app/cmd/worker) against a database and
// a Redis database of the test's own and an SMTP sink in this process. Each test causes one
// fault — kill -9, a flushed Redis, two workers on one rate, a deferring server, two
// schedulers — and then only polls the database and the sink for the outcome; nothing here
// calls Recover or Process, so what is proven is what a deployment does by itself.
//
// The stores of these tests use the real clock: the workers are other processes on real time.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/uptrace/bun/migrate"

	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/store"
	"mailer/app/tasks"
	"mailer/app/testutil"
)

const (
	faultSecret = "fault-secret-key-0123456789abcdef0123456789"
	faultFrom   = "Mailer <m@example.com>" // Message-IDs end in @example.com
)

// faultBinary builds a command of Mailer (mailer/app/cmd/worker or …/mailer) once per test
// binary, into a temporary folder (folders of earlier runs older than an hour are removed on
// the way).
var faultBuild struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

func faultBinary(t *testing.T, pkg string) string {
	t.Helper()
	faultBuild.mu.Lock()
	defer faultBuild.mu.Unlock()
	if bin, ok := faultBuild.bins[pkg]; ok {
		return bin
	}
	if faultBuild.dir == "" {
		if old, _ := filepath.Glob(filepath.Join(os.TempDir(), "mailer-faults-*")); len(old) > 0 {
			for _, dir := range old {
				if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > time.Hour {
					os.RemoveAll(dir)
				}
			}
		}
		dir, err := os.MkdirTemp("", "mailer-faults-")
		if err != nil {
			t.Fatal(err)
		}
		faultBuild.dir, faultBuild.bins = dir, map[string]string{}
	}
	bin := filepath.Join(faultBuild.dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	faultBuild.bins[pkg] = bin
	return bin
}

func faultWorkerBinary(t *testing.T) string { return faultBinary(t, "mailer/app/cmd/worker") }

// faultEnv is one test's world: a migrated database and a Redis database shared with the
// worker processes, an SMTP sink, and an owner with a message.
type faultEnv struct {
	t        *testing.T
	ctx      context.Context
	st       *store.Store
	log      *slog.Logger
	workerDB string // DATABASE_URL for the workers
	redisURL string
	redis    *tasks.Redis
	sink     *testutil.SMTPServer
	owner    int64
	message  int64
}

func faultSetup(t *testing.T) *faultEnv {
	t.Helper()
	redisURL := testutil.RedisURL(t) // fails under REQUIRE_SERVICES=1 when TEST_REDIS_URL is unset
	if redisURL == "" {
		t.Skip("worker processes need a Redis they can share: set TEST_REDIS_URL")
	}
	return faultSetupWith(t, redisURL)
}

// faultSetupWith is faultSetup with a Redis URL, or none: a test of `mailer serve` with its
// embedded Redis shares only the database.
func faultSetupWith(t *testing.T, redisURL string) *faultEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	log, _ := testutil.Logger(t)
	st, workerDB := testutil.SharedDB(t, mailing.SystemClock{})
	fe := &faultEnv{t: t, ctx: ctx, st: st, log: log, workerDB: workerDB, redisURL: redisURL, sink: testutil.StartSMTP(t)}
	if redisURL != "" {
		r, err := tasks.OpenRedis(ctx, redisURL, log)
		if err != nil {
			t.Fatalf("open redis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		fe.redis = r
	}
	u := &mailing.User{Email: "owner@example.com"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	fe.owner = u.ID
	msg := &mailing.Message{OwnerID: u.ID, Subject: "Hello {{.Name}}", Body: "Hi {{.Name}} <{{.Email}}>"}
	if errs := msg.Validate(); len(errs) > 0 {
		t.Fatalf("message: %v", errs)
	}
	if err := st.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	fe.message = msg.ID
	return fe
}

// faultMailing gives the owner n clients and a mailing to all of them from startAt. A
// start a day ahead keeps the workers' scheduler away from a mailing a test starts by hand.
func (fe *faultEnv) faultMailing(n int, startAt time.Time) *mailing.Mailing {
	fe.t.Helper()
	clients := make([]mailing.Client, n)
	for i := range clients {
		clients[i] = mailing.Client{Email: fmt.Sprintf("r%05d@example.com", i), FullName: fmt.Sprintf("Recipient %d", i)}
		clients[i].Validate()
	}
	if _, _, err := fe.st.UpsertClients(fe.ctx, fe.owner, clients); err != nil {
		fe.t.Fatalf("seed clients: %v", err)
	}
	m := &mailing.Mailing{OwnerID: fe.owner, MessageID: fe.message, StartAt: startAt.UTC().Truncate(time.Second),
		EndAt: time.Now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Second), Period: mailing.PeriodNone}
	if errs := m.Validate(); len(errs) > 0 {
		fe.t.Fatalf("mailing: %v", errs)
	}
	if err := fe.st.SaveMailing(fe.ctx, m, mailing.Recipients{All: true}); err != nil {
		fe.t.Fatalf("save mailing: %v", err)
	}
	return m
}

// faultStart starts a run of m as the web process does: recorded in the database, then
// fanned out as send tasks on the test's Redis.
func (fe *faultEnv) faultStart(m *mailing.Mailing, batch int) *mailing.Run {
	fe.t.Helper()
	e := &sending.Engine{Store: fe.st, Clock: mailing.SystemClock{}, Log: fe.log, WorkerID: "test",
		Options: sending.Options{From: faultFrom, Batch: batch}}
	if fe.redis != nil {
		q := tasks.NewQueue(fe.redis)
		defer q.Close()
		e.Enqueue = q
	} // else a serve's recovery finds the run at its start
	run, err := e.StartMailing(fe.ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		fe.t.Fatalf("start run: %v", err)
	}
	return run
}

// faultWorker is a worker process.
type faultWorker struct {
	name    string
	cmd     *exec.Cmd
	out     *testutil.LogBuffer
	started time.Time
	exited  chan struct{}
	err     error
}

// faultStartWorker starts a worker process with the test's database, Redis and sink, short
// claims, fast recovery and quick retries; env overrides.
func (fe *faultEnv) faultStartWorker(name string, env map[string]string) *faultWorker {
	fe.t.Helper()
	return fe.faultStartProcess(name, faultWorkerBinary(fe.t), nil, env)
}

// faultStartServe starts `mailer serve` with the embedded Redis (and so its in-process
// worker) on the test's database: the default single-process deployment.
func (fe *faultEnv) faultStartServe(name string, env map[string]string) *faultWorker {
	fe.t.Helper()
	vars := map[string]string{"ADDR": "127.0.0.1:0", "REDIS_URL": ""}
	for k, v := range env {
		vars[k] = v
	}
	return fe.faultStartProcess(name, faultBinary(fe.t, "mailer/app/cmd/mailer"), []string{"serve"}, vars)
}

func (fe *faultEnv) faultStartProcess(name, bin string, args []string, env map[string]string) *faultWorker {
	fe.t.Helper()
	vars := map[string]string{
		"DATABASE_URL":     fe.workerDB,
		"REDIS_URL":        fe.redisURL,
		"SMTP_URL":         fe.sink.URL(),
		"MAIL_FROM":        faultFrom,
		"SECRET_KEY":       faultSecret,
		"DATA_DIR":         fe.t.TempDir(),
		"CLAIM_TTL":        "3s",
		"RECOVER_INTERVAL": "1s",
		"SEND_RETRY_BASE":  "1s",
		"LOG_LEVEL":        "warn",
		"PATH":             os.Getenv("PATH"),
		"HOME":             os.Getenv("HOME"),
	}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(bin, args...)
	for k, v := range vars {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	w := &faultWorker{name: name, cmd: cmd, out: &testutil.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		fe.t.Fatalf("start worker %s: %v", name, err)
	}
	w.started = time.Now()
	go func() {
		w.err = cmd.Wait()
		close(w.exited)
	}()
	t := fe.t
	t.Cleanup(func() {
		w.faultKill()
		if t.Failed() {
			t.Logf("worker %s output:\n%s", name, w.out.String())
		}
	})
	return w
}

// faultKill is kill -9: no claim is handed back, no attempt of the batch in hand recorded.
func (w *faultWorker) faultKill() {
	select {
	case <-w.exited:
		return
	default:
	}
	w.cmd.Process.Kill()
	<-w.exited
}

// faultAlive fails the test when a worker that should run has exited.
func (fe *faultEnv) faultAlive(ws ...*faultWorker) {
	fe.t.Helper()
	for _, w := range ws {
		select {
		case <-w.exited:
			fe.t.Fatalf("worker %s exited: %v\n%s", w.name, w.err, w.out.String())
		default:
		}
	}
}

// faultWaitStarted waits for a worker started with LOG_LEVEL=info to say it runs.
func (fe *faultEnv) faultWaitStarted(w *faultWorker) {
	fe.t.Helper()
	testutil.Eventually(fe.t, 30*time.Second, "worker "+w.name+" to start", func() bool {
		fe.faultAlive(w)
		return strings.Contains(w.out.String(), "worker started")
	})
}

func (fe *faultEnv) faultCount(q string, args ...any) int {
	fe.t.Helper()
	n, err := fe.st.DB.NewSelect().TableExpr("deliveries").Where(q, args...).Count(fe.ctx)
	if err != nil {
		fe.t.Fatalf("count deliveries: %v", err)
	}
	return int(n)
}

func (fe *faultEnv) faultProgress(runID int64) mailing.RunProgress {
	fe.t.Helper()
	p, err := fe.st.Progress(fe.ctx, runID)
	if err != nil {
		fe.t.Fatalf("progress: %v", err)
	}
	return p
}

// faultWaitFinished polls until the run is closed with nothing pending.
func (fe *faultEnv) faultWaitFinished(runID int64, timeout time.Duration, ws ...*faultWorker) mailing.RunProgress {
	fe.t.Helper()
	var p mailing.RunProgress
	testutil.Eventually(fe.t, timeout, fmt.Sprintf("run %d to finish", runID), func() bool {
		fe.faultAlive(ws...)
		p = fe.faultProgress(runID)
		return p.Done() && p.FinishedAt != nil
	})
	return p
}

// faultDeliveryIDs returns the run's deliveries' ids.
func (fe *faultEnv) faultDeliveryIDs(runID int64) []int64 {
	fe.t.Helper()
	var ids []int64
	if err := fe.st.DB.NewSelect().TableExpr("deliveries").Column("id").Where("run_id = ?", runID).
		OrderExpr("id").Scan(fe.ctx, &ids); err != nil {
		fe.t.Fatal(err)
	}
	return ids
}

// faultAttempts returns the run's attempts, oldest first.
func (fe *faultEnv) faultAttempts(runID int64) []mailing.Attempt {
	fe.t.Helper()
	var atts []mailing.Attempt
	if err := fe.st.DB.NewSelect().Model(&atts).Where("run_id = ?", runID).OrderExpr("id").Scan(fe.ctx); err != nil {
		fe.t.Fatal(err)
	}
	return atts
}

func (fe *faultEnv) faultMessageID(runID, deliveryID int64) string {
	fe.t.Helper()
	inst, err := fe.st.InstallationID(fe.ctx)
	if err != nil {
		fe.t.Fatal(err)
	}
	return mailing.MessageID(deliveryID, runID, inst, "example.com")
}

// faultLedger checks the sink and the attempts against the run's deliveries: every delivery
// accepted at least once and holding exactly one success attempt, nothing foreign at the
// sink, and — the honest ledger — no delivery accepted by the server more often than it has
// success and "outcome unknown" attempts. It returns the duplicates at the sink (sum of
// count-1) and the "outcome unknown" attempts.
func (fe *faultEnv) faultLedger(runID int64) (dups, unknown int) {
	fe.t.Helper()
	t := fe.t
	ids := fe.faultDeliveryIDs(runID)
	counts := fe.sink.CountByMessageID()
	want := map[string]bool{}
	success, maybe := map[int64]int{}, map[int64]int{}
	for _, a := range fe.faultAttempts(runID) {
		switch {
		case a.Status == mailing.AttemptSuccess:
			success[a.DeliveryID]++
		case a.Response == store.OutcomeUnknown:
			maybe[a.DeliveryID]++
			unknown++
		}
	}
	lost, bad, under := 0, 0, 0
	for _, id := range ids {
		mid := fe.faultMessageID(runID, id)
		want[mid] = true
		c := counts[mid]
		switch {
		case c == 0:
			if lost++; lost <= 5 {
				t.Errorf("delivery %d (%s) never reached the server", id, mid)
			}
		case c > 1:
			dups += c - 1
		}
		if success[id] != 1 {
			if bad++; bad <= 5 {
				t.Errorf("delivery %d has %d success attempts, want exactly 1", id, success[id])
			}
		}
		if c > success[id]+maybe[id] {
			if under++; under <= 5 {
				t.Errorf("delivery %d: the server accepted it %d times, the ledger has %d success and %d unknown attempts",
					id, c, success[id], maybe[id])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d deliveries lost", lost, len(ids))
	}
	if bad > 0 {
		t.Errorf("%d of %d deliveries do not have exactly one success attempt", bad, len(ids))
	}
	if under > 0 {
		t.Errorf("the ledger under-counts %d of %d deliveries", under, len(ids))
	}
	for mid, c := range counts {
		if !want[mid] {
			t.Errorf("the server got %d message(s) %q that belong to no delivery of run %d", c, mid, runID)
		}
	}
	return dups, unknown
}

// faultRecovery is the kill test's common part: a worker started with env sends until
// half the run was accepted, is killed, and the run must go on — in a new worker started
// at once (restart), or in the live one (survivor) — with CLAIM_TTL far longer than the
// test, so only heartbeats can explain a quick recovery. It returns the seconds from the
// kill until the server got the next message.
func (fe *faultEnv) faultKillMidRun(n int, env map[string]string, restart bool) {
	fe.faultKillMidRunOf(n, env, restart, fe.faultStartWorker, "worker")
}

// faultKillMidRunOf is faultKillMidRun for processes started by start, whose claims are
// held as holder-<pid>-….
func (fe *faultEnv) faultKillMidRunOf(n int, env map[string]string, restart bool,
	start func(string, map[string]string) *faultWorker, holder string) {
	t := fe.t
	m := fe.faultMailing(n, time.Now().Add(24*time.Hour))
	first := start("first", env)
	var survivor *faultWorker
	if !restart {
		survivor = start("survivor", env)
	}
	run := fe.faultStart(m, 50)
	testutil.Eventually(t, 60*time.Second, "the first worker to send half the run", func() bool {
		fe.faultAlive(first)
		return fe.sink.Count() >= n/2
	})
	// The server holds the answers from here, so the kill lands mid-send however slow the
	// machine: a batch whose replies flowed would be recorded between the look at the claims
	// and the kill.
	fe.sink.SetMode(testutil.Hold)
	var victim string
	testutil.Eventually(t, 60*time.Second, "a worker to wait mid-send with claims held", func() bool {
		fe.faultAlive(first)
		if fe.sink.Holding() == 0 {
			return false
		}
		// The victim is a worker that holds claims now (with two, either may).
		var holders []string
		fe.st.DB.NewSelect().TableExpr("deliveries").ColumnExpr("DISTINCT claimed_by").
			Where("run_id = ? AND state = 'sending' AND claimed_by IS NOT NULL", run.ID).Scan(fe.ctx, &holders)
		for _, h := range holders {
			if strings.HasPrefix(h, holder+"-") {
				victim = h
			}
		}
		return victim != ""
	})
	// With two workers, kill whichever holds claims now (ids carry the process id).
	victimWorker := first
	if survivor != nil && strings.HasPrefix(victim, fmt.Sprintf("%s-%d-", holder, survivor.cmd.Process.Pid)) {
		victimWorker, survivor = survivor, first
	}
	victimWorker.faultKill()
	killed := time.Now()
	sentAtKill := fe.sink.Count()
	inFlight := fe.faultCount("run_id = ? AND state = 'sending' AND claimed_by = ?", run.ID, victim)
	if inFlight == 0 {
		t.Fatalf("worker %s held no claim at the kill (%d accepted): the kill did not land mid-batch", victim, sentAtKill)
	}
	// The held messages are accepted now, their sender gone: the crash's duplicates.
	fe.sink.SetMode(testutil.Accept)
	var next *faultWorker
	if restart {
		next = start("second", env)
	} else {
		next = survivor
	}
	var resumed, released time.Duration
	testutil.Eventually(t, 60*time.Second, "the dead worker's claims to be taken back and sending to resume", func() bool {
		fe.faultAlive(next)
		if released == 0 && fe.faultCount("run_id = ? AND state = 'sending' AND claimed_by = ?", run.ID, victim) == 0 {
			released = time.Since(killed)
		}
		// Resumed: the server gets messages again that were claimed by the dead worker.
		if resumed == 0 && released != 0 && fe.sink.Count() > sentAtKill+inFlight {
			resumed = time.Since(killed)
		}
		return resumed != 0
	})
	p := fe.faultWaitFinished(run.ID, 60*time.Second, next)
	finished := time.Since(killed)
	if p.Sent != n || p.Failed != 0 || p.Cancelled != 0 {
		t.Errorf("progress %+v, want all %d sent", p, n)
	}
	dups, unknown := fe.faultLedger(run.ID)
	if dups > inFlight {
		t.Errorf("%d duplicates at the server, more than the %d deliveries in flight at the kill", dups, inFlight)
	}
	atts := fe.faultAttempts(run.ID)
	if got := fe.sink.Count(); got != n+dups || len(atts) < got {
		t.Errorf("server accepted %d messages (want %d + %d duplicates); the ledger has %d attempts, want at least as many",
			got, n, dups, len(atts))
	}
	limit := 10 * time.Second // after a restart started at once (the target)
	if !restart {
		limit = 15 * time.Second // a live worker taking over, without a restart
	}
	if released > limit {
		t.Errorf("the dead worker's claims were taken back %s after the kill, want within %s", released.Round(time.Millisecond), limit)
	}
	t.Logf("accepted before kill %d, in flight %d, claims back after %s, sending again after %s, finished after %s; "+
		"duplicates %d, outcome-unknown attempts %d", sentAtKill, inFlight, released.Round(time.Millisecond),
		resumed.Round(time.Millisecond), finished.Round(time.Millisecond), dups, unknown)
}

// A worker killed with SIGKILL in the middle of a run loses no recipient, and costs seconds:
// a worker started at once takes the dead one's claims back through its heartbeat (CLAIM_TTL
// is 2 minutes here) and finishes the run. Only the sends in flight at the kill can reach
// the server twice, and each of them has an "outcome unknown" attempt: the ledger never
// counts fewer attempts than the server accepted.
func TestKillNineMidRunLosesNothing(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	// SEND_RATE paces the run over a few seconds so the kill lands in the middle of it.
	fe.faultKillMidRun(2000, map[string]string{"SEND_BATCH": "50", "SMTP_MAX_CONNS": "2", "SEND_RATE": "500", "CLAIM_TTL": "2m"}, true)
}

// `mailer serve` with its embedded Redis — the default deployment, here on the test's
// database — killed with SIGKILL mid-run and started again resumes within seconds: no other
// process can hold its claims, so it takes them all back at start.
func TestKillNineServeResumesWithinSeconds(t *testing.T) {
	t.Parallel()
	fe := faultSetupWith(t, "")
	fe.faultKillMidRunOf(2000, map[string]string{"SEND_BATCH": "50", "SMTP_MAX_CONNS": "2", "SEND_RATE": "500", "CLAIM_TTL": "2m"},
		true, fe.faultStartServe, "web")
}

// Two workers share a run and one is killed: the other takes its claims back within
// seconds, without a restart, and finishes the run.
func TestTwoWorkersOneKilledTheOtherFinishes(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	fe.faultKillMidRun(2000, map[string]string{"SEND_BATCH": "50", "SMTP_MAX_CONNS": "2", "SEND_RATE": "400", "CLAIM_TTL": "2m"}, false)
}

// Redis flushed mid-run — the pending send tasks and the scheduled retry task gone — does not
// strand the run: recovery re-enqueues it from the database.
//
// To make recovery the only way forward, the server defers every message after 30% were
// accepted, until the worker's tasks have ended with the rest waiting for a retry scheduled
// in Redis; then Redis is flushed and the server accepts again.
func TestRedisFlushedMidRunCompletes(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	const n = 2000
	m := fe.faultMailing(n, time.Now().Add(24*time.Hour))
	w := fe.faultStartWorker("only", map[string]string{"SEND_BATCH": "50", "SMTP_MAX_CONNS": "2", "SEND_RATE": "500",
		// The deferred deliveries must not come due before the tasks have run dry.
		"SEND_RETRY_BASE": "8s", "SEND_MAX_TRIES": "10"})
	run := fe.faultStart(m, 50)

	testutil.Eventually(t, 60*time.Second, "30% of the run accepted", func() bool {
		fe.faultAlive(w)
		return fe.sink.Count() >= n*3/10
	})
	fe.sink.SetMode(testutil.Defer451)
	insp := asynq.NewInspector(fe.redis.ConnOpt())
	defer insp.Close()
	var q *asynq.QueueInfo
	testutil.Eventually(t, 30*time.Second, "every task to end with the rest of the run waiting for a retry task", func() bool {
		fe.faultAlive(w)
		var err error
		if q, err = insp.GetQueueInfo("default"); err != nil {
			return false
		}
		return q.Active == 0 && q.Pending == 0 && q.Scheduled > 0 &&
			fe.faultCount("run_id = ? AND state = 'sending'", run.ID) == 0 &&
			fe.faultCount("run_id = ? AND state = 'pending' AND next_try_at <= ?", run.ID, time.Now().UTC()) == 0
	})
	accepted := fe.sink.Count()
	waiting := fe.faultCount("run_id = ? AND state = 'pending'", run.ID)
	if waiting == 0 {
		t.Fatalf("nothing waits for a retry (%d accepted): the flush would prove nothing", accepted)
	}
	if err := fe.redis.Client.FlushDB(fe.ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
	flushed := time.Now()
	fe.sink.SetMode(testutil.Accept)

	p := fe.faultWaitFinished(run.ID, 60*time.Second, w)
	if p.Sent != n || p.Failed != 0 || p.Cancelled != 0 {
		t.Errorf("progress %+v, want all %d sent", p, n)
	}
	if dups, _ := fe.faultLedger(run.ID); dups != 0 {
		t.Errorf("%d duplicates at the server; no process died, so there must be none", dups)
	}
	failures := 0
	for _, a := range fe.faultAttempts(run.ID) {
		if a.Status == mailing.AttemptFailure {
			failures++
			if a.SMTPCode != 451 {
				t.Errorf("failure attempt %+v, want a 451", a)
			}
		}
	}
	if failures < waiting {
		t.Errorf("%d failure attempts, want at least the %d deferred deliveries", failures, waiting)
	}
	t.Logf("accepted before the flush %d, waiting for a retry %d (%d scheduled tasks flushed), completed %s after the flush",
		accepted, waiting, q.Scheduled, time.Since(flushed).Round(time.Millisecond))
}

// Two workers on one SEND_RATE send at that rate together, counted over whole seconds of the
// steady middle of the run, and no recipient gets the mail twice.
//
// SEND_BATCH is small enough that a batch is sent well within CLAIM_TTL at this rate (8 tasks
// × 20 claimed at 200/s: under a second); with the default 200 the claims expire mid-batch
// and recipients get the mail twice — see TestBatchOutlastingItsClaimIsNotSentTwice.
func TestTwoWorkersHoldTheSharedRate(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	const n, rate = 1200, 200
	m := fe.faultMailing(n, time.Now().Add(24*time.Hour))
	env := map[string]string{"SEND_RATE": fmt.Sprint(rate), "SEND_BATCH": "20"}
	a := fe.faultStartWorker("a", env)
	b := fe.faultStartWorker("b", env)
	run := fe.faultStart(m, 20)

	holders := map[string]bool{}
	testutil.Eventually(t, 60*time.Second, "the run to finish", func() bool {
		fe.faultAlive(a, b)
		var hs []string
		fe.st.DB.NewSelect().TableExpr("deliveries").ColumnExpr("DISTINCT claimed_by").
			Where("run_id = ? AND claimed_by IS NOT NULL", run.ID).Scan(fe.ctx, &hs)
		for _, h := range hs {
			holders[h] = true
		}
		p := fe.faultProgress(run.ID)
		return p.Done() && p.FinishedAt != nil
	})
	if len(holders) < 2 {
		t.Errorf("claims were held by %v; want both workers sending", holders)
	}
	dups, _ := fe.faultLedger(run.ID)
	if dups != 0 {
		t.Errorf("%d duplicates at the server; no process died, so there must be none", dups)
	}

	// Whole seconds strictly between the first and the last accepted message's second.
	msgs := fe.sink.Messages()
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].At.Before(msgs[j].At) })
	perSecond := map[int64]int{}
	for _, msg := range msgs {
		perSecond[msg.At.Unix()]++
	}
	first, last := msgs[0].At.Unix(), msgs[len(msgs)-1].At.Unix()
	var secs []string
	total, k := 0, 0
	for s := first + 1; s < last; s++ {
		total += perSecond[s]
		k++
		secs = append(secs, fmt.Sprint(perSecond[s]))
	}
	if k < 3 {
		t.Fatalf("the run took %d whole seconds; too few to measure a rate", k)
	}
	got := float64(total) / float64(k)
	if got < rate*0.9 || got > rate*1.1 {
		t.Errorf("combined rate %.1f/s over %d whole seconds [%s], want %d/s ± 10%%", got, k, strings.Join(secs, " "), rate)
	}
	t.Logf("combined rate %.1f/s over %d whole seconds [%s]; %d accepted, %d duplicates, claim holders %d",
		got, k, strings.Join(secs, " "), len(msgs), dups, len(holders))
}

// A batch that takes longer to send than CLAIM_TTL — a slow SEND_RATE, a slow server — must
// still send each delivery once. Nothing extends a claim while its batch is being sent, so
// recovery (in this very worker) hands the batch back as pending mid-send, re-enqueues the
// run, and a second task sends it again.
//
// The ratio is what matters: here one task claims 100 deliveries at SEND_RATE=20 (5 s) with
// CLAIM_TTL=1s; in production SEND_RATE=1 with the default SEND_BATCH=200 and CLAIM_TTL=2m
// does the same (200 s per batch), as does SEND_RATE=5 with two workers of the default
// SEND_CONCURRENCY=4 (8 × 200 claimed, 320 s).
func TestBatchOutlastingItsClaimIsNotSentTwice(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	const n = 100
	m := fe.faultMailing(n, time.Now().Add(24*time.Hour))
	w := fe.faultStartWorker("only", map[string]string{"SEND_RATE": "20", "SEND_BATCH": "200",
		"SEND_CONCURRENCY": "2", "CLAIM_TTL": "1s", "RECOVER_INTERVAL": "1s"})
	run := fe.faultStart(m, 200) // one task: the second task slot stays free for recovery's
	p := fe.faultWaitFinished(run.ID, 60*time.Second, w)
	if p.Sent != n {
		t.Errorf("progress %+v, want all %d sent", p, n)
	}
	if dups, _ := fe.faultLedger(run.ID); dups != 0 {
		t.Errorf("%d of %d recipients got the mail twice although no process died", dups, n)
	}
}

// A 451 is retried after SEND_RETRY_BASE and the second try succeeds; a 550 is final after
// one attempt.
func TestDeferThenAcceptFollowsBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode     testutil.Mode
		attempts int
	}{{testutil.Defer451, 2}, {testutil.Reject550, 1}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			fe := faultSetup(t)
			m := fe.faultMailing(1, time.Now().Add(24*time.Hour))
			fe.sink.FailNext(1, tc.mode)
			w := fe.faultStartWorker("only", map[string]string{"SEND_RETRY_BASE": "1s"})
			run := fe.faultStart(m, 200)
			p := fe.faultWaitFinished(run.ID, 30*time.Second, w)
			atts := fe.faultAttempts(run.ID)
			if len(atts) != tc.attempts {
				t.Fatalf("%d attempts %+v, want %d", len(atts), atts, tc.attempts)
			}
			if a := atts[0]; a.Status != mailing.AttemptFailure || a.SMTPCode != map[testutil.Mode]int{testutil.Defer451: 451, testutil.Reject550: 550}[tc.mode] {
				t.Errorf("first attempt %+v, want the server's refusal", a)
			}
			if tc.mode == testutil.Reject550 {
				if p.Failed != 1 || p.Sent != 0 || fe.sink.Count() != 0 {
					t.Errorf("progress %+v, sink %d: want one failed delivery and nothing accepted", p, fe.sink.Count())
				}
				return
			}
			if a := atts[1]; a.Status != mailing.AttemptSuccess || a.SMTPCode != 250 {
				t.Errorf("second attempt %+v, want a success", a)
			}
			gap := atts[1].AttemptedAt.Sub(atts[0].AttemptedAt)
			// At least the backoff; at most the backoff plus a recovery interval and Asynq's
			// 5 s check of scheduled tasks, with slack.
			if gap < time.Second || gap > 8*time.Second {
				t.Errorf("retry %s after the 451, want 1s (SEND_RETRY_BASE) to 8s", gap)
			}
			if p.Sent != 1 || fe.sink.Count() != 1 {
				t.Errorf("progress %+v, sink %d: want the delivery sent once", p, fe.sink.Count())
			}
			t.Logf("retried %s after the 451", gap.Round(time.Millisecond))
		})
	}
}

// Two worker processes each run the scheduler, so the minute tick fires in both: a due
// mailing still gets exactly one run, and each recipient the mail once. The first tick comes
// a minute after the workers start.
func TestSchedulerFiredTwiceStartsOneRun(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	const n = 300
	m := fe.faultMailing(n, time.Now().Add(-time.Minute))
	// One after the other: started together on PostgreSQL, one of them dies on the migration
	// lock (TestWorkersStartingTogetherAllRun) — a different bug.
	info := map[string]string{"LOG_LEVEL": "info"}
	a := fe.faultStartWorker("a", info)
	fe.faultWaitStarted(a)
	b := fe.faultStartWorker("b", info)
	bothTicked := b.started.Add(62 * time.Second) // @every 1m, from each scheduler's start
	var runs []mailing.Run
	testutil.Eventually(t, 85*time.Second, "both schedulers' first tick and a finished run", func() bool {
		fe.faultAlive(a, b)
		runs = runs[:0]
		if err := fe.st.DB.NewSelect().Model(&runs).Where("mailing_id = ?", m.ID).OrderExpr("id").Scan(fe.ctx); err != nil {
			t.Fatal(err)
		}
		return time.Now().After(bothTicked) && len(runs) > 0 && fe.faultProgress(runs[0].ID).FinishedAt != nil
	})
	if len(runs) != 1 {
		t.Fatalf("%d runs %+v, want exactly one for the slot", len(runs), runs)
	}
	r := runs[0]
	if r.Kind != mailing.RunSchedule || r.Slot == nil || !r.Slot.Equal(m.StartAt) || r.Total != n {
		t.Errorf("run %+v, want a scheduled run of slot %s to %d recipients", r, m.StartAt, n)
	}
	if dups, _ := fe.faultLedger(r.ID); dups != 0 {
		t.Errorf("%d duplicates at the server", dups)
	}
}

// A worker that starts while another process applies migrations — the web process rolling
// out a new version, a second worker replica — waits for it and runs. Store.Migrate takes
// bun's migration lock, an INSERT that fails at once when the row exists, even when there is
// nothing to apply; so today the worker exits with "migrations table is already locked".
// (Two workers started together on PostgreSQL hit this about one time in six.)
func TestWorkerStartsWhileAnotherProcessMigrates(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t) // migrated: the worker has nothing to apply
	mig := migrate.NewMigrator(fe.st.DB, migrate.NewMigrations())
	if err := mig.Lock(fe.ctx); err != nil {
		t.Fatalf("take the migration lock: %v", err)
	}
	w := fe.faultStartWorker("second", map[string]string{"LOG_LEVEL": "info"})
	// The other process migrates for 2 s; the worker must still be there when it is done.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		fe.faultAlive(w)
	}
	if err := mig.Unlock(fe.ctx); err != nil {
		t.Fatalf("release the migration lock: %v", err)
	}
	fe.faultWaitStarted(w)
}

// A process killed with SIGKILL while it held the migration lock (during Store.Migrate at
// start) must not keep every later process from starting. Bun's lock is a row in
// bun_migration_locks that only Unlock deletes, so today each later start exits with
// "migrations table is already locked" until someone deletes the row by hand.
func TestWorkerStartsAfterAProcessDiedMigrating(t *testing.T) {
	t.Parallel()
	fe := faultSetup(t)
	// Exactly what a process killed between Lock and Unlock leaves behind.
	if err := migrate.NewMigrator(fe.st.DB, migrate.NewMigrations()).Lock(fe.ctx); err != nil {
		t.Fatalf("take the migration lock: %v", err)
	}
	w := fe.faultStartWorker("after", map[string]string{"LOG_LEVEL": "info"})
	fe.faultWaitStarted(w)
}

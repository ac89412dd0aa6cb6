package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"mailer/app/cmd/bench/internal/bench"
	"mailer/app/config"
	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/store"
	"mailer/app/tasks"
)

const faultsUsage = "bench faults: usage: go run ./app/cmd/bench faults [-n 10000] [-mode worker|serve|both] -redis redis://HOST:6379/DB " +
	"[-db sqlite|postgres-url] [-at 10,50,90] [-worker PATH] [-mailer PATH] [-timeout 5m]"

// faultsTunables pass from the caller's environment to the workers, to try other settings.
var faultsTunables = []string{"SEND_BATCH", "SEND_CONCURRENCY", "SMTP_MAX_CONNS", "SEND_RATE", "SMTP_TIMEOUT",
	"SEND_MAX_TRIES", "SEND_RETRY_BASE", "CLAIM_TTL", "RECOVER_INTERVAL"}

// faultsDefaults are the processes' settings unless the environment says otherwise: the
// shipped defaults (CLAIM_TTL 2m, RECOVER_INTERVAL 30s), so what is measured is what a
// deployment gets — heartbeats, not a short claim, bring a dead worker's claims back.
var faultsDefaults = map[string]string{}

// benchFaults measures what a worker killed with SIGKILL costs: for each kill point (a share
// of an N-recipient run already accepted by the mail server) it starts a worker process,
// kills it there, starts another, and reports what was in flight, how long the new worker
// took to finish the run, and how many recipients the server got twice. A lost recipient,
// or more duplicates than sends in flight, is an error (the promise is broken).
//
// The workers are real processes of app/cmd/worker: -worker PATH, else a `worker` binary
// beside this one (both built into one directory), else one built with `go build` — which
// needs the Go toolchain and must run inside the source tree, as `go run ./app/cmd/bench`
// does. The mail server is an accept-all SMTP sink in this process; the database is a
// throwaway SQLite file or PostgreSQL schema; the Redis database named by -redis is
// flushed before every point.
func benchFaults(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var (
		n                                              int
		redisURL, db, at, workerPath, mailerPath, mode string
		timeout                                        time.Duration
	)
	fs, err := parseFlags("bench faults", args, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "n", 10000, "recipients")
		fs.StringVar(&redisURL, "redis", "", "Redis URL with a database number (flushed), shared with the workers")
		fs.StringVar(&db, "db", "sqlite", "sqlite, or a postgres:// URL (a fresh schema is used and dropped)")
		fs.StringVar(&at, "at", "10,50,90", "kill points, in % of the run accepted by the server")
		fs.StringVar(&workerPath, "worker", "", "worker binary (default: ./worker beside this binary, else go build)")
		fs.StringVar(&mailerPath, "mailer", "", "mailer binary for -mode serve (default: ./mailer beside this binary, else go build)")
		fs.StringVar(&mode, "mode", "both", "worker (worker processes on -redis), serve (`mailer serve` with its embedded Redis), or both")
		fs.DurationVar(&timeout, "timeout", 5*time.Minute, "limit per kill point")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench faults: unexpected argument %q", fs.Arg(0))
	}
	if n < 10 || timeout <= 0 {
		return errors.New("bench faults: -n must be at least 10 and -timeout positive")
	}
	points, err := faultsPoints(at)
	if err != nil {
		return err
	}
	var modes []string
	switch mode {
	case "worker", "serve":
		modes = []string{mode}
	case "both":
		modes = []string{"worker", "serve"}
	default:
		return fmt.Errorf("bench faults: -mode must be worker, serve or both, got %q", mode)
	}
	if mode != "serve" {
		if err := faultsCheckRedis(redisURL); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "mailer-bench-faults-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins := map[string]string{}
	for _, md := range modes {
		name, flagPath := "worker", workerPath
		if md == "serve" {
			name, flagPath = "mailer", mailerPath
		}
		if bins[md], err = faultsBinary(ctx, name, flagPath, tmp); err != nil {
			return err
		}
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dsn, dialect, workerDB := "", "sqlite", ""
	switch {
	case db == "" || db == "sqlite":
		path := filepath.Join(tmp, "mailer.db")
		dsn, workerDB = config.SQLiteDSN(path), "sqlite:"+path
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		var drop func()
		if dsn, drop, err = faultsSchema(ctx, db); err != nil {
			return err
		}
		defer drop()
		dialect, workerDB = "postgres", dsn
	default:
		return fmt.Errorf("bench faults: -db must be sqlite or a postgres:// URL, got %q", db)
	}
	st, err := store.Open(ctx, dsn, dialect, mailing.SystemClock{}, quiet)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	var rds *tasks.Redis
	var queue *tasks.Queue
	if redisURL != "" && mode != "serve" {
		if rds, err = tasks.OpenRedis(ctx, redisURL, quiet); err != nil {
			return err
		}
		defer rds.Close()
		queue = tasks.NewQueue(rds)
		defer queue.Close()
	}
	sink, err := bench.StartCountingSink()
	if err != nil {
		return err
	}
	defer sink.Close()

	vars := map[string]string{
		"DATABASE_URL": workerDB,
		"REDIS_URL":    redisURL,
		"SMTP_URL":     sink.URL(),
		"MAIL_FROM":    "Mailer Bench <bench@faults.invalid>",
		"SECRET_KEY":   "bench-faults-secret-0123456789abcdef0123456789",
		"LOG_LEVEL":    "warn",
		"PATH":         os.Getenv("PATH"),
		"HOME":         os.Getenv("HOME"),
	}
	for k, v := range faultsDefaults {
		vars[k] = v
	}
	var settings []string
	for _, k := range faultsTunables {
		if v := getenv(k); v != "" {
			vars[k] = v
		}
		if v := vars[k]; v != "" {
			settings = append(settings, k+"="+v)
		}
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		return fmt.Errorf("bench faults: %w", err)
	}

	seedStart := time.Now()
	m, err := faultsSeed(ctx, st, n)
	if err != nil {
		return err
	}
	inst, err := st.InstallationID(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kill -9 of a sending process mid-run: %d recipients on %s, seeded in %s; modes: %s\n",
		n, dialect, time.Since(seedStart).Round(time.Millisecond), strings.Join(modes, ", "))
	if len(settings) > 0 {
		fmt.Fprintf(stdout, "settings: %s (others: defaults)\n", strings.Join(settings, " "))
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "%-7s %-8s %12s %9s %10s %12s %11s %11s %10s %8s %5s\n",
		"mode", "kill at", "sent before", "recorded", "in flight", "claims back", "first send", "recovery", "duplicates", "unknown", "lost")

	var broken []string
	for _, md := range modes {
		engine := &sending.Engine{Store: st, Clock: mailing.SystemClock{}, Log: quiet, WorkerID: "bench",
			Options: sending.Options{From: vars["MAIL_FROM"], Batch: cfg.SendBatch}}
		mvars := vars
		if md == "worker" {
			engine.Enqueue = queue
		} else {
			// `mailer serve` alone, with its embedded Redis: its recovery at start finds the run.
			mvars = map[string]string{}
			for k, v := range vars {
				if k != "REDIS_URL" {
					mvars[k] = v
				}
			}
			mvars["ADDR"] = "127.0.0.1:0"
		}
		rig := faultsRig{st: st, rds: rds, sink: sink, engine: engine, bin: bins[md], args: map[string][]string{"serve": {"serve"}}[md],
			vars: mvars, tmp: tmp, inst: inst}
		for _, pct := range points {
			r, err := faultsPoint(ctx, rig, m, n, pct, timeout)
			if err != nil {
				return fmt.Errorf("bench faults: %s, kill at %d%%: %w", md, pct, err)
			}
			claims := "-"
			if r.inFlight > 0 {
				claims = faultsDur(r.claimsBack)
			}
			fmt.Fprintf(stdout, "%-7s %-8s %12d %9d %10d %12s %11s %11s %10d %8d %5d\n", md, fmt.Sprintf("%d%%", pct),
				r.accepted, r.recorded, r.inFlight, claims, faultsDur(r.firstSend), faultsDur(r.recovery), r.dups, r.unknown, r.lost)
			if r.lost > 0 || r.dups > r.inFlight || r.dups > r.unknown {
				broken = append(broken, fmt.Sprintf("%s, kill at %d%%: %d lost, %d duplicates for %d in flight and %d outcome-unknown attempts",
					md, pct, r.lost, r.dups, r.inFlight, r.unknown))
			}
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "mode: worker = a worker process killed, another started (shared Redis); serve = `mailer serve` with its embedded")
	fmt.Fprintln(stdout, "Redis killed and started again. sent before: accepted by the server at the kill; recorded: of those, written as")
	fmt.Fprintln(stdout, "sent; in flight: claimed and unrecorded at the kill (the most that may repeat); times from the new process's start:")
	fmt.Fprintln(stdout, "claims back = the dead process's claims released (heartbeat, or at a serve's start), first send = the server got")
	fmt.Fprintln(stdout, "mail again, recovery = run finished; unknown = \"outcome unknown\" attempts the ledger wrote for handed, unrecorded sends.")
	if len(broken) > 0 {
		return fmt.Errorf("bench faults: the promise is broken: %s", strings.Join(broken, "; "))
	}
	fmt.Fprintln(stdout, "no recipient lost; duplicates never exceeded the sends in flight nor the outcome-unknown attempts.")
	return nil
}

// faultsRig is what every kill point shares.
type faultsRig struct {
	st     *store.Store
	rds    *tasks.Redis // nil for serve
	sink   *bench.Sink
	engine *sending.Engine
	bin    string
	args   []string
	vars   map[string]string
	tmp    string
	inst   string // the installation id, in every Message-ID
}

type faultsResult struct {
	accepted, recorded, inFlight    int
	claimsBack, firstSend, recovery time.Duration
	dups, lost, unknown             int
}

// faultsPoint runs one kill: a fresh run, a worker killed once pct% of it was accepted, a
// new worker until the run is finished, then the server's count of every delivery.
func faultsPoint(ctx context.Context, rig faultsRig, m *mailing.Mailing, n, pct int, timeout time.Duration) (r faultsResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if rig.rds != nil {
		if err := rig.rds.Client.FlushDB(ctx).Err(); err != nil {
			return r, fmt.Errorf("flush redis: %w", err)
		}
	}
	rig.sink.Reset()
	run, err := rig.engine.StartMailing(ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		return r, err
	}
	count := func(q string, args ...any) int {
		c, _ := rig.st.DB.NewSelect().TableExpr("deliveries").Where(q, args...).Count(context.WithoutCancel(ctx))
		return int(c)
	}

	first, err := faultsStartWorker(rig.bin, rig.args, rig.vars, rig.tmp)
	if err != nil {
		return r, err
	}
	defer first.kill()
	target := max(1, n*pct/100)
	for rig.sink.Count() < target {
		if err := first.check(ctx); err != nil {
			return r, fmt.Errorf("first worker: %w", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	first.kill()
	r.accepted = rig.sink.Count()
	r.recorded = count("run_id = ? AND state = 'sent'", run.ID)
	r.inFlight = count("run_id = ? AND state = 'sending'", run.ID)
	var dead []string
	if err := rig.st.DB.NewSelect().TableExpr("deliveries").ColumnExpr("DISTINCT claimed_by").
		Where("run_id = ? AND state = 'sending'", run.ID).Scan(ctx, &dead); err != nil {
		return r, err
	}

	second, err := faultsStartWorker(rig.bin, rig.args, rig.vars, rig.tmp)
	if err != nil {
		return r, err
	}
	defer second.kill()
	released := r.inFlight == 0
	for {
		if err := second.check(ctx); err != nil {
			return r, fmt.Errorf("second worker: %w", err)
		}
		since := time.Since(second.started)
		if r.firstSend == 0 && rig.sink.Count() > r.accepted {
			r.firstSend = since
		}
		if !released && count("run_id = ? AND state = 'sending' AND claimed_by IN (?)", run.ID, bun.In(dead)) == 0 {
			released, r.claimsBack = true, since
		}
		p, err := rig.st.Progress(ctx, run.ID)
		if err != nil {
			return r, err
		}
		if p.Done() && p.FinishedAt != nil {
			r.recovery = since
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	second.stop()

	var ids []int64
	if err := rig.st.DB.NewSelect().TableExpr("deliveries").Column("id").Where("run_id = ?", run.ID).Scan(ctx, &ids); err != nil {
		return r, err
	}
	counts := rig.sink.Counts()
	for _, id := range ids {
		switch c := counts[mailing.MessageID(id, run.ID, rig.inst, "faults.invalid")]; {
		case c == 0:
			r.lost++
		case c > 1:
			r.dups += c - 1
		}
	}
	c, err := rig.st.DB.NewSelect().TableExpr("attempts").Where("run_id = ? AND response = ?", run.ID, store.OutcomeUnknown).Count(ctx)
	if err != nil {
		return r, err
	}
	r.unknown = int(c)
	return r, nil
}

// faultsSeed creates an owner with n clients, a message, and a mailing to all of them whose
// first send is a day ahead (so the workers' scheduler leaves it alone).
func faultsSeed(ctx context.Context, st *store.Store, n int) (*mailing.Mailing, error) {
	u := &mailing.User{Email: "faults@bench.invalid", Language: "en"}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("seed user: %w", err)
	}
	batch := make([]mailing.Client, 0, 5000)
	for start := 0; start < n; start += 5000 {
		batch = batch[:0]
		for i := start; i < min(start+5000, n); i++ {
			c := mailing.Client{Email: fmt.Sprintf("client%06d@bench.invalid", i), FullName: fmt.Sprintf("Client %06d", i)}
			c.Validate()
			batch = append(batch, c)
		}
		if _, _, err := st.UpsertClients(ctx, u.ID, batch); err != nil {
			return nil, fmt.Errorf("seed clients: %w", err)
		}
	}
	msg := &mailing.Message{OwnerID: u.ID, Subject: "Hello {{.Name}}", Body: "Hello {{.Name}},\n\nthis is a fault benchmark.\n"}
	msg.Validate()
	if err := st.CreateMessage(ctx, msg); err != nil {
		return nil, fmt.Errorf("seed message: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := &mailing.Mailing{OwnerID: u.ID, MessageID: msg.ID, StartAt: now.Add(24 * time.Hour), EndAt: now.Add(7 * 24 * time.Hour),
		Period: mailing.PeriodNone}
	if err := st.SaveMailing(ctx, m, mailing.Recipients{All: true}); err != nil {
		return nil, fmt.Errorf("seed mailing: %w", err)
	}
	return m, nil
}

func faultsPoints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 99 {
			return nil, fmt.Errorf("bench faults: -at takes percentages from 1 to 99, got %q", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// faultsCheckRedis insists on an explicit database number: it is flushed before each point.
func faultsCheckRedis(raw string) error {
	if raw == "" {
		return errors.New(faultsUsage + " (-redis is required: the workers are other processes)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return fmt.Errorf("bench faults: -redis must look like redis://127.0.0.1:6379/13, got %q", raw)
	}
	if strings.Trim(u.Path, "/") == "" {
		return errors.New("bench faults: -redis must name a database number, e.g. redis://127.0.0.1:6379/13: that database is flushed")
	}
	return nil
}

// faultsBinary finds a command (worker or mailer): the flag, one beside this binary, or a
// fresh `go build` of mailer/app/cmd/<name> into dir (Go toolchain and source tree needed).
func faultsBinary(ctx context.Context, name, flagPath, dir string) (string, error) {
	if flagPath != "" {
		if _, err := os.Stat(flagPath); err != nil {
			return "", fmt.Errorf("bench faults: -%s: %w", name, err)
		}
		return flagPath, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	bin := filepath.Join(dir, name)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "mailer/app/cmd/"+name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench faults: no %s binary beside this one, and `go build mailer/app/cmd/%s` failed "+
			"(it needs the Go toolchain and the source tree; or pass -%s PATH): %v\n%s", name, name, name, err, out)
	}
	return bin, nil
}

// faultsSchema creates an empty schema in base's database; the DSN's search_path is it.
func faultsSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, errors.New("bench faults: -db is not a valid postgres:// URL")
	}
	b := make([]byte, 5)
	rand.Read(b)
	schema := "bench_faults_" + hex.EncodeToString(b)
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("bench faults: create schema on -db: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	}, nil
}

func faultsDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// faultsWorker is a worker process.
type faultsWorker struct {
	cmd     *exec.Cmd
	out     *faultsTail
	started time.Time
	exited  chan struct{}
	err     error
}

func faultsStartWorker(bin string, args []string, vars map[string]string, tmp string) (*faultsWorker, error) {
	dataDir, err := os.MkdirTemp(tmp, "worker-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"DATA_DIR=" + dataDir}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := &faultsWorker{cmd: cmd, out: &faultsTail{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w.started = time.Now()
	go func() {
		w.err = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// check reports a worker that exited, or ctx ending.
func (w *faultsWorker) check(ctx context.Context) error {
	select {
	case <-w.exited:
		return fmt.Errorf("exited: %v; output:\n%s", w.err, w.out.String())
	default:
	}
	return ctx.Err()
}

// kill is kill -9.
func (w *faultsWorker) kill() {
	select {
	case <-w.exited:
		return
	default:
	}
	w.cmd.Process.Kill()
	<-w.exited
}

// stop asks the worker to shut down, and kills it after 15 s.
func (w *faultsWorker) stop() {
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.kill()
		return
	}
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		w.kill()
	}
}

// faultsTail keeps the last 16 KB a worker wrote.
type faultsTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *faultsTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-16<<10:]...)
	}
	return len(p), nil
}

func (t *faultsTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

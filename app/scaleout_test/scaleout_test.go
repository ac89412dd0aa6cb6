// Package scaleout_test proves Mailer scales out as the README says: two `mailer serve`
// processes behind one address and two `worker` processes, all on one database and one
// Redis, behave as one service. The binaries of app/cmd/mailer and app/cmd/worker are built
// once into a temporary folder and run as subprocesses; the test only talks HTTP to the web
// processes and reads the database and an SMTP sink in this process.
//
// One test, because the processes are the expensive part and the schedule proof has to wait
// for the workers' minutely ticks anyway: the other proofs run while it waits.
package scaleout_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

const (
	// The same key in every process: a session or CSRF token made by one web process must
	// verify on the other.
	secretKey  = "scaleout-secret-key-0123456789abcdef0123456789"
	mailFrom   = "Mailer <m@example.com>" // Message-IDs end in @example.com
	ownerEmail = "owner@example.com"
	password   = "scale-out-password-1"
	sendBatch  = "50"
	// SEND_RATE paces the 2,000-recipient run over ~20 s, so the worker stopped at 30 % has
	// finished its graceful shutdown (Asynq waits up to 8 s) while much of the run is left.
	// It costs no time overall: the schedule proof waits for a worker tick anyway.
	sendRate = "100"
)

// proc is one subprocess.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *testutil.LogBuffer
	exited chan struct{}
	err    error
	ended  time.Time // when it exited
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// cluster is the test's world: the database and Redis every process shares, the SMTP sink
// the workers send to, and the processes.
type cluster struct {
	t        *testing.T
	ctx      context.Context
	st       *store.Store
	dbURL    string // DATABASE_URL for the processes
	redisURL string
	sink     *testutil.SMTPServer
	bin      string // folder with the mailer and worker binaries
	procs    []*proc
}

// buildBinaries builds app/cmd/mailer and app/cmd/worker into one temporary folder.
func buildBinaries(t *testing.T, ctx context.Context) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "mailer/app/cmd/mailer", "mailer/app/cmd/worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build app/cmd/mailer app/cmd/worker: %v\n%s", err, out)
	}
	return dir
}

// env is the environment every process gets; extra overrides.
func (c *cluster) env(extra map[string]string) []string {
	vars := map[string]string{
		"DATABASE_URL":     c.dbURL,
		"REDIS_URL":        c.redisURL,
		"SMTP_URL":         c.sink.URL(),
		"MAIL_FROM":        mailFrom,
		"SECRET_KEY":       secretKey,
		"DATA_DIR":         c.t.TempDir(), // each its own: no process may lean on a key file
		"SEND_BATCH":       sendBatch,
		"SEND_RATE":        sendRate,
		"SEND_RETRY_BASE":  "1s",
		"CLAIM_TTL":        "6s",
		"RECOVER_INTERVAL": "2s",
		"LOG_LEVEL":        "info",
		"PATH":             os.Getenv("PATH"),
		"HOME":             os.Getenv("HOME"),
	}
	for k, v := range extra {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// start runs binary with args; the cluster's cleanup stops it.
func (c *cluster) start(name, binary string, args []string, env map[string]string, stdin io.Reader) *proc {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, binary), args...)
	cmd.Env = c.env(env)
	cmd.Stdin = stdin
	p := &proc{name: name, cmd: cmd, out: &testutil.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.ended = time.Now()
		close(p.exited)
	}()
	c.procs = append(c.procs, p)
	return p
}

// stop ends every process still running: SIGTERM and a wait when the test passed, SIGKILL at
// once when it failed (with every process's output in the log).
func (c *cluster) stop() {
	failed := c.t.Failed()
	for _, p := range c.procs {
		if !p.running() {
			continue
		}
		if failed {
			p.cmd.Process.Kill()
		} else {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(20 * time.Second)
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-deadline:
			c.t.Errorf("%s did not stop within 20s of SIGTERM", p.name)
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if c.t.Failed() {
		for _, p := range c.procs {
			c.t.Logf("--- output of %s (exit: %v):\n%s", p.name, p.err, p.out.String())
		}
	}
}

// alive fails the test when a process that should run has exited.
func (c *cluster) alive(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		if !p.running() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.out.String())
		}
	}
}

// poll checks cond every 100 ms until it holds; the test fails at the timeout or when one
// of ps exits.
func (c *cluster) poll(t *testing.T, timeout time.Duration, what string, cond func() bool, ps ...*proc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.alive(t, ps...)
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) count(t *testing.T, table, where string, args ...any) int {
	t.Helper()
	n, err := c.st.DB.NewSelect().TableExpr(table).Where(where, args...).Count(c.ctx)
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(n)
}

func (c *cluster) progress(t *testing.T, runID int64) mailing.RunProgress {
	t.Helper()
	p, err := c.st.Progress(c.ctx, runID)
	if err != nil {
		t.Fatalf("progress of run %d: %v", runID, err)
	}
	return p
}

// sinkCounts returns how often the sink accepted each Message-ID of a run.
// Message-IDs are <delivery>.<run>.<installation>@<domain>.
func (c *cluster) sinkCounts(runID int64) map[string]int {
	out := map[string]int{}
	for id, n := range c.sink.CountByMessageID() {
		if parts := strings.SplitN(id, ".", 3); len(parts) == 3 && parts[1] == fmt.Sprint(runID) {
			out[id] = n
		}
	}
	return out
}

// messageID is a delivery's Message-ID in this cluster's database.
func (c *cluster) messageID(t *testing.T, runID, deliveryID int64) string {
	t.Helper()
	inst, err := c.st.InstallationID(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return mailing.MessageID(deliveryID, runID, inst, "example.com")
}

func (c *cluster) deliveryIDs(t *testing.T, runID int64) []int64 {
	t.Helper()
	var ids []int64
	if err := c.st.DB.NewSelect().TableExpr("deliveries").Column("id").Where("run_id = ?", runID).
		OrderExpr("id").Scan(c.ctx, &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// seedClients gives owner n clients named prefix00000@example.com… and returns their ids.
func (c *cluster) seedClients(t *testing.T, owner int64, prefix string, n int) []int64 {
	t.Helper()
	cls := make([]mailing.Client, n)
	for i := range cls {
		cls[i] = mailing.Client{Email: fmt.Sprintf("%s%05d@example.com", prefix, i), FullName: fmt.Sprintf("Recipient %s%d", prefix, i),
			Tags: []string{prefix}}
		if errs := cls[i].Validate(); len(errs) > 0 {
			t.Fatalf("client: %v", errs)
		}
	}
	if _, _, err := c.st.UpsertClients(c.ctx, owner, cls); err != nil {
		t.Fatalf("seed clients: %v", err)
	}
	var ids []int64
	if err := c.st.DB.NewSelect().TableExpr("clients").Column("id").
		Where("owner_id = ? AND email LIKE ?", owner, prefix+"%@example.com").OrderExpr("id").Scan(c.ctx, &ids); err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("seeded %d clients %q, want %d", len(ids), prefix, n)
	}
	return ids
}

func (c *cluster) message(t *testing.T, owner int64) int64 {
	t.Helper()
	msg := &mailing.Message{OwnerID: owner, Subject: "Hello {{.Name}}", Body: "Hi {{.Name}} <{{.Email}}>"}
	if errs := msg.Validate(); len(errs) > 0 {
		t.Fatalf("message: %v", errs)
	}
	if err := c.st.CreateMessage(c.ctx, msg); err != nil {
		t.Fatal(err)
	}
	return msg.ID
}

func (c *cluster) mailing(t *testing.T, owner, message int64, period string, start, end time.Time, r mailing.Recipients) *mailing.Mailing {
	t.Helper()
	m := &mailing.Mailing{OwnerID: owner, MessageID: message, Period: period,
		StartAt: start.UTC().Truncate(time.Second), EndAt: end.UTC().Truncate(time.Second)}
	if errs := m.Validate(); len(errs) > 0 {
		t.Fatalf("mailing: %v", errs)
	}
	if err := c.st.SaveMailing(c.ctx, m, r); err != nil {
		t.Fatalf("save mailing: %v", err)
	}
	return m
}

func (c *cluster) runs(t *testing.T, mailingID int64) []mailing.Run {
	t.Helper()
	var rs []mailing.Run
	if err := c.st.DB.NewSelect().Model(&rs).Where("mailing_id = ?", mailingID).OrderExpr("id").Scan(c.ctx); err != nil {
		t.Fatal(err)
	}
	return rs
}

// freeAddr returns a 127.0.0.1 address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// browser is an HTTP client on one web process with a cookie jar; it does not follow
// redirects, and remembers the last CSRF token it saw.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string, jar http.CookieJar) *browser {
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	code int
	body string
	loc  string
}

func (b *browser) do(method, path string, form url.Values) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s%s: %v", method, b.base, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if tok := testutil.CSRFToken(string(raw)); tok != "" {
		b.csrf = tok
	}
	return response{code: resp.StatusCode, body: string(raw), loc: resp.Header.Get("Location")}
}

func (b *browser) get(path string) response { return b.do(http.MethodGet, path, nil) }

// post submits form with token as _csrf.
func (b *browser) post(path, token string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", token)
	return b.do(http.MethodPost, path, form)
}

// waitHealthy polls /healthz until it answers 200.
func (c *cluster) waitHealthy(t *testing.T, base string, p *proc) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	c.poll(t, 30*time.Second, p.name+" /healthz to answer 200", func() bool {
		resp, err := hc.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, p)
}

func TestTwoWebProcessesAndTwoWorkersShareTheWork(t *testing.T) {
	redisURL := testutil.RedisURL(t) // fails under REQUIRE_SERVICES=1 when TEST_REDIS_URL is unset
	if redisURL == "" {
		t.Skip("the processes need a Redis they can share: set TEST_REDIS_URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	bin := buildBinaries(t, ctx)

	st, dbURL := testutil.SharedDB(t, mailing.SystemClock{})
	c := &cluster{t: t, ctx: ctx, st: st, dbURL: dbURL, redisURL: redisURL, sink: testutil.StartSMTP(t), bin: bin}
	// Registered after the database, Redis and sink: it runs before their cleanups.
	t.Cleanup(c.stop)
	t.Logf("database %s, redis %s", st.Dialect, redisURL)

	// The owner, made by the operator's command (a confirmed account with this password).
	uc := c.start("mailer user create", "mailer", []string{"user", "create", "--email", ownerEmail},
		map[string]string{"LOG_LEVEL": "warn"}, strings.NewReader(password+"\n"))
	select {
	case <-uc.exited:
	case <-ctx.Done():
		t.Fatal("mailer user create did not finish")
	}
	if uc.err != nil {
		t.Fatalf("mailer user create: %v\n%s", uc.err, uc.out.String())
	}
	owner, err := st.UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatalf("the account made by mailer user create: %v", err)
	}

	// (c)'s mailing first, of an owner of its own: daily from a minute ago, so the first
	// tick of the workers' schedulers finds its first slot due.
	schedOwner := &mailing.User{Email: "scheduled@example.com"}
	if err := st.CreateUser(ctx, schedOwner); err != nil {
		t.Fatal(err)
	}
	schedMsg := c.message(t, schedOwner.ID)
	c.seedClients(t, schedOwner.ID, "s", 3)
	now := time.Now()
	daily := c.mailing(t, schedOwner.ID, schedMsg, mailing.PeriodDaily, now.Add(-time.Minute), now.Add(48*time.Hour), mailing.Recipients{All: true})

	// Two workers. Each one's scheduler ticks a minute after it starts, then every minute.
	w1 := c.start("worker 1", "worker", nil, nil, nil)
	w2 := c.start("worker 2", "worker", nil, nil, nil)
	for _, w := range []*proc{w1, w2} {
		c.poll(t, 30*time.Second, w.name+" to start", func() bool { return strings.Contains(w.out.String(), "worker started") }, w)
	}
	workersUp := time.Now()

	// Two web processes; BASE_URL is the first one's, as behind a load balancer.
	addrA, addrB := freeAddr(t), freeAddr(t)
	urlA, urlB := "http://"+addrA, "http://"+addrB
	webA := c.start("web A", "mailer", []string{"serve"}, map[string]string{"ADDR": addrA, "BASE_URL": urlA}, nil)
	webB := c.start("web B", "mailer", []string{"serve"}, map[string]string{"ADDR": addrB, "BASE_URL": urlA}, nil)
	c.waitHealthy(t, urlA, webA)
	c.waitHealthy(t, urlB, webB)
	all := []*proc{webA, webB, w1, w2}

	// Only the workers run Asynq servers: `mailer serve` with REDIS_URL runs the web alone.
	connOpt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(connOpt)
	t.Cleanup(func() { insp.Close() })
	// Each worker runs two: one for the send tasks, and one with a slot of its own for the
	// schedule's ticks, so a tick never waits behind a big run's sends.
	c.poll(t, 15*time.Second, "both workers' Asynq servers and schedulers registered in Redis", func() bool {
		servers, err := insp.Servers()
		if err != nil || len(servers) != 4 {
			return false
		}
		entries, err := insp.SchedulerEntries()
		return err == nil && len(entries) == 2
	}, all...)
	servers, _ := insp.Servers()
	type served struct{ send, ticks int }
	pids := map[int]*served{w1.cmd.Process.Pid: {}, w2.cmd.Process.Pid: {}}
	for _, s := range servers {
		p := pids[s.PID]
		switch {
		case p == nil:
			t.Errorf("an Asynq server of pid %d (not a worker's) is registered: %+v", s.PID, s)
		case len(s.Queues) == 1 && s.Queues["default"] > 0:
			p.send++
		case len(s.Queues) == 1 && s.Queues["schedule"] > 0 && s.Concurrency == 1:
			p.ticks++
		default:
			t.Errorf("worker pid %d runs an Asynq server on queues %v with concurrency %d", s.PID, s.Queues, s.Concurrency)
		}
	}
	for pid, p := range pids {
		if p.send != 1 || p.ticks != 1 {
			t.Errorf("worker pid %d runs %d send servers and %d tick servers, want one of each", pid, p.send, p.ticks)
		}
	}

	// The owner's recipients: 500 tagged "b" for (b), a mailing to that tag; 2,000 more for
	// (d), by id. The audience is resolved when a run starts, so "all clients" would take
	// both sets. Both start tomorrow, so only "Send now" starts them.
	ownerMsg := c.message(t, owner.ID)
	c.seedClients(t, owner.ID, "b", 500)
	tomorrow, later := now.Add(24*time.Hour), now.Add(7*24*time.Hour)
	mailingB := c.mailing(t, owner.ID, ownerMsg, mailing.PeriodNone, tomorrow, later, mailing.Recipients{Tags: []string{"b"}})
	dIDs := c.seedClients(t, owner.ID, "d", 2000)
	mailingD := c.mailing(t, owner.ID, ownerMsg, mailing.PeriodNone, tomorrow, later, mailing.Recipients{ClientIDs: dIDs})

	var onB *browser // signed in through web A, browsing web B

	ok := t.Run("a/session and CSRF of web A work on web B", func(t *testing.T) {
		a := newBrowser(t, urlA, nil)
		if r := a.get("/login"); r.code != http.StatusOK || a.csrf == "" {
			t.Fatalf("GET /login on A: %d, token %q", r.code, a.csrf)
		}
		r := a.post("/login", a.csrf, url.Values{"email": {ownerEmail}, "password": {password}})
		if r.code != http.StatusSeeOther {
			t.Fatalf("sign in on A: %d %.300s", r.code, r.body)
		}
		if r := a.get("/"); r.code != http.StatusOK {
			t.Fatalf("GET / on A after sign-in: %d", r.code)
		}
		tokenA := a.csrf
		if tokenA == "" {
			t.Fatal("no CSRF token on A's home page")
		}

		// B gets exactly A's cookies, in a jar of its own.
		uA, _ := url.Parse(urlA)
		uB, _ := url.Parse(urlB)
		jarB, _ := cookiejar.New(nil)
		jarB.SetCookies(uB, a.c.Jar.Cookies(uA))
		onB = newBrowser(t, urlB, jarB)
		r = onB.get("/account/password")
		if r.code != http.StatusOK {
			t.Fatalf("GET /account/password on B with A's session: %d (Location %q), want 200", r.code, r.loc)
		}
		if r := onB.post("/clients/new", "not-"+tokenA, url.Values{"email": {"forged@example.com"}}); r.code != http.StatusForbidden {
			t.Errorf("POST /clients/new on B with a forged token: %d, want 403", r.code)
		}
		r = onB.post("/clients/new", tokenA, url.Values{"email": {"made-on-b@example.com"}, "full_name": {"Made On B"}})
		if r.code != http.StatusSeeOther {
			t.Fatalf("POST /clients/new on B with A's token: %d %.300s, want 303", r.code, r.body)
		}
		if n := c.count(t, "clients", "owner_id = ? AND email = ?", owner.ID, "made-on-b@example.com"); n != 1 {
			t.Errorf("the client made on B: %d rows, want 1", n)
		}
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("b/a run started on web B is sent once in total", func(t *testing.T) {
		path := fmt.Sprintf("/mailings/%d", mailingB.ID)
		if r := onB.get(path); r.code != http.StatusOK {
			t.Fatalf("GET %s on B: %d", path, r.code)
		}
		if r := onB.post(path+"/send", onB.csrf, nil); r.code != http.StatusSeeOther {
			t.Fatalf("Send now on B: %d %.300s, want 303", r.code, r.body)
		}
		run, err := st.LatestRun(ctx, mailingB.ID)
		if err != nil {
			t.Fatalf("no run after Send now on B: %v", err)
		}
		if run.Kind != mailing.RunManual || run.Total != 500 {
			t.Fatalf("run %+v, want a manual run of 500", run)
		}
		holders := map[string]bool{}
		var p mailing.RunProgress
		c.poll(t, 60*time.Second, fmt.Sprintf("run %d to finish", run.ID), func() bool {
			var hs []string
			st.DB.NewSelect().TableExpr("deliveries").ColumnExpr("DISTINCT claimed_by").
				Where("run_id = ? AND claimed_by IS NOT NULL", run.ID).Scan(ctx, &hs)
			for _, h := range hs {
				holders[h] = true
			}
			p = c.progress(t, run.ID)
			return p.Done() && p.FinishedAt != nil
		}, all...)
		if p.Sent != 500 || p.Failed != 0 || p.Cancelled != 0 {
			t.Errorf("progress %+v, want all 500 sent", p)
		}
		counts := c.sinkCounts(run.ID)
		total := 0
		for id, n := range counts {
			total += n
			if n != 1 {
				t.Errorf("%s accepted %d times, want once", id, n)
			}
		}
		if len(counts) != 500 || total != 500 {
			t.Errorf("sink: %d Message-IDs of run %d accepted %d times, want 500 once each", len(counts), run.ID, total)
		}
		if n := c.count(t, "attempts", "run_id = ?", run.ID); n != 500 {
			t.Errorf("%d attempts, want 500", n)
		}
		if len(holders) < 2 {
			t.Errorf("claims were held by %v; want both workers sending", holders)
		}
		t.Logf("run %d: 500 sent in %s, claims held by %d workers", run.ID, p.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond), len(holders))
	})
	if !ok {
		t.FailNow()
	}

	// (c), first half: the first tick of both schedulers starts the slot's run. Then a second
	// daily mailing, due a few seconds from now: its run proves the next tick took place.
	var first mailing.Run
	var probe *mailing.Mailing
	ok = t.Run("c/the first tick starts the slot", func(t *testing.T) {
		c.poll(t, time.Until(workersUp.Add(80*time.Second)), "a scheduled run of the daily mailing", func() bool {
			return c.count(t, "runs", "mailing_id = ?", daily.ID) > 0
		}, all...)
		rs := c.runs(t, daily.ID)
		first = rs[0]
		if first.Kind != mailing.RunSchedule || first.Slot == nil || !first.Slot.Equal(daily.StartAt) {
			t.Errorf("run %+v, want a scheduled run of the slot %s", first, daily.StartAt)
		}
		if len(rs) != 1 {
			t.Errorf("%d runs of the daily mailing after the first tick, want 1: %+v", len(rs), rs)
		}
		// Due 40 s after the first run: too late for a first-round tick (ticks have a queue
		// and a worker slot of their own, so (d)'s send tasks cannot hold one back); the
		// next minutely tick starts it.
		probe = c.mailing(t, schedOwner.ID, schedMsg, mailing.PeriodDaily, first.StartedAt.Add(40*time.Second),
			first.StartedAt.Add(48*time.Hour), mailing.Recipients{All: true})
		t.Logf("first scheduled run %d at %s, %s after the workers started", first.ID, first.StartedAt.Format(time.TimeOnly),
			first.StartedAt.Sub(workersUp).Round(time.Millisecond))
	})
	if !ok {
		t.FailNow()
	}

	t.Run("d/a worker stopped mid-run leaves the rest to the other", func(t *testing.T) {
		path := fmt.Sprintf("/mailings/%d", mailingD.ID)
		if r := onB.get(path); r.code != http.StatusOK {
			t.Fatalf("GET %s on B: %d", path, r.code)
		}
		if r := onB.post(path+"/send", onB.csrf, nil); r.code != http.StatusSeeOther {
			t.Fatalf("Send now on B: %d %.300s, want 303", r.code, r.body)
		}
		run, err := st.LatestRun(ctx, mailingD.ID)
		if err != nil || run.Total != 2000 {
			t.Fatalf("run %+v, %v: want a run of 2000", run, err)
		}
		acceptedAtTerm := 0
		c.poll(t, 60*time.Second, "30% of the run accepted", func() bool {
			acceptedAtTerm = len(c.sinkCounts(run.ID))
			return acceptedAtTerm >= 600
		}, all...)
		if err := w1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		termAt := time.Now()
		select {
		case <-w1.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("worker 1 did not exit within 30s of SIGTERM")
		}
		if w1.err != nil {
			t.Errorf("worker 1 exited with %v after SIGTERM, want a clean exit", w1.err)
		}
		atExit := c.progress(t, run.ID)
		acceptedAtExit := len(c.sinkCounts(run.ID))
		if atExit.Done() {
			t.Fatalf("the run was done (%+v) when worker 1 exited: nothing was left for worker 2", atExit)
		}
		p := atExit
		c.poll(t, 90*time.Second, fmt.Sprintf("run %d to finish on worker 2", run.ID), func() bool {
			p = c.progress(t, run.ID)
			return p.Done() && p.FinishedAt != nil
		}, webA, webB, w2)
		if p.Sent != 2000 || p.Failed != 0 || p.Cancelled != 0 {
			t.Errorf("progress %+v, want all 2000 sent", p)
		}
		counts := c.sinkCounts(run.ID)
		lost, dups := 0, 0
		for _, id := range c.deliveryIDs(t, run.ID) {
			switch n := counts[c.messageID(t, run.ID, id)]; {
			case n == 0:
				if lost++; lost <= 5 {
					t.Errorf("delivery %d never reached the server", id)
				}
			case n > 1:
				dups += n - 1
			}
		}
		if lost > 0 {
			t.Errorf("%d of 2000 recipients never accepted", lost)
		}
		// A graceful stop finishes and records the sends in flight: nothing goes out twice.
		if dups != 0 {
			t.Errorf("%d duplicates at the server after a graceful stop, want none", dups)
		}
		if n := c.count(t, "attempts", "run_id = ? AND status = ?", run.ID, mailing.AttemptSuccess); n != 2000 {
			t.Errorf("%d success attempts, want 2000", n)
		}
		t.Logf("SIGTERM at %d accepted; worker 1 exited %s later with %d accepted (%d pending); worker 2 finished the run %s after the SIGTERM",
			acceptedAtTerm, w1.ended.Sub(termAt).Round(time.Millisecond), acceptedAtExit, atExit.Pending,
			p.FinishedAt.Sub(termAt).Round(time.Millisecond))
	})

	// (c), second half: once the next tick has passed — the probe mailing got its run, and
	// at least 65 s went by since the first run — the slot still has exactly one run.
	t.Run("c/the next tick does not start the slot again", func(t *testing.T) {
		c.poll(t, time.Until(first.StartedAt.Add(80*time.Second)), "the next tick to start the probe mailing", func() bool {
			return c.count(t, "runs", "mailing_id = ?", probe.ID) > 0
		}, webA, webB, w2)
		if d := time.Until(first.StartedAt.Add(65 * time.Second)); d > 0 {
			time.Sleep(d)
		}
		if rs := c.runs(t, daily.ID); len(rs) != 1 {
			t.Errorf("%d runs of the daily mailing's slot, want exactly 1: %+v", len(rs), rs)
		}
		if rs := c.runs(t, probe.ID); len(rs) != 1 || rs[0].Kind != mailing.RunSchedule {
			t.Errorf("runs of the probe mailing %+v, want one scheduled run", rs)
		} else {
			t.Logf("next tick: probe run %d at %s, %s after the first scheduled run", rs[0].ID, rs[0].StartedAt.Format(time.TimeOnly),
				rs[0].StartedAt.Sub(first.StartedAt).Round(time.Millisecond))
		}
	})
}

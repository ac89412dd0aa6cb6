package sending_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/sending"
	"mailer/app/store"
	"mailer/app/testutil"
)

// fixture is one owner with clients, a message and a mailing to every client, a real SMTP
// sink and a pool in front of it, on a store of the test's own with a fake clock.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	clock *testutil.Clock
	sink  *testutil.SMTPServer
	pool  *mail.Pool
	log   *slog.Logger

	batch   int
	owner   int64
	clients []mailing.Client
	msg     *mailing.Message
	m       *mailing.Mailing
}

type fixtureOptions struct {
	n       int           // clients, all recipients of the mailing
	batch   int           // Options.Batch; 2 when zero
	timeout time.Duration // pool timeout; 500ms when zero
	subject string        // message subject; "Hello {{.Name}}" when empty
}

const (
	defaultSubject = "Hello {{.Name}}"
	defaultBody    = "Hi {{.Name}} <{{.Email}}>"
	fromHeader     = "Mailer <m@example.com>"
)

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	if o.batch == 0 {
		o.batch = 2
	}
	if o.timeout == 0 {
		o.timeout = 500 * time.Millisecond
	}
	if o.subject == "" {
		o.subject = defaultSubject
	}
	clock := testutil.NewClock()
	log, _ := testutil.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, st: testutil.DB(t, clock), clock: clock, sink: testutil.StartSMTP(t), log: log, batch: o.batch}
	awaitGreeting(t, f.sink.Addr())
	pool, err := mail.NewPool(f.sink.URL(), mail.PoolOptions{MaxConns: 4, Timeout: o.timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	f.pool = pool

	u := &mailing.User{Email: "owner@example.com"}
	if err := f.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	f.owner = u.ID
	ids := make([]int64, 0, o.n)
	for i := 1; i <= o.n; i++ {
		c := mailing.Client{OwnerID: f.owner, Email: fmt.Sprintf("c%03d@example.com", i), FullName: fmt.Sprintf("Client %d", i)}
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("client %d: %v", i, errs)
		}
		if err := f.st.CreateClient(ctx, &c); err != nil {
			t.Fatal(err)
		}
		f.clients = append(f.clients, c)
		ids = append(ids, c.ID)
	}
	f.msg = &mailing.Message{OwnerID: f.owner, Subject: o.subject, Body: defaultBody}
	if errs := f.msg.Validate(); len(errs) > 0 {
		t.Fatalf("message: %v", errs)
	}
	if err := f.st.CreateMessage(ctx, f.msg); err != nil {
		t.Fatal(err)
	}
	if o.n > 0 {
		f.m = f.newMailing(ids...)
	}
	return f
}

// awaitGreeting waits for the sink's 220 greeting. Only then is its listener registered
// with go-smtp, so that its cleanup (srv.Close, then waiting for Serve) cannot hang: a test
// that never connects would otherwise race Serve against Close (see the report on
// testutil.StartSMTP).
func awaitGreeting(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("SMTP sink greeting %q: %v", line, err)
	}
	fmt.Fprintf(c, "QUIT\r\n")
}

// newMailing saves another mailing of the fixture's message to clientIDs, ending in a week.
func (f *fixture) newMailing(clientIDs ...int64) *mailing.Mailing {
	f.t.Helper()
	now := f.clock.Now()
	m := &mailing.Mailing{OwnerID: f.owner, MessageID: f.msg.ID, StartAt: now.Add(-time.Hour),
		EndAt: now.Add(7 * 24 * time.Hour), Period: mailing.PeriodNone}
	if errs := m.Validate(); len(errs) > 0 {
		f.t.Fatalf("mailing: %v", errs)
	}
	if err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: clientIDs}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// engine is an Engine as the CLI builds one: no queue, Process called directly.
func (f *fixture) engine(worker string, sender mail.Sender) *sending.Engine {
	if sender == nil {
		sender = f.pool
	}
	return &sending.Engine{
		Store: f.st, Sender: sender, Clock: f.clock, Log: f.log.With("worker", worker),
		Options: sending.Options{From: fromHeader, Batch: f.batch, Conns: 4, MaxTries: 4,
			RetryBase: 30 * time.Second, ClaimTTL: time.Minute},
		WorkerID: worker,
	}
}

// start starts a run of m in the owner's scope.
func (f *fixture) start(e *sending.Engine, m *mailing.Mailing) *mailing.Run {
	f.t.Helper()
	run, err := e.Start(f.ctx, mailing.Scope{UserID: f.owner}, m.ID, mailing.RunManual)
	if err != nil {
		f.t.Fatalf("start mailing %d: %v", m.ID, err)
	}
	return run
}

func (f *fixture) process(e *sending.Engine, runID int64) sending.Result {
	f.t.Helper()
	res, err := e.Process(f.ctx, runID)
	if err != nil {
		f.t.Fatalf("process run %d: %v", runID, err)
	}
	return res
}

// attempts returns every attempt of a mailing, oldest first.
func (f *fixture) attempts(mailingID int64) []mailing.Attempt {
	f.t.Helper()
	var all []mailing.Attempt
	p := mailing.ListParams{Limit: 100}
	for {
		page, err := f.st.ListAttempts(f.ctx, mailingID, "", p)
		if err != nil {
			f.t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	slices.SortFunc(all, func(a, b mailing.Attempt) int { return int(a.ID - b.ID) })
	return all
}

// deliveryRow is a delivery as the table holds it, claim included.
type deliveryRow struct {
	ID           int64
	ClientID     int64
	Email        string
	State        string
	Tries        int
	NextTryAt    time.Time
	ClaimedBy    *string
	ClaimedUntil *time.Time
}

func (f *fixture) deliveries(runID int64) []deliveryRow {
	f.t.Helper()
	var rows []deliveryRow
	if err := f.st.DB.NewSelect().TableExpr("deliveries").
		Column("id", "client_id", "email", "state", "tries", "next_try_at", "claimed_by", "claimed_until").
		Where("run_id = ?", runID).OrderExpr("id").Scan(f.ctx, &rows); err != nil {
		f.t.Fatal(err)
	}
	return rows
}

func (f *fixture) progress(runID int64) mailing.RunProgress {
	f.t.Helper()
	p, err := f.st.Progress(f.ctx, runID)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// hookSender passes messages to a Sender and calls after with the number of messages
// accepted so far, once per accepted message.
type hookSender struct {
	mail.Sender
	after func(accepted int)

	mu sync.Mutex
	n  int
}

func (h *hookSender) Send(ctx context.Context, m mail.Message) (string, error) {
	reply, err := h.Sender.Send(ctx, m)
	if err == nil {
		h.mu.Lock()
		h.n++
		n := h.n
		h.mu.Unlock()
		if h.after != nil {
			h.after(n)
		}
	}
	return reply, err
}

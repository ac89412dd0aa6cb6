package bounce_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/memory"
	"github.com/emersion/go-imap/server"
	"github.com/hibiken/asynq"

	"mailer/app/bounce"
	"mailer/app/mailing"
	"mailer/app/metrics"
	"mailer/app/store"
	"mailer/app/tasks"
	"mailer/app/testutil"
)

const (
	returnPath = "bounces@example.com"
	secret     = "test-secret-key-0123456789abcdef0123456789"
)

// imapServer is go-imap's own server with its in-memory backend, on 127.0.0.1 (over TLS
// when cfg is set). The backend's user is username/password; its INBOX starts with one
// ordinary mail.
func imapServer(t *testing.T, cfg *tls.Config) (addr string, inbox backend.Mailbox) {
	t.Helper()
	be := memory.New()
	srv := server.New(be)
	srv.AllowInsecureAuth = true
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	u, err := be.Login(nil, "username", "password")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err = u.GetMailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), inbox
}

// mailboxFixture is an owner with clients and a run of a mailing to them.
type mailboxFixture struct {
	st    *store.Store
	ctx   context.Context
	owner int64
	run   *mailing.Run
	deliv map[string]int64
}

func newMailboxFixture(t *testing.T) *mailboxFixture {
	t.Helper()
	return mailboxFixtureOn(t, testutil.DB(t, testutil.NewClock()), testutil.NewClock())
}

func mailboxFixtureOn(t *testing.T, st *store.Store, clock mailing.Clock) *mailboxFixture {
	t.Helper()
	f := &mailboxFixture{st: st, ctx: context.Background(), deliv: map[string]int64{}}
	u := &mailing.User{Email: "owner@example.com"}
	if err := f.st.CreateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
	f.owner = u.ID
	var ids []int64
	for _, e := range []string{"jane@example.org", "mary@example.org", "rick@example.org", "ann@example.org"} {
		c := &mailing.Client{OwnerID: f.owner, Email: e}
		c.Validate()
		if err := f.st.CreateClient(f.ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	msg := &mailing.Message{OwnerID: f.owner, Subject: "Hi", Body: "Hello"}
	msg.Validate()
	if err := f.st.CreateMessage(f.ctx, msg); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	m := &mailing.Mailing{OwnerID: f.owner, MessageID: msg.ID, StartAt: now.Add(-time.Hour), EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: ids}); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.run, err = f.st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID    int64
		Email string
	}
	if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("id", "email").Where("run_id = ?", f.run.ID).Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		f.deliv[r.Email] = r.ID
	}
	return f
}

// fill writes a sample with its placeholders replaced.
func fill(t *testing.T, name, verp, rcpt, msgID string) []byte {
	s := string(sample(t, name))
	return []byte(strings.NewReplacer("{{VERP}}", verp, "{{RCPT}}", rcpt, "{{MSGID}}", msgID).Replace(s))
}

func (f *mailboxFixture) bounces(t *testing.T) []string {
	var rows []struct {
		Email, Kind, Source string
		DeliveryID          *int64
	}
	if err := f.st.DB.NewSelect().TableExpr("bounces").Column("email", "kind", "source", "delivery_id").Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		d := "none"
		if r.DeliveryID != nil && *r.DeliveryID == f.deliv[r.Email] {
			d = "its delivery"
		}
		out = append(out, r.Email+" "+r.Kind+" "+r.Source+" "+d)
	}
	sort.Strings(out)
	return out
}

// reports are real bounce mails of every outcome, for the fixture's deliveries: three that
// match (processed), two that match none and two that cannot be read (left).
func (f *mailboxFixture) reports(t *testing.T) [][]byte {
	key := []byte(secret)
	verp := func(email string) string { return mailing.VERPAddress(returnPath, key, f.deliv[email]) }
	msgID := func(email string) string { return mailing.MessageID(f.deliv[email], f.run.ID, "inst1", "example.com") }
	return [][]byte{
		// Matched: a Postfix DSN by its VERP address (the quoted Message-ID is not ours)…
		fill(t, "postfix_dsn_hard.eml", verp("jane@example.org"), "jane@example.org", "unrelated@elsewhere.example"),
		// …Gmail's by the original's Message-ID, and an RFC 5965 abuse report by VERP.
		fill(t, "gmail_dsn_mailbox_full.eml", "", "mary@example.org", msgID("mary@example.org")),
		fill(t, "rfc5965_arf_abuse.eml", verp("rick@example.org"), "rick@example.org", "x@y.example"),
		// Unmatched, left: a token made under another secret; a Message-ID of ours reported
		// for another address (anyone can send the mailbox a DSN).
		fill(t, "postfix_dsn_hard.eml", mailing.VERPAddress(returnPath, []byte("another secret, also 32+ chars long"), f.deliv["ann@example.org"]), "ann@example.org", "a@b.example"),
		fill(t, "gmail_dsn_mailbox_full.eml", "", "ann@example.org", msgID("mary@example.org")),
		// Unparseable, left: an auto-reply and a DSN cut off before its status part.
		sample(t, "autoreply.eml"),
		fill(t, "postfix_dsn_hard.eml", verp("ann@example.org"), "ann@example.org", "a@b.example")[:900],
	}
}

// wantReportBounces are the bounces the three matching reports record.
var wantReportBounces = []string{
	"jane@example.org hard mailbox its delivery",
	"mary@example.org soft mailbox its delivery",
	"rick@example.org complaint mailbox its delivery",
}

func mailCount(t *testing.T, inbox backend.Mailbox) int {
	st, err := inbox.Status([]imap.StatusItem{imap.StatusMessages})
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Messages)
}

func TestMailboxPollerRecordsDSNAndARFReportsAndLeavesTheRest(t *testing.T) {
	f := newMailboxFixture(t)
	addr, inbox := imapServer(t, nil)
	key := []byte(secret)
	mails := f.reports(t)
	for _, m := range mails {
		if err := inbox.CreateMessage(nil, time.Now(), bytes.NewBuffer(m)); err != nil {
			t.Fatal(err)
		}
	}
	log, logs := testutil.Logger(t)
	met := metrics.New()
	mb := &bounce.Mailbox{URL: "imap://username:password@" + addr + "/INBOX", ReturnPath: returnPath, Secret: key, Log: log, Metrics: met,
		Service: &bounce.Service{Store: f.st, Log: log, Policy: mailing.BouncePolicy{SoftLimit: 3, SoftWindow: 30 * 24 * time.Hour}}}
	res, err := mb.Poll(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The memory backend's own mail is a third unparseable one. (Bytes that are no mail at
	// all would crash go-imap's memory backend, not the poller: the POP3 test and
	// FuzzParseReport feed those in.)
	if res != (bounce.PollResult{Processed: 3, Unmatched: 2, Unparseable: 3}) {
		t.Fatalf("poll = %+v", res)
	}
	if got := f.bounces(t); strings.Join(got, "|") != strings.Join(wantReportBounces, "|") {
		t.Fatalf("bounces = %v", got)
	}
	sup, _ := f.st.ListSuppressions(f.ctx, mailing.Scope{UserID: f.owner}, mailing.ListParams{Limit: 10})
	reasons := map[string]string{}
	for _, s := range sup.Items {
		reasons[s.Email] = s.Reason
	}
	if len(reasons) != 2 || reasons["jane@example.org"] != mailing.SuppressHardBounce || reasons["rick@example.org"] != mailing.SuppressComplaint {
		t.Fatalf("suppressions = %v", reasons)
	}
	if n := mailCount(t, inbox); n != 5 {
		t.Fatalf("%d mails left, want the 5 unprocessed", n)
	}
	if !strings.Contains(logs.String(), "unparseable=3") || !strings.Contains(logs.String(), "unmatched=2") {
		t.Errorf("the mail left is not logged:\n%s", logs.String())
	}
	// Metrics: processed counted, what was left gauged.
	fams, _ := met.Registry.Gather()
	var seen []string
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			if strings.HasPrefix(fam.GetName(), "mailer_bounce_mail") {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				seen = append(seen, fam.GetName()+"{"+m.GetLabel()[0].GetValue()+"}="+strconv.Itoa(int(v)))
			}
		}
	}
	sort.Strings(seen)
	if strings.Join(seen, " ") != "mailer_bounce_mail_left{unmatched}=2 mailer_bounce_mail_left{unparseable}=3 mailer_bounce_mail_total{processed}=3" {
		t.Errorf("metrics = %v", seen)
	}

	// The next poll finds only what was left, and records nothing again.
	res, err = mb.Poll(f.ctx)
	if err != nil || res != (bounce.PollResult{Unmatched: 2, Unparseable: 3}) || len(f.bounces(t)) != 3 {
		t.Fatalf("second poll = %+v, %v; bounces %v", res, err, f.bounces(t))
	}
	// A wrong password is an error, and nothing is touched.
	bad := *mb
	bad.URL = "imap://username:wrong@" + addr + "/INBOX"
	if _, err := bad.Poll(f.ctx); err == nil {
		t.Fatal("a wrong password polled")
	}
}

// A report recorded by a poll that could not delete it (the connection broke after the
// database write) is deleted by the next poll without being recorded twice.
func TestMailboxReportRecordedTwiceIsStoredOnce(t *testing.T) {
	f := newMailboxFixture(t)
	addr, inbox := imapServer(t, nil)
	key := []byte(secret)
	raw := fill(t, "postfix_dsn_hard.eml", mailing.VERPAddress(returnPath, key, f.deliv["jane@example.org"]), "jane@example.org", "x@y.example")
	svc := &bounce.Service{Store: f.st, Policy: mailing.BouncePolicy{SoftLimit: 3, SoftWindow: time.Hour}}
	rep, err := bounce.ParseReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	// What the earlier poll did: the same key, recorded.
	id, _ := mailing.ParseVERPAddress(returnPath, key, rep.VERP[0])
	rep.Reports[0].DeliveryID = id
	if _, err := svc.Record(f.ctx, bounce.Options{Source: mailing.BounceFromMailbox, Provider: "mailbox", EventKey: "<20260105090003.3F1C2A0B41@mail.example.com>", DeliveryOnly: true}, rep.Reports); err != nil {
		t.Fatal(err)
	}
	inbox.CreateMessage(nil, time.Now(), bytes.NewBuffer(raw))
	log, _ := testutil.Logger(t)
	mb := &bounce.Mailbox{URL: "imap://username:password@" + addr, ReturnPath: returnPath, Secret: key, Log: log, Service: svc}
	res, err := mb.Poll(f.ctx)
	if err != nil || res.Processed != 1 || len(f.bounces(t)) != 1 {
		t.Fatalf("poll = %+v, %v; bounces %v", res, err, f.bounces(t))
	}
}

// testTLS is a self-signed certificate for 127.0.0.1: the server's configuration, and a
// client's that trusts it (as Mailbox.TLS).
func testTLS(t *testing.T) (server, client *tls.Config) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, &tls.Config{RootCAs: pool}
}

// imaps:// checks the server's certificate (here against a test CA given as Mailbox.TLS).
func TestMailboxOverTLS(t *testing.T) {
	server, client := testTLS(t)
	addr, _ := imapServer(t, server)
	f := newMailboxFixture(t)
	log, _ := testutil.Logger(t)
	mb := &bounce.Mailbox{URL: "imaps://username:password@" + addr + "/INBOX", ReturnPath: returnPath, Secret: []byte(secret), Log: log,
		Service: &bounce.Service{Store: f.st}}
	if _, err := mb.Poll(f.ctx); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	mb.TLS = client
	if res, err := mb.Poll(f.ctx); err != nil || res.Unparseable != 1 {
		t.Fatalf("poll over TLS = %+v, %v", res, err)
	}
}

// The app's worker registers bounce:poll with its scheduler when BOUNCE_MAILBOX_URL is set,
// and the task reads the mailbox with MAIL_RETURN_PATH and SECRET_KEY.
func TestWorkerPollsTheBounceMailbox(t *testing.T) {
	addr, inbox := imapServer(t, nil)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{
		"BOUNCE_MAILBOX_URL": "imap://username:password@" + addr + "/INBOX", "MAIL_RETURN_PATH": returnPath}})
	f := mailboxFixtureOn(t, srv.App.Store, srv.Clock)
	raw := fill(t, "postfix_dsn_hard.eml", mailing.VERPAddress(returnPath, srv.App.Config.SecretKey, f.deliv["jane@example.org"]), "jane@example.org", "x@y.example")
	if err := inbox.CreateMessage(nil, time.Now(), bytes.NewBuffer(raw)); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(srv.App.Redis.ConnOpt())
	defer insp.Close()
	// The scheduler publishes its entries with its first heartbeat, a few seconds in.
	testutil.Eventually(t, 20*time.Second, "bounce:poll among the scheduler's entries, every minute", func() bool {
		entries, err := insp.SchedulerEntries()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Task.Type() == tasks.TypeBouncePoll {
				return e.Spec == "@every 1m"
			}
		}
		return false
	})
	// What the scheduler enqueues at the minute, enqueued now.
	client := asynq.NewClient(srv.App.Redis.ConnOpt())
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask(tasks.TypeBouncePoll, nil), asynq.Queue(tasks.QueueSend)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the worker to poll the mailbox", func() bool { return len(f.bounces(t)) == 1 })
	if got := f.bounces(t); got[0] != "jane@example.org hard mailbox its delivery" {
		t.Fatalf("bounces = %v", got)
	}
	testutil.Eventually(t, 10*time.Second, "the report to be deleted", func() bool { return mailCount(t, inbox) == 1 })
}

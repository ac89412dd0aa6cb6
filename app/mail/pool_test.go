package mail_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mailpkg "mailer/app/mail"
	"mailer/app/testutil"
)

// outcome is what the ledger would record of one send: the server's code and words (a
// success's queue id left out: it numbers messages in arrival order), or the kind of
// network failure.
type outcome struct {
	Code    int
	Text    string
	Network string // "timeout" or "connection" when no reply decided the outcome
}

func outcomeOf(reply string, err error) outcome {
	if err == nil {
		code, text, _ := strings.Cut(reply, " ")
		text, _, _ = strings.Cut(text, " queued as ")
		var n int
		fmt.Sscan(code, &n)
		return outcome{Code: n, Text: text}
	}
	var se *mailpkg.SMTPError
	if errors.As(err, &se) {
		return outcome{Code: se.Code, Text: se.Msg}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return outcome{Network: "timeout"}
	}
	return outcome{Network: "connection"}
}

func rcpt(i int) string { return fmt.Sprintf("r%02d@example.com", i) }

func message(i int) mailpkg.Message {
	return mailpkg.Message{
		From: "Sender <sender@example.com>", To: fmt.Sprintf("Reader %d <%s>", i, rcpt(i)),
		Subject: fmt.Sprintf("Issue %d", i), Text: fmt.Sprintf("Hello %d\n.leading dot\n", i),
		MessageID: fmt.Sprintf("m%02d@example.com", i), Date: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	}
}

// sendAll sends message(0..n-1) through pool from several goroutines at once — more than
// the pool's connections, so that messages wait to ride along — and returns each outcome.
func sendAll(t *testing.T, pool *mailpkg.Pool, n, senders int) []outcome {
	t.Helper()
	outs := make([]outcome, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				outs[i] = outcomeOf(pool.Send(context.Background(), message(i)))
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return outs
}

func newPool(t *testing.T, url string, conns int, timeout time.Duration) *mailpkg.Pool {
	t.Helper()
	pool, err := mailpkg.NewPool(url, mailpkg.PoolOptions{MaxConns: conns, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// faults are the per-recipient failures the comparison runs through: refusals at each step
// of a transaction, dropped connections before and after the content, and a server that
// stops answering. Recipients without a fault are accepted.
var faults = map[int]struct {
	at   testutil.Stage
	mode testutil.Mode
}{
	3:  {testutil.AtRcpt, testutil.Reject550},
	4:  {testutil.AtRcpt, testutil.Defer451},
	7:  {testutil.AtData, testutil.Reject550},
	8:  {testutil.AtData, testutil.Defer451},
	11: {testutil.AtEnd, testutil.Reject550},
	12: {testutil.AtEnd, testutil.Defer451},
	15: {testutil.AtRcpt, testutil.Drop},
	18: {testutil.AtData, testutil.Drop},
	21: {testutil.AtEnd, testutil.Drop},
	24: {testutil.AtEnd, testutil.Hang},
	25: {testutil.AtRcpt, testutil.Reject550},
	26: {testutil.AtRcpt, testutil.Reject550}, // two refusals in a row on one connection
}

// TestPipelinedOutcomesMatchLockStep sends the same 40 messages, a third of them meeting a
// fault (a RCPT refused in the middle of a pipelined batch, DATA refused after a good RCPT,
// a refused end of data, connections dropped at RCPT, DATA and the end of data, a server
// that stops answering), through a server without PIPELINING (today's lock-step path), one
// with PIPELINING (one write per message: content, final dot and the next envelope) and one
// that also has CHUNKING (BDAT). Every message's outcome — code and text, or the kind of
// network failure — must be the same, and the server must hold each accepted message once,
// byte for byte the same.
func TestPipelinedOutcomesMatchLockStep(t *testing.T) {
	const n = 40
	type run struct {
		outs []outcome
		got  map[string][]byte // Message-ID → data as received
	}
	modes := []struct {
		name string
		o    testutil.SMTPOptions
	}{
		{"lock-step", testutil.SMTPOptions{NoPipelining: true, NoChunking: true}},
		{"pipelining", testutil.SMTPOptions{NoChunking: true}},
		{"pipelining+chunking", testutil.SMTPOptions{}},
	}
	runs := map[string]run{}
	for _, m := range modes {
		s := testutil.StartSMTPWith(t, m.o)
		for i, f := range faults {
			s.FailRecipient(rcpt(i), f.at, f.mode)
		}
		s.RecordReads()
		pool := newPool(t, s.URL(), 2, time.Second)
		outs := sendAll(t, pool, n, 8)
		got := map[string][]byte{}
		for id, c := range s.CountByMessageID() {
			if c != 1 {
				t.Errorf("%s: the server took %s %d times", m.name, id, c)
			}
		}
		for _, r := range s.Messages() {
			got[r.MessageID] = r.Data
		}
		runs[m.name] = run{outs, got}
		checkTransfer(t, m.name, s.Reads())
	}
	ref := runs["lock-step"]
	for i, o := range ref.outs {
		_, faulty := faults[i]
		if ok := o.Code == 250; ok == faulty {
			t.Errorf("lock-step: %s: %+v, want %s", rcpt(i), o, map[bool]string{true: "a failure", false: "250"}[faulty])
		}
	}
	if len(ref.got) != n-len(faults) {
		t.Errorf("lock-step: the server took %d messages, want %d", len(ref.got), n-len(faults))
	}
	for _, m := range modes[1:] {
		r := runs[m.name]
		for i := range n {
			if r.outs[i] != ref.outs[i] {
				t.Errorf("%s: %s: %+v, lock-step %+v", m.name, rcpt(i), r.outs[i], ref.outs[i])
			}
		}
		if !maps.EqualFunc(r.got, ref.got, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("%s: the server took %v, lock-step %v (or their bytes differ)",
				m.name, slices.Sorted(maps.Keys(r.got)), slices.Sorted(maps.Keys(ref.got)))
		}
	}
}

// checkTransfer looks at what left together (one server read per client write) and checks
// it is the transfer the server's extensions call for.
func checkTransfer(t *testing.T, mode string, reads []string) {
	t.Helper()
	var lockStep, rideAlong, oneWrite int
	for _, r := range reads {
		if strings.Count(r, "\r\n") == 1 && (strings.HasPrefix(r, "MAIL FROM:") || strings.HasPrefix(r, "RCPT TO:")) {
			lockStep++
		}
		if strings.Contains(r, "\r\n.\r\nMAIL FROM:<") || strings.Contains(r, "\r\n.\r\nRSET\r\nMAIL FROM:<") {
			rideAlong++
		}
		if strings.HasPrefix(r, "MAIL FROM:<") && strings.Contains(r, "\r\nBDAT ") && strings.Contains(r, "Message-ID: <") {
			oneWrite++
		}
	}
	t.Logf("%s: %d reads, %d lock-step commands, %d with a message's end and the next envelope, %d whole BDAT messages",
		mode, len(reads), lockStep, rideAlong, oneWrite)
	switch mode {
	case "lock-step":
		if lockStep == 0 || rideAlong+oneWrite > 0 {
			t.Errorf("lock-step: commands did not go one at a time")
		}
	case "pipelining":
		if lockStep > 0 || rideAlong == 0 || oneWrite > 0 {
			t.Errorf("pipelining: no message's end of data shared a write with the next envelope")
		}
	default:
		if lockStep > 0 || rideAlong > 0 || oneWrite == 0 {
			t.Errorf("chunking: messages were not sent as MAIL, RCPT and BDAT in one write")
		}
	}
}

// TestOneWritePerMessageWhenMessagesWait: with PIPELINING (no CHUNKING), one connection and
// messages waiting, every write after the first carries a message's content and final dot
// together with the next message's MAIL, RCPT and DATA — one round trip per message.
func TestOneWritePerMessageWhenMessagesWait(t *testing.T) {
	const n = 30
	s := testutil.StartSMTPWith(t, testutil.SMTPOptions{NoChunking: true})
	s.RecordReads()
	pool := newPool(t, s.URL(), 1, 10*time.Second)
	for i, o := range sendAll(t, pool, n, n) {
		if o.Code != 250 {
			t.Errorf("%s: %+v", rcpt(i), o)
		}
	}
	var transfers, rideAlong int
	for _, r := range s.Reads() {
		if strings.Contains(r, "MAIL FROM:<") || strings.Contains(r, "\r\n.\r\n") {
			transfers++
		}
		if strings.Contains(r, "\r\n.\r\nMAIL FROM:<") {
			rideAlong++
		}
	}
	// n+1 writes at best: the first envelope alone, then one per message. Senders that were
	// not yet waiting when a write left cost one more each; most must have ridden along.
	t.Logf("%d messages in %d writes, %d with the next envelope riding along", n, transfers, rideAlong)
	if rideAlong < n/2 || transfers > n+n/2 {
		t.Errorf("%d messages took %d writes, %d with the next envelope: want about one write a message", n, transfers, rideAlong)
	}
}

// TestURLTurnsExtensionsOff: ?pipelining=off sends in lock-step to a server that advertises
// PIPELINING, ?chunking=off pipelines DATA to one that also advertises CHUNKING, and any other
// value is refused.
func TestURLTurnsExtensionsOff(t *testing.T) {
	for query, mode := range map[string]string{"?pipelining=off": "lock-step", "?chunking=off": "pipelining", "": "chunking"} {
		s := testutil.StartSMTP(t)
		s.RecordReads()
		pool := newPool(t, s.URL()+query, 1, 10*time.Second)
		for i, o := range sendAll(t, pool, 6, 6) {
			if o.Code != 250 {
				t.Errorf("%s: %s: %+v", query, rcpt(i), o)
			}
		}
		checkTransfer(t, mode, s.Reads())
	}
	if _, err := mailpkg.NewPool("smtp://127.0.0.1:25?pipelining=no", mailpkg.PoolOptions{}); err == nil || !strings.Contains(err.Error(), "pipelining") {
		t.Errorf("pipelining=no: %v, want an error naming the option", err)
	}
}

// TestCloseWaitsForMessagesInFlight: Close lets the messages already handed to a connection
// get their replies, and a Send after Close still goes out.
func TestCloseWaitsForMessagesInFlight(t *testing.T) {
	s := testutil.StartSMTPWith(t, testutil.SMTPOptions{NoChunking: true})
	pool := newPool(t, s.URL(), 2, 10*time.Second)
	outs := make(chan outcome, 10)
	for i := range 10 {
		go func() { outs <- outcomeOf(pool.Send(context.Background(), message(i))) }()
	}
	testutil.Eventually(t, 5*time.Second, "a first message at the server", func() bool { return s.Count() > 0 })
	pool.Close()
	for range 10 {
		if o := <-outs; o.Code != 250 {
			t.Errorf("a send around Close: %+v", o)
		}
	}
	if o := outcomeOf(pool.Send(context.Background(), message(10))); o.Code != 250 {
		t.Errorf("a send after Close: %+v", o)
	}
}

// A message's ReturnPath is its MAIL FROM in every way the pool carries mail (so a VERP
// bounce address reaches the server), From's address when it has none, and a ReturnPath
// that is no address is refused before anything is sent.
func TestReturnPathIsTheEnvelopeSender(t *testing.T) {
	for _, m := range []struct {
		name string
		o    testutil.SMTPOptions
	}{
		{"lock-step", testutil.SMTPOptions{NoPipelining: true, NoChunking: true}},
		{"pipelining", testutil.SMTPOptions{NoChunking: true}},
		{"pipelining+chunking", testutil.SMTPOptions{}},
	} {
		t.Run(m.name, func(t *testing.T) {
			s := testutil.StartSMTPWith(t, m.o)
			pool := newPool(t, s.URL(), 2, 5*time.Second)
			verp := message(1)
			verp.ReturnPath = "bounces+42-abcdefghijklmnop@example.com"
			if _, err := pool.Send(context.Background(), verp); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Send(context.Background(), message(2)); err != nil {
				t.Fatal(err)
			}
			bad := message(3)
			bad.ReturnPath = "bounces@example.com>\r\nRCPT TO:<victim@example.com"
			if _, err := pool.Send(context.Background(), bad); err == nil {
				t.Fatal("a ReturnPath with a line break was sent")
			}
			got := s.WaitFor(t, 2, 5*time.Second)
			froms := map[string]string{}
			for _, r := range got {
				froms[r.To[0]] = r.From
			}
			if froms[rcpt(1)] != verp.ReturnPath || froms[rcpt(2)] != "sender@example.com" {
				t.Fatalf("MAIL FROM per recipient = %v", froms)
			}
			if s.Count() != 2 {
				t.Fatalf("%d messages reached the server, want 2", s.Count())
			}
		})
	}
}

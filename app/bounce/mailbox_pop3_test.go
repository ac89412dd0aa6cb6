package bounce_test

import (
	"bytes"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/bounce"
	"mailer/app/bounce/pop3test"
	"mailer/app/mailing"
	"mailer/app/testutil"
)

// pop3URL names the test server's maildrop with its credentials (the password has a space:
// it travels percent-encoded in the URL).
func pop3URL(scheme, addr, password string) string {
	return (&url.URL{Scheme: scheme, User: url.UserPassword(pop3test.User, password), Host: addr}).String()
}

func (f *mailboxFixture) pop3Mailbox(t *testing.T, addr string) (*bounce.Mailbox, *testutil.LogBuffer) {
	log, logs := testutil.Logger(t)
	return &bounce.Mailbox{URL: pop3URL("pop3", addr, pop3test.Password), ReturnPath: returnPath, Secret: []byte(secret), Log: log,
		Service: &bounce.Service{Store: f.st, Log: log, Policy: mailing.BouncePolicy{SoftLimit: 3, SoftWindow: 30 * 24 * time.Hour}}}, logs
}

// retrieved are the message numbers the server was asked to RETR, and deleted those it
// was asked to DELE.
func retrieved(srv *pop3test.Server, verb string) []int {
	var out []int
	for _, c := range srv.Commands() {
		if n, ok := strings.CutPrefix(c, verb+" "); ok {
			i, _ := strconv.Atoi(n)
			out = append(out, i)
		}
	}
	return out
}

func TestPOP3MailboxRecordsReportsAndLeavesTheRest(t *testing.T) {
	f := newMailboxFixture(t)
	srv := pop3test.Start(t, nil)
	reports := f.reports(t)
	// Mail 8 is bytes that are no mail at all; mail 9 is over the 5 MiB a poll reads, so
	// it is never downloaded.
	huge := append(bytes.Clone(reports[0]), bytes.Repeat([]byte("x"), 5<<20)...)
	srv.Add(append(reports, []byte("\x00\xff\r\n.\r\n..\r\nno mail"), huge)...)
	mb, logs := f.pop3Mailbox(t, srv.Addr)
	res, err := mb.Poll(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (bounce.PollResult{Processed: 3, Unmatched: 2, Unparseable: 3, TooLarge: 1}) {
		t.Fatalf("poll = %+v", res)
	}
	if got := f.bounces(t); strings.Join(got, "|") != strings.Join(wantReportBounces, "|") {
		t.Fatalf("bounces = %v", got)
	}
	if got := retrieved(srv, "RETR"); !slices.Equal(got, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("RETR %v: the oversize mail 9 must never be downloaded", got)
	}
	if got := retrieved(srv, "DELE"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("DELE %v, want the processed 1 2 3", got)
	}
	left := srv.Mails()
	if len(left) != 6 || !bytes.Equal(left[0], reports[3]) || !bytes.Equal(left[5], huge) {
		t.Fatalf("%d mails left, want the 6 unprocessed", len(left))
	}
	if !strings.Contains(logs.String(), "unparseable=3") || !strings.Contains(logs.String(), "too_large=1") {
		t.Errorf("the mail left is not logged:\n%s", logs.String())
	}

	// The next poll finds only what was left, and records nothing again.
	res, err = mb.Poll(f.ctx)
	if err != nil || res != (bounce.PollResult{Unmatched: 2, Unparseable: 3, TooLarge: 1}) || len(f.bounces(t)) != 3 || len(srv.Mails()) != 6 {
		t.Fatalf("second poll = %+v, %v; bounces %v", res, err, f.bounces(t))
	}
}

// POP3 sends mail dot-stuffed and the client reads it with LF line ends; the poller gets
// the mail as stored all the same, so a report without a Message-Id (keyed by its hash)
// read over POP3 and then again over IMAP is recorded once.
func TestPOP3MailIsReadAsStored(t *testing.T) {
	f := newMailboxFixture(t)
	raw := fill(t, "postfix_dsn_hard.eml", mailing.VERPAddress(returnPath, []byte(secret), f.deliv["jane@example.org"]), "jane@example.org", "x@y.example")
	raw = bytes.Replace(raw, []byte("Message-Id: <20260105090003.3F1C2A0B41@mail.example.com>\r\n"), nil, 1)
	raw = bytes.Replace(raw, []byte("                   The mail system\r\n"), []byte(".\r\n..The mail system\r\n.\r\n"), 1)
	if bytes.Contains(raw, []byte("Message-Id")) || !bytes.Contains(raw, []byte("\r\n..The")) {
		t.Fatal("the sample changed")
	}
	srv := pop3test.Start(t, nil)
	srv.Add(raw)
	mb, _ := f.pop3Mailbox(t, srv.Addr)
	if res, err := mb.Poll(f.ctx); err != nil || res.Processed != 1 || len(srv.Mails()) != 0 {
		t.Fatalf("POP3 poll = %+v, %v", res, err)
	}
	addr, inbox := imapServer(t, nil)
	if err := inbox.CreateMessage(nil, time.Now(), bytes.NewBuffer(raw)); err != nil {
		t.Fatal(err)
	}
	mb.URL = "imap://username:password@" + addr
	if res, err := mb.Poll(f.ctx); err != nil || res.Processed != 1 {
		t.Fatalf("IMAP poll = %+v, %v", res, err)
	}
	if got := f.bounces(t); len(got) != 1 {
		t.Fatalf("bounces = %v: POP3 gave other bytes than IMAP", got)
	}
}

// A wrong password is an error that names neither password, and nothing is read or deleted.
func TestPOP3WrongPasswordDeletesNothing(t *testing.T) {
	f := newMailboxFixture(t)
	srv := pop3test.Start(t, nil)
	srv.Add(f.reports(t)...)
	mb, logs := f.pop3Mailbox(t, srv.Addr)
	mb.URL = pop3URL("pop3", srv.Addr, "hunter2 wrong")
	err := mb.PollMailbox(f.ctx)
	if err == nil {
		t.Fatal("a wrong password polled")
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, pop3test.Password) {
			t.Fatalf("the password is in %q", s)
		}
	}
	if !strings.Contains(err.Error(), "log in") {
		t.Errorf("error %q does not say the login failed", err)
	}
	if got := srv.Commands(); len(got) != 3 || got[2] != "QUIT" || len(srv.Mails()) != 7 || len(f.bounces(t)) != 0 {
		t.Fatalf("commands %v, %d mails, bounces %v", got, len(srv.Mails()), f.bounces(t))
	}
}

// A connection that breaks during RETR ends the poll with nothing recorded or deleted; the
// next poll processes every report once.
func TestPOP3ConnectionDroppedMidRETR(t *testing.T) {
	f := newMailboxFixture(t)
	srv := pop3test.Start(t, nil)
	srv.Add(f.reports(t)[:3]...)
	srv.DropDuringRETR(2)
	mb, _ := f.pop3Mailbox(t, srv.Addr)
	if _, err := mb.Poll(f.ctx); err == nil {
		t.Fatal("a broken RETR polled")
	}
	if len(srv.Mails()) != 3 || len(f.bounces(t)) != 0 || len(retrieved(srv, "DELE")) != 0 {
		t.Fatalf("after the break: %d mails, bounces %v, commands %v", len(srv.Mails()), f.bounces(t), srv.Commands())
	}
	res, err := mb.Poll(f.ctx)
	if err != nil || res != (bounce.PollResult{Processed: 3}) || len(srv.Mails()) != 0 {
		t.Fatalf("next poll = %+v, %v; %d mails left", res, err, len(srv.Mails()))
	}
	if got := f.bounces(t); strings.Join(got, "|") != strings.Join(wantReportBounces, "|") {
		t.Fatalf("bounces = %v", got)
	}
}

// POP3 deletes at QUIT: a server that fails it keeps the mail, and the next poll deletes
// it without recording it twice.
func TestPOP3FailedQuitKeepsTheMail(t *testing.T) {
	f := newMailboxFixture(t)
	srv := pop3test.Start(t, nil)
	srv.Add(f.reports(t)[:3]...)
	srv.FailQuit()
	mb, _ := f.pop3Mailbox(t, srv.Addr)
	if _, err := mb.Poll(f.ctx); err == nil || !strings.Contains(err.Error(), "QUIT") {
		t.Fatalf("poll = %v, want the failed QUIT", err)
	}
	if len(srv.Mails()) != 3 || len(f.bounces(t)) != 3 {
		t.Fatalf("%d mails, bounces %v", len(srv.Mails()), f.bounces(t))
	}
	res, err := mb.Poll(f.ctx)
	if err != nil || res.Processed != 3 || len(srv.Mails()) != 0 || len(f.bounces(t)) != 3 {
		t.Fatalf("next poll = %+v, %v; %d mails, bounces %v", res, err, len(srv.Mails()), f.bounces(t))
	}
}

// A cancelled poll (the worker stopping) closes the connection at once, rather than after
// the server's silence runs out the 30-second command deadline.
func TestPOP3CancelledPollEnds(t *testing.T) {
	f := newMailboxFixture(t)
	srv := pop3test.Start(t, nil)
	srv.Add(f.reports(t)[:1]...)
	stalled := srv.StallRETR()
	mb, _ := f.pop3Mailbox(t, srv.Addr)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := mb.Poll(ctx)
		done <- err
	}()
	<-stalled
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled poll succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled poll still waits on the server")
	}
	if len(srv.Mails()) != 1 || len(f.bounces(t)) != 0 {
		t.Fatalf("%d mails, bounces %v", len(srv.Mails()), f.bounces(t))
	}
}

// pop3s:// checks the server's certificate (here against a test CA given as Mailbox.TLS).
func TestPOP3OverTLS(t *testing.T) {
	server, client := testTLS(t)
	srv := pop3test.Start(t, server)
	f := newMailboxFixture(t)
	srv.Add(f.reports(t)[:1]...)
	mb, _ := f.pop3Mailbox(t, srv.Addr)
	mb.URL = pop3URL("pop3s", srv.Addr, pop3test.Password)
	if _, err := mb.Poll(f.ctx); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	mb.TLS = client
	if res, err := mb.Poll(f.ctx); err != nil || res.Processed != 1 || len(srv.Mails()) != 0 {
		t.Fatalf("poll over TLS = %+v, %v", res, err)
	}
}

// TestMailLeftNeverHidesNewBounces: more mail left in the mailbox than a poll reads (here a
// batch of 2 behind 4 unmatched or unparseable mails) does not keep the poller from the
// bounce that arrived after it, over IMAP and over POP3.
func TestMailLeftNeverHidesNewBounces(t *testing.T) {
	for _, proto := range []string{"imap", "pop3"} {
		t.Run(proto, func(t *testing.T) {
			f := newMailboxFixture(t)
			reports := f.reports(t)
			mails := append(slices.Clone(reports[3:]), reports[0])
			mb, _ := f.pop3Mailbox(t, "")
			mb.Batch = 2
			if proto == "pop3" {
				srv := pop3test.Start(t, nil)
				srv.Add(mails...)
				mb.URL = pop3URL("pop3", srv.Addr, pop3test.Password)
			} else {
				addr, inbox := imapServer(t, nil)
				for _, m := range mails {
					if err := inbox.CreateMessage(nil, time.Now(), bytes.NewBuffer(m)); err != nil {
						t.Fatal(err)
					}
				}
				mb.URL = "imap://username:password@" + addr + "/INBOX"
			}
			res, err := mb.Poll(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Processed != 1 || len(f.bounces(t)) == 0 {
				t.Fatalf("poll = %+v, bounces %v: the newest mail, a bounce, was not reached", res, f.bounces(t))
			}
		})
	}
}

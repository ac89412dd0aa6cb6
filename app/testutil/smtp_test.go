package testutil

import (
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func smtpMessage(id, subject, extraHeaders, body string) string {
	return "From: Sender <sender@example.com>\r\n" +
		"To: rcpt@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + id + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		extraHeaders +
		"\r\n" + body
}

func sendSMTP(s *SMTPServer, msg string, to ...string) error {
	if len(to) == 0 {
		to = []string{"rcpt@example.com"}
	}
	return smtp.SendMail(s.Addr(), nil, "sender@example.com", to, []byte(msg))
}

func TestSMTPAcceptRecords(t *testing.T) {
	s := StartSMTP(t)
	if !strings.HasPrefix(s.URL(), "smtp://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	msg := smtpMessage("one@example.com", "=?utf-8?q?=D0=9F=D1=80=D0=B8=D0=B2=D0=B5=D1=82?=",
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
		"Caf=C3=A9 au lait, a long soft=\r\nbreak.\r\nSecond line.\r\n")
	if err := sendSMTP(s, msg, "a@example.com", "b@example.com"); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := s.WaitFor(t, 1, 2*time.Second)
	if len(got) != 1 || s.Count() != 1 {
		t.Fatalf("got %d messages, Count %d", len(got), s.Count())
	}
	m := s.Last(t)
	if m.From != "sender@example.com" {
		t.Errorf("From = %q", m.From)
	}
	if strings.Join(m.To, ",") != "a@example.com,b@example.com" {
		t.Errorf("To = %q", m.To)
	}
	if m.Subject != "Привет" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.MessageID != "one@example.com" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if want := "Café au lait, a long softbreak.\nSecond line.\n"; m.Text != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if m.Header.Get("To") != "rcpt@example.com" {
		t.Errorf("Header To = %q", m.Header.Get("To"))
	}
	if !strings.Contains(string(m.Data), "Caf=C3=A9") || m.At.IsZero() {
		t.Errorf("Data or At not recorded: %q %v", m.Data, m.At)
	}
}

func TestSMTPAcceptReplyAndAuth(t *testing.T) {
	s := StartSMTP(t)
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(smtp.PlainAuth("", "anyone", "anything", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := c.Mail("sender@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("rcpt@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(smtpMessage("auth@example.com", "Hi", "", "body\r\n")))
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	// net/smtp hides the text of the 250; a raw connection below checks it.
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if s.Count() != 1 || s.Last(t).Text != "body\n" {
		t.Fatalf("Count %d, messages %+v", s.Count(), s.Messages())
	}

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	tp := textproto.NewConn(conn)
	expect := func(code int, cmd string) string {
		t.Helper()
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return msg
	}
	expect(220, "")
	expect(250, "EHLO client")
	expect(250, "MAIL FROM:<sender@example.com>")
	expect(250, "RCPT TO:<rcpt@example.com>")
	expect(354, "DATA")
	reply := expect(250, "Subject: raw\r\n\r\nraw body\r\n.")
	if !strings.HasPrefix(reply, "2.0.0 queued as ") {
		t.Fatalf("reply to DATA = %q", reply)
	}
}

func TestSMTPRejectAndDefer(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		code int
	}{{Reject550, 550}, {Defer451, 451}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s := StartSMTP(t)
			s.SetMode(tc.mode)
			err := sendSMTP(s, smtpMessage("x@example.com", "x", "", "x\r\n"))
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Fatalf("err = %#v, want a *textproto.Error with code %d", err, tc.code)
			}
			if s.Count() != 0 || len(s.Messages()) != 0 {
				t.Fatalf("recorded %d messages", s.Count())
			}
		})
	}
}

func TestSMTPFailNextThenAccept(t *testing.T) {
	s := StartSMTP(t)
	s.FailNext(1, Defer451)
	msg := smtpMessage("retry@example.com", "retry", "", "x\r\n")
	var te *textproto.Error
	if err := sendSMTP(s, msg); !errors.As(err, &te) || te.Code != 451 {
		t.Fatalf("first send: %v, want 451", err)
	}
	if err := sendSMTP(s, msg); err != nil {
		t.Fatalf("second send: %v", err)
	}
	if s.Count() != 1 || s.Last(t).MessageID != "retry@example.com" {
		t.Fatalf("messages %+v", s.Messages())
	}
}

func TestSMTPDrop(t *testing.T) {
	s := StartSMTP(t)
	s.SetMode(Drop)
	if err := sendSMTP(s, smtpMessage("drop@example.com", "x", "", "x\r\n")); err == nil {
		t.Fatal("send to a dropping server succeeded")
	}
	if s.Count() != 0 {
		t.Fatalf("recorded %d messages", s.Count())
	}
	s.SetMode(Accept)
	if err := sendSMTP(s, smtpMessage("ok@example.com", "x", "", "x\r\n")); err != nil {
		t.Fatalf("send after Drop: %v", err)
	}
}

func TestSMTPHang(t *testing.T) {
	s := StartSMTP(t)
	s.SetMode(Hang)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("rcpt@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(smtpMessage("hang@example.com", "x", "", "x\r\n")))
	start := time.Now()
	conn.SetDeadline(start.Add(300 * time.Millisecond))
	err = w.Close()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("end of DATA: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("timed out after %s", d)
	}
	if s.Count() != 0 {
		t.Fatalf("recorded %d messages", s.Count())
	}
	// The cleanup must close the server while Data still hangs.
}

// A message held waits for its answer until the mode changes, and is then answered by the
// new mode — recorded as accepted even when its sender has gone, as a crash leaves it.
func TestSMTPHoldAnswersWithTheNextMode(t *testing.T) {
	s := StartSMTP(t)
	s.SetMode(Hold)
	sent := make(chan error, 2)
	go func() { sent <- sendSMTP(s, smtpMessage("held@example.com", "x", "", "x\r\n")) }()
	go func() { sent <- sendSMTP(s, smtpMessage("gone@example.com", "x", "", "x\r\n")) }()
	Eventually(t, 10*time.Second, "two messages held", func() bool { return s.Holding() == 2 })
	select {
	case err := <-sent:
		t.Fatalf("a held message was answered: %v", err)
	default:
	}
	if s.Count() != 0 {
		t.Fatalf("recorded %d messages while holding", s.Count())
	}
	s.SetMode(Accept)
	for range 2 {
		if err := <-sent; err != nil {
			t.Errorf("a released message: %v", err)
		}
	}
	if s.Count() != 2 || s.Holding() != 0 {
		t.Errorf("recorded %d, holding %d; want 2 and 0", s.Count(), s.Holding())
	}
	s.SetMode(Hold)
	go func() { sent <- sendSMTP(s, smtpMessage("again@example.com", "x", "", "x\r\n")) }()
	Eventually(t, 10*time.Second, "a message held again", func() bool { return s.Holding() == 1 })
	s.SetMode(Defer451)
	var te *textproto.Error
	if err := <-sent; !errors.As(err, &te) || te.Code != 451 {
		t.Errorf("released as Defer451: %v", err)
	}
}

func TestSMTPCountByMessageID(t *testing.T) {
	s := StartSMTP(t)
	for _, id := range []string{"a@x", "b@x", "a@x"} {
		if err := sendSMTP(s, smtpMessage(id, "dup", "", "x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	counts := s.CountByMessageID()
	if counts["a@x"] != 2 || counts["b@x"] != 1 || len(counts) != 2 {
		t.Fatalf("CountByMessageID = %v", counts)
	}
}

func TestSMTPMultipartText(t *testing.T) {
	s := StartSMTP(t)
	body := "--B\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n" +
		"--B\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Gr=C3=BC=C3=9Fe\r\n" +
		"--B--\r\n"
	msg := smtpMessage("mp@example.com", "=?UTF-8?B?w4Rwc2lsb24=?=", "Content-Type: multipart/alternative; boundary=B\r\n", body)
	if err := sendSMTP(s, msg); err != nil {
		t.Fatal(err)
	}
	m := s.Last(t)
	if m.Text != "Grüße" || m.Subject != "Äpsilon" {
		t.Fatalf("Text %q, Subject %q", m.Text, m.Subject)
	}
}

package testutil

import (
	"errors"
	"io"
	"net/smtp"
	"net/textproto"
	"testing"
)

// TestFailRecipientAtEachStage drives the faults with net/smtp, one command at a time: a
// refused RCPT, a DATA refused in place of its 354 (after which the session must still be in
// step: the same connection sends the next message), and a dropped connection.
func TestFailRecipientAtEachStage(t *testing.T) {
	s := StartSMTPWith(t, SMTPOptions{NoPipelining: true, NoChunking: true})
	s.FailRecipient("rcpt@example.com", AtRcpt, Reject550)
	s.FailRecipient("data@example.com", AtData, Defer451)
	s.FailRecipient("end@example.com", AtEnd, Reject550)
	s.FailRecipient("drop@example.com", AtData, Drop)
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "CHUNKING"} {
		if ok, _ := c.Extension(ext); ok {
			t.Errorf("%s is advertised", ext)
		}
	}
	code := func(err error) int {
		var te *textproto.Error
		if errors.As(err, &te) {
			return te.Code
		}
		return 0
	}
	send := func(to string) error {
		if err := c.Mail("sender@example.com"); err != nil {
			return err
		}
		if err := c.Rcpt(to); err != nil {
			c.Reset()
			return err
		}
		w, err := c.Data()
		if err != nil {
			c.Reset()
			return err
		}
		io.WriteString(w, smtpMessage(to, "Hi", "", "Hello\r\n"))
		return w.Close()
	}
	for to, want := range map[string]int{"rcpt@example.com": 550, "data@example.com": 451, "end@example.com": 550, "ok@example.com": 0} {
		if err := send(to); code(err) != want || want == 0 && err != nil {
			t.Errorf("%s: %v, want code %d", to, err, want)
		}
		if err := send("after@example.com"); err != nil {
			t.Errorf("the message after %s: %v", to, err)
		}
	}
	if got := s.CountByMessageID(); got["ok@example.com"] != 1 || got["after@example.com"] != 4 || len(got) != 2 {
		t.Errorf("accepted %v, want ok@ once and after@ four times", got)
	}
	if err := send("drop@example.com"); err == nil || code(err) != 0 {
		t.Errorf("drop at DATA: %v, want a network error", err)
	}
}

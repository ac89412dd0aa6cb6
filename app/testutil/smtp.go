package testutil

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how an SMTPServer answers the end of a message's DATA.
type Mode int

const (
	// Accept records the message and replies 250 2.0.0 queued as <id>.
	Accept Mode = iota
	// Reject550 replies 550 5.1.1 mailbox unavailable (a permanent failure).
	Reject550
	// Defer451 replies 451 4.3.0 try again later (a temporary failure).
	Defer451
	// Hang reads the message and never replies, until the server closes or 30 s pass.
	Hang
	// Drop reads the message and closes the connection without replying.
	Drop
	// Reject554 replies 554 5.7.1 message refused: a permanent failure about the message
	// (policy, content), not the address, so no bounce.
	Reject554
	// Hold reads the message and waits for SetMode to choose another mode, which then
	// answers it: a kill test holds a sender mid-send for as long as it needs, and a
	// message released as accepted after its sender died is what a crash duplicates.
	Hold
)

func (m Mode) String() string {
	switch m {
	case Accept:
		return "Accept"
	case Reject550:
		return "Reject550"
	case Defer451:
		return "Defer451"
	case Hang:
		return "Hang"
	case Drop:
		return "Drop"
	case Reject554:
		return "Reject554"
	case Hold:
		return "Hold"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Received is a message an SMTPServer accepted.
type Received struct {
	From string
	To   []string
	// Data is the message exactly as received (headers and body, CRLF line endings).
	Data []byte
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string
	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	Header  mail.Header
	// Text is the body (for a multipart message, its first text/plain part), decoded from
	// quoted-printable or base64 as Content-Transfer-Encoding says, with LF line endings.
	Text string
	// HTML is the first text/html part, decoded likewise; "" when there is none.
	HTML string
	// ContentType is the message's top-level media type (multipart/alternative, …).
	ContentType string
	At          time.Time
}

// SMTPServer is a real SMTP server (emersion/go-smtp) inside the test that records every
// message it accepts and can fail on command.
type SMTPServer struct {
	srv     *smtp.Server
	addr    string
	closing chan struct{} // closed at cleanup: ends Hang

	mu       sync.Mutex
	mode     Mode
	released chan struct{} // closed when the mode leaves Hold
	holding  int           // messages waiting in Hold
	failNext int
	failMode Mode
	seq      int
	messages []Received
	// Per-recipient faults and the read log (smtp_faults.go).
	faults      map[string]fault
	recordReads bool
	reads       []string
	// The whole server down or hanging (smtp_relay.go).
	relay relayState
}

// StartSMTP starts an SMTPServer on a free port of 127.0.0.1; it is closed at cleanup.
// It takes mail without authentication, and accepts any AUTH PLAIN a client offers.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	return startSMTP(t, SMTPOptions{})
}

func startSMTP(t testing.TB, o SMTPOptions) *SMTPServer {
	t.Helper()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	s := &SMTPServer{addr: tl.Addr().String(), closing: make(chan struct{})}
	l := faultListener{Listener: tl, s: s, o: o}
	srv := smtp.NewServer(&smtpBackend{s: s})
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		close(s.closing)
		s.releaseHeld()
		srv.Close()
		// Serve may not have registered the listener yet, in which case srv.Close leaves
		// it open and Accept never returns: close it directly.
		l.Close()
		<-served
	})
	return s
}

// URL returns "smtp://127.0.0.1:PORT".
func (s *SMTPServer) URL() string { return "smtp://" + s.addr }

// Addr returns "127.0.0.1:PORT".
func (s *SMTPServer) Addr() string { return s.addr }

// SetMode sets how the server answers the DATA of later messages.
func (s *SMTPServer) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m == Hold && s.mode != Hold {
		s.released = make(chan struct{})
	}
	if m != Hold && s.mode == Hold {
		close(s.released)
	}
	s.mode = m
}

// Holding returns how many messages wait in Hold for their answer.
func (s *SMTPServer) Holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding
}

// hold waits while the mode is Hold (or until the server closes) and returns the mode
// that answers the message then.
func (s *SMTPServer) hold() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding++
	defer func() { s.holding-- }()
	for s.mode == Hold {
		released := s.released
		s.mu.Unlock()
		select {
		case <-released:
		case <-s.closing:
			s.mu.Lock()
			return Hang // the server closes: answered 421 at once
		}
		s.mu.Lock()
	}
	return s.mode
}

// FailNext makes the next n messages get m; after them the mode set by SetMode applies again.
func (s *SMTPServer) FailNext(n int, m Mode) {
	s.mu.Lock()
	s.failNext = n
	s.failMode = m
	s.mu.Unlock()
}

// Messages returns the accepted messages, in the order they were accepted.
func (s *SMTPServer) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.messages...)
}

// Count returns how many messages were accepted.
func (s *SMTPServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// CountByMessageID returns how many accepted messages carry each Message-ID (to find
// duplicates).
func (s *SMTPServer) CountByMessageID() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[string]int)
	for _, m := range s.messages {
		counts[m.MessageID]++
	}
	return counts
}

// WaitFor waits until at least n messages were accepted, and returns them.
func (s *SMTPServer) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("%d SMTP message(s) (have %d)", n, s.Count()), func() bool {
		return s.Count() >= n
	})
	return s.Messages()
}

// Last returns the last accepted message; the test fails when there is none.
func (s *SMTPServer) Last(t testing.TB) Received {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.messages) == 0 {
		t.Fatal("the SMTP server accepted no message")
	}
	return s.messages[len(s.messages)-1]
}

// nextMode takes the mode for the message whose DATA just ended.
func (s *SMTPServer) nextMode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return s.failMode
	}
	return s.mode
}

func (s *SMTPServer) record(r Received) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.messages = append(s.messages, r)
	return fmt.Sprintf("%08X", s.seq)
}

type smtpBackend struct{ s *SMTPServer }

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{s: b.s, conn: c}, nil
}

type smtpSession struct {
	s    *SMTPServer
	conn *smtp.Conn
	from string
	to   []string
	// The faults FailRecipient armed for this transaction's DATA command and end of data.
	dataFault, endFault Mode
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (ss *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	ss.clearFaults()
	return nil
}

func (ss *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := ss.faultAt(to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	if ss.dataFault != Accept {
		return ss.dataFaultAnswer(r)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	mode := ss.endFault
	if mode == Accept {
		mode = ss.s.nextMode()
	}
	if mode == Hold {
		mode = ss.s.hold()
	}
	switch mode {
	case Reject550, Reject554, Defer451, Hang:
		return ss.s.failure(ss.conn.Conn(), mode)
	case Drop:
		ss.conn.Conn().Close()
		return errors.New("connection dropped on purpose")
	}
	msg := parseReceived(data)
	msg.From = ss.from
	msg.To = append([]string(nil), ss.to...)
	msg.At = time.Now()
	id := ss.s.record(msg)
	// go-smtp replies with an SMTPError's code and text as they are, 250 included.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "queued as " + id}
}

func (ss *smtpSession) Reset() {
	ss.from = ""
	ss.to = nil
	ss.clearFaults()
}

func (ss *smtpSession) Logout() error { return nil }

// parseReceived fills the parsed fields of a message; what does not parse is left empty.
func parseReceived(data []byte) Received {
	r := Received{Data: data}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return r
	}
	r.Header = m.Header
	r.MessageID = strings.Trim(strings.TrimSpace(m.Header.Get("Message-Id")), "<>")
	r.Subject = m.Header.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(r.Subject); err == nil {
		r.Subject = dec
	}
	r.ContentType, _, _ = mime.ParseMediaType(m.Header.Get("Content-Type"))
	body, _ := io.ReadAll(m.Body)
	ct, enc := m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding")
	if text, ok := textPart(ct, enc, body, "text/plain"); ok {
		r.Text = strings.ReplaceAll(text, "\r\n", "\n")
	}
	if html, ok := textPart(ct, enc, body, "text/html"); ok {
		r.HTML = strings.ReplaceAll(html, "\r\n", "\n")
	}
	return r
}

// textPart returns the decoded text of a body: itself when it is of media type want
// (text/plain when it has no Content-Type), or its first part of that type when it is
// multipart.
func textPart(contentType, encoding string, body []byte, want string) (string, bool) {
	mediaType, params := "text/plain", map[string]string(nil)
	if contentType != "" {
		mt, p, err := mime.ParseMediaType(contentType)
		if err != nil {
			return "", false
		}
		mediaType, params = mt, p
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			// NextRawPart: NextPart would decode quoted-printable and drop the header.
			p, err := mr.NextRawPart()
			if err != nil {
				return "", false
			}
			partBody, err := io.ReadAll(p)
			if err != nil {
				return "", false
			}
			if text, ok := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), partBody, want); ok {
				return text, true
			}
		}
	}
	if mediaType != want {
		return "", false
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return "", false
		}
		return string(dec), true
	case "base64":
		dec, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
		if err != nil {
			return "", false
		}
		return string(dec), true
	}
	return string(body), true
}

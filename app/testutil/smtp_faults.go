package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Stage is the point of a transaction where a recipient's fault strikes (FailRecipient).
type Stage int

const (
	// AtRcpt answers the RCPT command.
	AtRcpt Stage = iota + 1
	// AtData answers the DATA command in place of 354, before any content is sent. A BDAT
	// transfer has no such step: the fault answers its chunk, at the end of the data.
	AtData
	// AtEnd answers the end of the message's data, like SetMode and FailNext.
	AtEnd
)

// SMTPOptions change what an SMTPServer advertises. go-smtp always offers PIPELINING and
// CHUNKING; the server's connection drops them from its EHLO reply on request.
type SMTPOptions struct {
	NoPipelining bool
	NoChunking   bool
}

// StartSMTPWith is StartSMTP with options.
func StartSMTPWith(t testing.TB, o SMTPOptions) *SMTPServer {
	t.Helper()
	return startSMTP(t, o)
}

type fault struct {
	at   Stage
	mode Mode
}

// FailRecipient makes every transaction to addr meet m (Reject550, Defer451, Drop or Hang)
// at stage, whichever message and connection it comes in, so pipelined and lock-step
// clients can be compared message by message. Other recipients are answered as usual.
func (s *SMTPServer) FailRecipient(addr string, at Stage, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		s.faults = map[string]fault{}
	}
	s.faults[addr] = fault{at, m}
}

func (s *SMTPServer) faultFor(addr string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[addr]
	return f, ok
}

// RecordReads keeps what the server reads from its clients, one entry per read: a pipelining
// client's write arrives (on loopback) as one read, so a test can see which commands left
// together.
func (s *SMTPServer) RecordReads() {
	s.mu.Lock()
	s.recordReads = true
	s.mu.Unlock()
}

// Reads is what RecordReads kept, in order.
func (s *SMTPServer) Reads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reads...)
}

func (s *SMTPServer) recordRead(b []byte) {
	s.mu.Lock()
	if s.recordReads {
		s.reads = append(s.reads, string(b))
	}
	s.mu.Unlock()
}

// failure is the error a session returns to answer a command with m, after doing what m
// says to the connection (Drop closes it; Hang waits for the server to close).
func (s *SMTPServer) failure(c net.Conn, m Mode) error {
	switch m {
	case Reject550:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
	case Reject554:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused"}
	case Defer451:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case Hang:
		select {
		case <-s.closing:
		case <-time.After(30 * time.Second):
		}
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "hung on purpose"}
	case Drop:
		c.Close()
		return errors.New("connection dropped on purpose")
	}
	return nil
}

// faultListener wraps each accepted connection in a wireConn.
type faultListener struct {
	net.Listener
	s *SMTPServer
	o SMTPOptions
}

func (l faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.admit(c) { // not while the relay is down or hanging (SetRelay)
			return &wireConn{Conn: c, s: l.s, o: l.o}, nil
		}
	}
}

// wireConn is the server's side of a connection, seen below go-smtp. go-smtp writes each
// reply line with a write of its own and has no hook between the DATA command and its 354,
// so a DATA refusal is made here: the 354 is replaced by the refusal, a lone "." is read
// before the client's next bytes to end the data go-smtp now expects, and go-smtp's reply to
// that empty message is not sent.
type wireConn struct {
	net.Conn
	s *SMTPServer
	o SMTPOptions

	mu        sync.Mutex
	dataFault Mode   // the transaction's DATA answer (Accept: 354 as usual)
	refused   bool   // the 354 was replaced: the session ends the empty data with an error
	swallow   bool   // and go-smtp's reply to that error is not sent
	inject    []byte // read before the client's bytes
}

var (
	capPipelining = []byte("250-PIPELINING\r\n")
	capChunking   = []byte("250-CHUNKING\r\n")
	reply354      = []byte("354 ")
)

func (w *wireConn) Close() error {
	w.s.closed(w.Conn)
	return w.Conn.Close()
}

func (w *wireConn) Read(p []byte) (int, error) {
	w.mu.Lock()
	if len(w.inject) > 0 {
		n := copy(p, w.inject)
		w.inject = w.inject[n:]
		w.mu.Unlock()
		return n, nil
	}
	w.mu.Unlock()
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.s.recordRead(p[:n])
	}
	return n, err
}

func (w *wireConn) Write(p []byte) (int, error) {
	if w.o.NoPipelining && bytes.Equal(p, capPipelining) || w.o.NoChunking && bytes.Equal(p, capChunking) {
		return len(p), nil
	}
	w.mu.Lock()
	m, swallow := w.dataFault, w.swallow
	hit := m != Accept && bytes.HasPrefix(p, reply354)
	if hit {
		w.dataFault = Accept
	}
	w.swallow = false
	w.mu.Unlock()
	switch {
	case swallow:
		return len(p), nil
	case !hit:
		return w.Conn.Write(p)
	}
	var refusal *smtp.SMTPError
	if err := w.s.failure(w.Conn, m); m == Hang || !errors.As(err, &refusal) {
		w.Conn.Close()
		return 0, net.ErrClosed
	}
	w.mu.Lock()
	w.refused, w.swallow, w.inject = true, true, []byte(".\r\n")
	w.mu.Unlock()
	e := refusal.EnhancedCode
	if _, err := fmt.Fprintf(w.Conn, "%d %d.%d.%d %s\r\n", refusal.Code, e[0], e[1], e[2], refusal.Message); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setDataFault sets how the DATA command of the transaction in progress is answered.
func (w *wireConn) setDataFault(m Mode) {
	w.mu.Lock()
	w.dataFault = m
	w.mu.Unlock()
}

// takeRefused reports whether the DATA command was refused here, once.
func (w *wireConn) takeRefused() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.refused
	w.refused = false
	return r
}

// errRefusedData ends the empty data of a refused DATA; its reply is never sent.
var errRefusedData = errors.New("DATA refused on purpose")

// faultAt applies addr's fault at RCPT, or arms it for the DATA command or the end of data.
func (ss *smtpSession) faultAt(addr string) error {
	f, ok := ss.s.faultFor(addr)
	if !ok {
		return nil
	}
	switch f.at {
	case AtRcpt:
		return ss.s.failure(ss.conn.Conn(), f.mode)
	case AtData:
		ss.dataFault = f.mode
		if w, ok := ss.conn.Conn().(*wireConn); ok {
			w.setDataFault(f.mode)
		}
	case AtEnd:
		ss.endFault = f.mode
	}
	return nil
}

// dataFaultAnswer is the answer to a message's data when its DATA was armed to fail: the
// error that ends the empty data after a refused DATA command, or, after a BDAT transfer
// (which has no DATA command), the fault itself.
func (ss *smtpSession) dataFaultAnswer(r io.Reader) error {
	io.Copy(io.Discard, r)
	if w, ok := ss.conn.Conn().(*wireConn); ok && w.takeRefused() {
		return errRefusedData
	}
	return ss.s.failure(ss.conn.Conn(), ss.dataFault)
}

func (ss *smtpSession) clearFaults() {
	ss.dataFault, ss.endFault = Accept, Accept
	if w, ok := ss.conn.Conn().(*wireConn); ok {
		w.setDataFault(Accept)
	}
}

package bench

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Sink is an accept-all SMTP server on 127.0.0.1 for benchmarks: every message is read,
// counted and thrown away, and answered 250. go-smtp advertises PIPELINING, so the pool's
// pipelined transactions are exercised exactly as against a real server.
type Sink struct {
	srv    *smtp.Server
	ln     net.Listener
	served chan struct{}

	count atomic.Int64
	bytes atomic.Int64

	mu          sync.Mutex
	first, last time.Time
	ids         map[string]int // per Message-ID, when counting them (fault reports)
}

// StartCountingSink is StartSink that also counts accepted messages by Message-ID, to
// find duplicates.
func StartCountingSink() (*Sink, error) {
	s, err := StartSink()
	if err == nil {
		s.ids = map[string]int{}
	}
	return s, err
}

// Counts is how many accepted messages carried each Message-ID since Reset (counting
// sinks only).
func (s *Sink) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// StartSink listens on a free port of 127.0.0.1 and serves until Close.
func StartSink() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, served: make(chan struct{})}
	srv := smtp.NewServer(sinkBackend{s})
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	go func() {
		defer close(s.served)
		srv.Serve(ln)
	}()
	return s, nil
}

// URL is smtp://127.0.0.1:PORT.
func (s *Sink) URL() string { return "smtp://" + s.ln.Addr().String() }

// Addr is 127.0.0.1:PORT.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Count is how many messages were accepted.
func (s *Sink) Count() int { return int(s.count.Load()) }

// Bytes is the total size of the accepted messages.
func (s *Sink) Bytes() int64 { return s.bytes.Load() }

// Window returns when the first and the last message since the last Reset were accepted.
func (s *Sink) Window() (first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last
}

// Reset zeroes the counters.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.first, s.last = time.Time{}, time.Time{}
	s.count.Store(0)
	s.bytes.Store(0)
	if s.ids != nil {
		s.ids = map[string]int{}
	}
	s.mu.Unlock()
}

// Close stops the server and closes its connections.
func (s *Sink) Close() error {
	err := s.srv.Close()
	<-s.served
	return err
}

func (s *Sink) accepted(n int64, id string) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	if s.ids != nil {
		s.ids[id]++
	}
	s.mu.Unlock()
	s.bytes.Add(n)
	s.count.Add(1)
}

type sinkBackend struct{ s *Sink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: b.s}, nil }

type sinkSession struct{ s *Sink }

func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	if ss.s.ids == nil {
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		ss.s.accepted(n, "")
		return nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := ""
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		id = strings.Trim(strings.TrimSpace(m.Header.Get("Message-Id")), "<>")
	}
	ss.s.accepted(int64(len(data)), id)
	return nil
}

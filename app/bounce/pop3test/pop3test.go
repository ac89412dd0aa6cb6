// Package pop3test is a POP3 server (RFC 1939) for tests: one user and one maildrop, over
// TLS when given a certificate. Like a real server it deletes the mail a session marked
// with DELE only when that session ends with QUIT. It can be told to fail: refuse QUIT,
// break a connection part way through a RETR, or hold a RETR until the client hangs up.
package pop3test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// User and Password are the only credentials the server takes.
const (
	User     = "bounces"
	Password = "s3cret pass"
)

// Server is a running POP3 server on 127.0.0.1.
type Server struct {
	Addr string

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	mails []*mail
	cmds  []string
	conns map[net.Conn]bool
	// Faults armed by the test; each fires once.
	dropRETR  int // the nth RETR from now breaks off
	failQuit  bool
	stallRETR chan struct{}
}

type mail struct{ raw []byte }

// Start starts a server, over TLS when cfg is set; it stops at cleanup.
func Start(t testing.TB, cfg *tls.Config) *Server {
	t.Helper()
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
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// Add puts mail in the maildrop.
func (s *Server) Add(raws ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range raws {
		s.mails = append(s.mails, &mail{raw: r})
	}
}

// Mails is the maildrop as it stands.
func (s *Server) Mails() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.mails))
	for i, m := range s.mails {
		out[i] = m.raw
	}
	return out
}

// Commands are the commands received so far, in order (PASS without its argument).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// DropDuringRETR makes the nth RETR from now send half its mail and close the connection.
func (s *Server) DropDuringRETR(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropRETR = n
}

// FailQuit makes the next QUIT answer -ERR and delete nothing, as a server that cannot
// update its maildrop does.
func (s *Server) FailQuit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failQuit = true
}

// StallRETR makes the next RETR answer nothing until the client closes the connection;
// the channel is closed when that RETR arrives.
func (s *Server) StallRETR() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stallRETR = make(chan struct{})
	return s.stallRETR
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.session(c)
		}()
	}
}

// session runs one connection: AUTHORIZATION (USER, PASS), then TRANSACTION on a snapshot
// of the maildrop, then UPDATE at QUIT.
func (s *Server) session(c net.Conn) {
	tp := textproto.NewConn(c)
	ok := func(format string, args ...any) error { return tp.PrintfLine("+OK "+format, args...) }
	bad := func(msg string) error { return tp.PrintfLine("-ERR %s", msg) }
	ok("POP3 test server ready")
	var user string
	var drop []*mail // nil until logged in
	deleted := map[int]bool{}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		if verb == "PASS" {
			s.cmds = append(s.cmds, "PASS")
		} else {
			s.cmds = append(s.cmds, line)
		}
		s.mu.Unlock()
		// msg is the mail numbered by arg, when there is one not marked deleted.
		msg := func() (int, *mail) {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 || n > len(drop) || deleted[n] {
				return 0, nil
			}
			return n, drop[n-1]
		}
		switch {
		case verb == "QUIT":
			s.mu.Lock()
			fail := s.failQuit
			s.failQuit = false
			if !fail && len(deleted) > 0 {
				var kept []*mail
				for _, m := range s.mails {
					gone := false
					for n := range deleted {
						gone = gone || drop[n-1] == m
					}
					if !gone {
						kept = append(kept, m)
					}
				}
				s.mails = kept
			}
			s.mu.Unlock()
			if fail {
				bad("cannot update the maildrop")
			} else {
				ok("bye")
			}
			return
		case drop == nil && verb == "USER":
			user = arg
			ok("send PASS")
		case drop == nil && verb == "PASS":
			if user != User || arg != Password {
				bad("[AUTH] invalid user name or password")
				continue
			}
			s.mu.Lock()
			drop = append([]*mail{}, s.mails...)
			s.mu.Unlock()
			ok("logged in")
		case drop == nil:
			bad("log in first")
		case verb == "STAT":
			n, size := 0, 0
			for i, m := range drop {
				if !deleted[i+1] {
					n++
					size += len(m.raw)
				}
			}
			ok("%d %d", n, size)
		case verb == "LIST" && arg == "":
			ok("scan listing follows")
			w := tp.DotWriter()
			for i, m := range drop {
				if !deleted[i+1] {
					fmt.Fprintf(w, "%d %d\r\n", i+1, len(m.raw))
				}
			}
			w.Close()
		case verb == "RETR":
			_, m := msg()
			if m == nil {
				bad("no such message")
				continue
			}
			s.mu.Lock()
			stall := s.stallRETR
			s.stallRETR = nil
			breakOff := false
			if s.dropRETR > 0 {
				s.dropRETR--
				breakOff = s.dropRETR == 0
			}
			s.mu.Unlock()
			if stall != nil {
				close(stall)
				io.Copy(io.Discard, c) // until the client hangs up
				return
			}
			ok("%d octets", len(m.raw))
			if breakOff {
				tp.W.Write(m.raw[:len(m.raw)/2])
				tp.W.Flush()
				return
			}
			w := tp.DotWriter()
			w.Write(m.raw)
			w.Close()
		case verb == "DELE":
			n, m := msg()
			if m == nil {
				bad("no such message")
				continue
			}
			deleted[n] = true
			ok("marked")
		case verb == "NOOP":
			ok("")
		case verb == "RSET":
			clear(deleted)
			ok("")
		default:
			bad("unknown command")
		}
	}
}

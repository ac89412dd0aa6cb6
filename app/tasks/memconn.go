package tasks

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// memPipe returns the two ends of an in-memory connection. It is how this process's own
// Redis client reaches the embedded server: no sockets, no system calls, no network poller
// on the path every page takes. Unlike net.Pipe a write never waits for the reader, so a
// client may pipeline any number of commands before it reads a reply: with net.Pipe, the
// embedded server (which writes each reply before it reads the next command) and a client
// still writing a long pipeline would wait for each other until a timeout.
func memPipe() (net.Conn, net.Conn) {
	a := &memHalf{ready: make(chan struct{}, 1)}
	b := &memHalf{ready: make(chan struct{}, 1)}
	return &memConn{in: a, out: b}, &memConn{in: b, out: a}
}

// memHalf is one direction of a memPipe: bytes written and not yet read.
type memHalf struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
	ready  chan struct{} // holds a token when bytes or the close arrived since the last wait
}

func (h *memHalf) wake() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

func (h *memHalf) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wake()
}

type memConn struct {
	in, out *memHalf

	mu           sync.Mutex
	readDeadline time.Time
}

// Read waits for bytes until the read deadline set before it started.
func (c *memConn) Read(p []byte) (int, error) {
	var timeout <-chan time.Time
	for {
		c.in.mu.Lock()
		if len(c.in.buf) > 0 {
			n := copy(p, c.in.buf)
			c.in.buf = c.in.buf[n:]
			if len(c.in.buf) == 0 {
				c.in.buf = c.in.buf[:0:0] // let a large pipeline's buffer go
			}
			c.in.mu.Unlock()
			return n, nil
		}
		closed := c.in.closed
		c.in.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
		if timeout == nil {
			c.mu.Lock()
			d := c.readDeadline
			c.mu.Unlock()
			if !d.IsZero() {
				wait := time.Until(d)
				if wait <= 0 {
					return 0, os.ErrDeadlineExceeded
				}
				t := time.NewTimer(wait)
				defer t.Stop()
				timeout = t.C
			}
		}
		select {
		case <-c.in.ready:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write appends p for the other end; it never waits.
func (c *memConn) Write(p []byte) (int, error) {
	c.out.mu.Lock()
	if c.out.closed {
		c.out.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	c.out.buf = append(c.out.buf, p...)
	c.out.mu.Unlock()
	c.out.wake()
	return len(p), nil
}

// Close ends both directions: the other end reads what was written, then EOF.
func (c *memConn) Close() error {
	c.in.close()
	c.out.close()
	return nil
}

func (c *memConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: writes never wait.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func (c *memConn) LocalAddr() net.Addr  { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "embedded" }

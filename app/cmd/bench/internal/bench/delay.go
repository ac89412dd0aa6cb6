package bench

import (
	"errors"
	"net"
	"sync"
	"time"
)

// DelayProxy stands between a client and a server on 127.0.0.1 and adds a round trip: every
// chunk read from one side is written to the other half the round trip after it was read.
// Each direction has a goroutine that reads and stamps chunks and one that releases them when
// due, so chunks keep their order and never wait for each other — a burst of pipelined
// commands arrives RTT/2 later as a burst, not RTT/2 after one another, and there is no
// bandwidth limit. That is a relay 10–80 ms away as the sender sees it, without the
// privileges `tc netem` needs.
type DelayProxy struct {
	ln     net.Listener
	target string
	half   time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartDelayProxy listens on a free port of 127.0.0.1 and forwards each connection to
// target with rtt added to its round trip.
func StartDelayProxy(target string, rtt time.Duration) (*DelayProxy, error) {
	if rtt <= 0 {
		return nil, errors.New("delay proxy: the round trip must be positive")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &DelayProxy{ln: ln, target: target, half: rtt / 2, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is 127.0.0.1:PORT.
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for their goroutines.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		var ends sync.WaitGroup
		ends.Add(2)
		p.wg.Add(3)
		go p.forward(client, server, &ends)
		go p.forward(server, client, &ends)
		go func() {
			defer p.wg.Done()
			ends.Wait()
			p.untrack(client, server)
		}()
	}
}

func (p *DelayProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *DelayProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

type chunk struct {
	b   []byte
	due time.Time
}

// forward copies src to dst, each chunk released half a round trip after it was read. When
// src ends, dst's sending side is closed once the chunks before the end are out, as the
// network would do with a FIN.
func (p *DelayProxy) forward(src, dst net.Conn, ends *sync.WaitGroup) {
	defer p.wg.Done()
	defer ends.Done()
	queue := make(chan chunk, 4096)
	released := make(chan struct{})
	go func() {
		defer close(released)
		t := time.NewTimer(0)
		defer t.Stop()
		for c := range queue {
			if d := time.Until(c.due); d > 0 {
				t.Reset(d)
				<-t.C
			}
			if _, err := dst.Write(c.b); err != nil {
				src.Close() // stops the reader; the rest of the queue is dropped
				for range queue {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		} else {
			dst.Close()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(p.half)}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-released
}

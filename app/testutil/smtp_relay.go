package testutil

import (
	"net"
	"sync"
)

// Relay is the state of the whole server, as a sender sees it (SetRelay).
type Relay int

const (
	// RelayUp serves connections as usual.
	RelayUp Relay = iota
	// RelayDown resets every new connection at once (a refused or reset connection to the
	// sender) and closes the open ones: the relay is down.
	RelayDown
	// RelayHanging accepts connections and never greets them, until the relay is set up
	// again (then they are closed) or the server closes: a relay that hangs.
	RelayHanging
)

// relayState is kept apart from the server's mutex: Accept waits on it.
type relayState struct {
	mu    sync.Mutex
	state Relay
	open  map[net.Conn]bool // connections handed to go-smtp
	held  []net.Conn        // connections accepted while hanging, never greeted
}

// SetRelay switches the whole server down, hanging or up again, for relay outage tests.
// Going down closes every open connection; going up closes the connections held while
// hanging (their senders see the connection drop before any greeting).
func (s *SMTPServer) SetRelay(r Relay) {
	rs := &s.relay
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.state = r
	if r == RelayDown {
		for c := range rs.open {
			c.Close()
		}
	}
	if r != RelayHanging {
		for _, c := range rs.held {
			c.Close()
		}
		rs.held = nil
	}
}

// admit decides on a freshly accepted connection: true hands it to go-smtp.
func (s *SMTPServer) admit(c net.Conn) bool {
	rs := &s.relay
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch rs.state {
	case RelayDown:
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as from a port nobody listens on
		}
		c.Close()
		return false
	case RelayHanging:
		rs.held = append(rs.held, c)
		return false
	}
	if rs.open == nil {
		rs.open = map[net.Conn]bool{}
	}
	rs.open[c] = true
	return true
}

// closed forgets a connection go-smtp is done with.
func (s *SMTPServer) closed(c net.Conn) {
	s.relay.mu.Lock()
	delete(s.relay.open, c)
	s.relay.mu.Unlock()
}

// releaseHeld closes the connections held while hanging, at cleanup.
func (s *SMTPServer) releaseHeld() { s.SetRelay(RelayUp) }

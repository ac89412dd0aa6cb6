package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// SMTPError is a mail server's refusal: its code and text ("5.1.1 mailbox unavailable").
type SMTPError struct {
	Code int
	Msg  string
}

func (e *SMTPError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Msg) }

// Temporary reports a 4xx answer: the same message may succeed later.
func (e *SMTPError) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Permanent reports whether err means retrying cannot help: a 5xx answer about the
// recipient or the message, or a message that cannot be built. Network errors, timeouts
// and the relay's own failures (Classify) are not permanent.
func Permanent(err error) bool {
	f := Classify(err)
	return !f.Temporary && f.Scope != ScopeRelay
}

var errBadAddress = errors.New("mail: bad address")

// Pool sends over a bounded set of reused SMTP connections. Each message is one
// transaction (MAIL, RCPT, then its content) on an open connection, and each connection is
// served by a goroutine of its own (pipeline.go) that takes messages from every Send. How a
// connection carries them depends on what the server advertises:
//
//   - PIPELINING (RFC 2920): a message's MAIL, RCPT and DATA go out in the same write as the
//     previous message's content and final dot, so with enough messages waiting each one
//     costs a single round trip;
//   - PIPELINING and CHUNKING (RFC 3030): MAIL, RCPT and BDAT <n> LAST with the content go
//     out in one write, one message per write: one round trip even for a lone message;
//   - neither: lock-step, one command and its reply at a time (transaction).
//
// The URL can turn either extension off (smtp://host?pipelining=off, ?chunking=off) for a
// server that advertises more than it does well. A hand-written client is used because
// net/smtp discards the server's reply text on success, and the ledger records it.
type Pool struct {
	addr, host string
	implicit   bool
	user, pass string
	helo       string
	timeout    time.Duration
	// noPipelining and noChunking ignore the extensions even when advertised.
	noPipelining, noChunking bool

	max     int       // connections open (or being dialed) at once
	queue   chan *job // a message waiting for a connection's goroutine to take it
	closing chan struct{}
	closed  sync.Once

	mu    sync.Mutex
	open  int
	freed chan struct{} // closed and replaced whenever a connection ends
}

// PoolOptions tune a Pool.
type PoolOptions struct {
	MaxConns int           // connections open at once (SMTP_MAX_CONNS)
	Timeout  time.Duration // for one message's transaction, including dialing
}

// NewPool parses smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (TLS).
// The query may say pipelining=off or chunking=off.
func NewPool(rawURL string, o PoolOptions) (*Pool, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("SMTP_URL is not a valid smtp:// or smtps:// URL")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	p := &Pool{host: u.Hostname(), implicit: u.Scheme == "smtps", timeout: o.Timeout, max: o.MaxConns,
		queue: make(chan *job), closing: make(chan struct{}), freed: make(chan struct{})}
	q := u.Query()
	for k, off := range map[string]*bool{"pipelining": &p.noPipelining, "chunking": &p.noChunking} {
		switch v := q.Get(k); v {
		case "", "on":
		case "off":
			*off = true
		default:
			return nil, fmt.Errorf("SMTP_URL: %s=%q: want on or off", k, v)
		}
	}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "25"}[p.implicit]
	}
	p.addr = net.JoinHostPort(p.host, port)
	if u.User != nil {
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
	}
	p.helo, _ = os.Hostname()
	if p.helo == "" {
		p.helo = "localhost"
	}
	return p, nil
}

// Send delivers m and returns the server's final reply, e.g. "250 2.0.0 queued as 1A2B".
// ctx bounds the wait for a connection and, through its deadline, the transaction; once the
// message is on a connection it is carried to its reply (or to the timeout) like any other.
func (p *Pool) Send(ctx context.Context, m Message) (string, error) {
	raw, err := Build(m)
	if err != nil {
		return "", err
	}
	envelope := m.From
	if m.ReturnPath != "" {
		envelope = m.ReturnPath
	}
	// The parsed address goes on the MAIL FROM line: no name, no line break can get there.
	from, err1 := mail.ParseAddress(envelope)
	to, err2 := mail.ParseAddress(m.To)
	if err1 != nil || err2 != nil {
		return "", errBadAddress
	}
	j := &job{from: from.Address, to: to.Address, raw: raw, done: make(chan result, 1)}
	j.ctxDeadline, _ = ctx.Deadline()
	if err := p.dispatch(ctx, j); err != nil {
		return "", err
	}
	r := <-j.done
	return r.reply, r.err
}

// dispatch hands j to a connection: an idle one, else a new one while fewer than max are
// open (a dial error is the caller's), else the first busy one that can take it.
func (p *Pool) dispatch(ctx context.Context, j *job) error {
	for {
		select {
		case p.queue <- j:
			return nil
		default:
		}
		p.mu.Lock()
		if p.open < p.max {
			p.open++
			p.mu.Unlock()
			c, err := p.dial(ctx)
			if err != nil {
				p.ended()
				return err
			}
			go p.serve(c, j)
			return nil
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case p.queue <- j:
			return nil
		case <-freed: // a connection ended: there may be room to dial
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ended counts a connection out, waking dispatchers that wait for room.
func (p *Pool) ended() {
	p.mu.Lock()
	p.open--
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// Close quits idle connections and waits for busy ones to finish their messages (each
// bounded by the timeout). A Send after Close still works, on a connection that quits when
// it is done.
func (p *Pool) Close() error {
	p.closed.Do(func() { close(p.closing) })
	for {
		p.mu.Lock()
		n, freed := p.open, p.freed
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		<-freed
	}
}

type conn struct {
	nc         net.Conn
	r          *textproto.Reader
	w          *bufio.Writer
	pipelining bool
	chunking   bool
	usable     bool   // false once the session's state is unknown
	flight     []byte // what the next write carries (pipeline.go), kept for reuse
}

func (p *Pool) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: p.timeout}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var nc net.Conn
	var err error
	if p.implicit {
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: p.host}}
		nc, err = td.DialContext(dctx, "tcp", p.addr)
	} else {
		nc, err = d.DialContext(dctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, relayErr("connect", err)
	}
	nc.SetDeadline(time.Now().Add(p.timeout))
	c := &conn{nc: nc, r: textproto.NewReader(bufio.NewReader(nc)), w: bufio.NewWriter(nc), usable: true}
	// Every failure before a message is on the connection is the relay's (Classify).
	fail := func(stage string, err error) (*conn, error) { nc.Close(); return nil, relayErr(stage, err) }
	if _, _, err := c.r.ReadResponse(220); err != nil {
		return fail("greeting", smtpErr(err))
	}
	ext, err := c.ehlo(p.helo)
	if err != nil {
		return fail("ehlo", err)
	}
	if _, ok := ext["STARTTLS"]; ok && !p.implicit {
		if err := c.cmd(220, "STARTTLS"); err != nil {
			return fail("starttls", err)
		}
		tc := tls.Client(nc, &tls.Config{ServerName: p.host})
		if err := tc.Handshake(); err != nil {
			return fail("starttls", err)
		}
		c.nc, c.r, c.w = tc, textproto.NewReader(bufio.NewReader(tc)), bufio.NewWriter(tc)
		if ext, err = c.ehlo(p.helo); err != nil {
			return fail("ehlo", err)
		}
	}
	_, c.pipelining = ext["PIPELINING"]
	_, c.chunking = ext["CHUNKING"]
	if p.user != "" {
		_, isTLS := c.nc.(*tls.Conn)
		if !isTLS && !isLoopback(p.host) {
			return fail("auth", errors.New("smtp: refusing to send the password over an unencrypted connection"))
		}
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + p.user + "\x00" + p.pass))
		if err := c.cmd(235, "AUTH PLAIN "+cred); err != nil {
			return fail("auth", err)
		}
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *conn) ehlo(helo string) (map[string]string, error) {
	if _, err := fmt.Fprintf(c.w, "EHLO %s\r\n", helo); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	_, msg, err := c.r.ReadResponse(250)
	if err != nil {
		return nil, smtpErr(err)
	}
	ext := map[string]string{}
	for _, line := range strings.Split(msg, "\n")[1:] {
		k, v, _ := strings.Cut(line, " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext, nil
}

func (c *conn) cmd(expect int, line string) error {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, _, err := c.r.ReadResponse(expect)
	return smtpErr(err)
}

// transaction sends one message in lock-step, for servers without PIPELINING. A refusal
// leaves the connection usable (after RSET); any other error marks it unusable.
func (c *conn) transaction(from, to string, raw []byte) (string, error) {
	c.usable = false
	cmds := []struct {
		line   string
		expect int
	}{{"MAIL FROM:<" + from + ">", 250}, {"RCPT TO:<" + to + ">", 25}, {"DATA", 354}}
	var refusal error
	for i, cm := range cmds {
		if err := c.cmd(cm.expect, cm.line); err != nil {
			var se *SMTPError
			if !errors.As(err, &se) {
				if i == 0 { // broken before the recipient was named: the relay's failure
					return "", relayErr("mail", err)
				}
				return "", err
			}
			refusal = err
			break
		}
	}
	if refusal != nil {
		if err := c.cmd(250, "RSET"); err != nil {
			return "", refusal
		}
		c.usable = true
		return "", refusal
	}
	dw := textproto.NewWriter(c.w).DotWriter()
	if _, err := dw.Write(raw); err != nil {
		return "", err
	}
	if err := dw.Close(); err != nil {
		return "", err
	}
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	code, msg, err := c.r.ReadResponse(250)
	if err != nil {
		if _, ok := err.(*textproto.Error); ok {
			c.usable = true
		}
		return "", smtpErr(err)
	}
	c.usable = true
	return fmt.Sprintf("%d %s", code, msg), nil
}

func smtpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &SMTPError{Code: te.Code, Msg: te.Msg}
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *conn) close() { c.nc.Close() }

func (c *conn) quit() {
	c.nc.SetDeadline(time.Now().Add(2 * time.Second))
	c.cmd(221, "QUIT")
	c.nc.Close()
}

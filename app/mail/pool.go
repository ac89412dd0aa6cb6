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

// Permanent reports whether err means retrying cannot help: a 5xx answer, or a message that
// cannot be built. Network errors and timeouts are not permanent.
func Permanent(err error) bool {
	var se *SMTPError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	return errors.Is(err, ErrHeaderInjection) || errors.Is(err, ErrHeaderTooLong) || errors.Is(err, errBadAddress)
}

var errBadAddress = errors.New("mail: bad address")

// Pool sends over a bounded set of reused SMTP connections. Each message is one
// transaction (MAIL, RCPT, DATA) on an open connection; when the server advertises
// PIPELINING (RFC 2920) the three commands go out together, which roughly halves the round
// trips per message. A hand-written client is used because net/smtp discards the server's
// reply text on success, and the ledger records it.
type Pool struct {
	addr, host string
	implicit   bool
	user, pass string
	helo       string
	timeout    time.Duration

	slots chan struct{}
	mu    sync.Mutex
	idle  []*conn
}

// PoolOptions tune a Pool.
type PoolOptions struct {
	MaxConns int           // connections open at once (SMTP_MAX_CONNS)
	Timeout  time.Duration // for one message's transaction, including dialing
}

// NewPool parses smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (TLS).
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
	p := &Pool{host: u.Hostname(), implicit: u.Scheme == "smtps", timeout: o.Timeout, slots: make(chan struct{}, o.MaxConns)}
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
func (p *Pool) Send(ctx context.Context, m Message) (string, error) {
	raw, err := Build(m)
	if err != nil {
		return "", err
	}
	from, err1 := mail.ParseAddress(m.From)
	to, err2 := mail.ParseAddress(m.To)
	if err1 != nil || err2 != nil {
		return "", errBadAddress
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-p.slots }()

	c := p.take()
	if c == nil {
		if c, err = p.dial(ctx); err != nil {
			return "", err
		}
	}
	deadline := time.Now().Add(p.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.nc.SetDeadline(deadline)
	reply, err := c.transaction(from.Address, to.Address, raw)
	var se *SMTPError
	if err == nil || (errors.As(err, &se) && c.usable) {
		p.put(c)
	} else {
		c.close()
	}
	return reply, err
}

// Close closes idle connections.
func (p *Pool) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.quit()
	}
	return nil
}

func (p *Pool) take() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		// A connection idle for long may have been dropped by the server.
		if time.Since(c.used) < 30*time.Second {
			return c
		}
		c.close()
	}
	return nil
}

func (p *Pool) put(c *conn) {
	c.used = time.Now()
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

type conn struct {
	nc         net.Conn
	r          *textproto.Reader
	w          *bufio.Writer
	pipelining bool
	usable     bool // false once the session's state is unknown
	used       time.Time
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
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(p.timeout))
	c := &conn{nc: nc, r: textproto.NewReader(bufio.NewReader(nc)), w: bufio.NewWriter(nc), usable: true}
	fail := func(err error) (*conn, error) { nc.Close(); return nil, err }
	if _, _, err := c.r.ReadResponse(220); err != nil {
		return fail(smtpErr(err))
	}
	ext, err := c.ehlo(p.helo)
	if err != nil {
		return fail(err)
	}
	if _, ok := ext["STARTTLS"]; ok && !p.implicit {
		if err := c.cmd(220, "STARTTLS"); err != nil {
			return fail(err)
		}
		tc := tls.Client(nc, &tls.Config{ServerName: p.host})
		if err := tc.Handshake(); err != nil {
			return fail(err)
		}
		c.nc, c.r, c.w = tc, textproto.NewReader(bufio.NewReader(tc)), bufio.NewWriter(tc)
		if ext, err = c.ehlo(p.helo); err != nil {
			return fail(err)
		}
	}
	_, c.pipelining = ext["PIPELINING"]
	if p.user != "" {
		_, isTLS := c.nc.(*tls.Conn)
		if !isTLS && !isLoopback(p.host) {
			return fail(errors.New("smtp: refusing to send the password over an unencrypted connection"))
		}
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + p.user + "\x00" + p.pass))
		if err := c.cmd(235, "AUTH PLAIN "+cred); err != nil {
			return fail(err)
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

// transaction sends one message. A refusal leaves the connection usable (after RSET); any
// other error marks it unusable.
func (c *conn) transaction(from, to string, raw []byte) (string, error) {
	c.usable = false
	cmds := []struct {
		line   string
		expect int
	}{{"MAIL FROM:<" + from + ">", 250}, {"RCPT TO:<" + to + ">", 25}, {"DATA", 354}}
	var refusal error
	if c.pipelining {
		for _, cm := range cmds {
			c.w.WriteString(cm.line + "\r\n")
		}
		if err := c.w.Flush(); err != nil {
			return "", err
		}
		for i, cm := range cmds {
			code, msg, err := c.r.ReadResponse(cm.expect)
			if err != nil {
				if _, ok := err.(*textproto.Error); !ok {
					return "", err
				}
				if refusal == nil {
					refusal = &SMTPError{Code: code, Msg: msg}
				}
				if i == 2 {
					break
				}
				continue
			}
			if i == 2 && refusal != nil {
				// DATA was accepted although MAIL or RCPT was refused: end it empty.
				c.w.WriteString(".\r\n")
				c.w.Flush()
				c.r.ReadResponse(0)
			}
		}
	} else {
		for _, cm := range cmds {
			if err := c.cmd(cm.expect, cm.line); err != nil {
				var se *SMTPError
				if !errors.As(err, &se) {
					return "", err
				}
				refusal = err
				break
			}
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

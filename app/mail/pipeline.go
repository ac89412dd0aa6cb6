package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// idleTimeout is how long a connection waits for a message before it quits: a connection
// idle for long may have been dropped by the server.
const idleTimeout = 30 * time.Second

// job is one message on its way through a connection's goroutine.
type job struct {
	from, to    string
	raw         []byte
	ctxDeadline time.Time // the caller's; zero when none
	deadline    time.Time // of the transaction, from its first command on this connection
	done        chan result
	// broken counts the connections that broke under the job before its recipient was
	// named: each pooled connection the server dropped while idle may be met once.
	broken int
}

type result struct {
	reply string
	err   error
}

func (j *job) finish(reply string, err error) { j.done <- result{reply, err} }

// begin starts the transaction's clock, as Send did before connections had goroutines: the
// timeout from the first command, or the caller's deadline when sooner.
func (j *job) begin(timeout time.Duration) {
	j.deadline = time.Now().Add(timeout)
	if !j.ctxDeadline.IsZero() && j.ctxDeadline.Before(j.deadline) {
		j.deadline = j.ctxDeadline
	}
}

// serve carries messages over c until it breaks, idles out or the pool closes. first is the
// message the connection was dialed for.
func (p *Pool) serve(c *conn, first *job) {
	defer p.ended()
	switch {
	case !c.pipelining || p.noPipelining:
		p.serveLockStep(c, first)
	case c.chunking && !p.noChunking:
		p.serveChunked(c, first)
	default:
		p.servePipelined(c, first)
	}
}

// next is the connection's next message: waited for when wait (the connection has nothing
// in flight), else only one that is already waiting. nil when there is none, or when an
// idle connection should quit.
func (p *Pool) next(wait bool) *job {
	if !wait {
		select {
		case j := <-p.queue:
			return j
		default:
			return nil
		}
	}
	t := time.NewTimer(idleTimeout)
	defer t.Stop()
	select {
	case j := <-p.queue:
		return j
	case <-t.C:
	case <-p.closing:
	}
	return nil
}

// lost ends j with err: its connection failed at one of j's own steps (its write, or a reply
// to one of its commands), as lock-step would have reported it. Whether to try again is the
// caller's decision: if the content left, the server may have taken the message.
func lost(j *job, err error) {
	if j != nil {
		j.finish("", err)
	}
}

// bumped hands j to another connection: its commands were written behind another message
// whose reply broke the connection, and its content was not — in lock-step it would have
// been on a connection of its own, so the failure is not its outcome.
func (p *Pool) bumped(j *job) {
	if j != nil {
		p.redispatch(j)
	}
}

// brokeBeforeRcpt ends j whose connection broke before its recipient was named: the
// server cannot have taken it, so it goes out on another connection — a server that closed
// its idle connections (every pooled one at once, typically) is no outage. Past as many
// breaks as the pool has connections, plus one fresh dial, it is the relay's failure.
func (p *Pool) brokeBeforeRcpt(j *job, err error) {
	if j.broken++; j.broken <= p.max {
		p.redispatch(j)
		return
	}
	j.finish("", relayErr("mail", err))
}

func (p *Pool) redispatch(j *job) {
	go func() {
		ctx := context.Background()
		if !j.ctxDeadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, j.ctxDeadline)
			defer cancel()
		}
		if err := p.dispatch(ctx, j); err != nil {
			j.finish("", err)
		}
	}()
}

// serveLockStep is the path for servers without PIPELINING: one transaction at a time.
func (p *Pool) serveLockStep(c *conn, j *job) {
	for ; j != nil; j = p.next(true) {
		j.begin(p.timeout)
		c.nc.SetDeadline(j.deadline)
		reply, err := c.transaction(j.from, j.to, j.raw)
		var re *RelayError
		if errors.As(err, &re) && re.Stage == "mail" {
			c.close()
			p.brokeBeforeRcpt(j, re.Err)
			return
		}
		j.finish(reply, err)
		var se *SMTPError
		if err != nil && !(errors.As(err, &se) && c.usable) {
			c.close()
			return
		}
	}
	c.quit()
}

// servePipelined carries messages over a PIPELINING server with one write per round trip.
// RFC 2920 lets message content lead a group of commands and wants DATA last, so a write
// holds the content and final dot of the message whose DATA was answered 354, then RSET if
// a refused transaction is still open, then the next message's MAIL, RCPT and DATA. The
// replies come back in that order; each message's outcome is taken from its own replies
// only, and any reply out of place closes the connection (lost, bumped).
func (p *Pool) servePipelined(c *conn, next *job) {
	var (
		open     *job // DATA answered 354: its content goes first in the next write
		endEmpty bool // DATA answered 354 in a refused transaction: end it with no content
		rset     bool // a refused transaction may still be open on the server
	)
	for {
		if next == nil {
			next = p.next(open == nil && !endEmpty)
			if next == nil && open == nil && !endEmpty {
				c.quit()
				return
			}
		}
		buf := c.flight[:0]
		deadline := time.Time{}
		if open != nil {
			buf = appendDotStuffed(buf, open.raw)
			deadline = open.deadline
		}
		if endEmpty {
			buf = append(buf, ".\r\n"...)
		}
		if next != nil {
			next.begin(p.timeout)
			if rset {
				buf = append(buf, "RSET\r\n"...)
			}
			buf = appendEnvelope(buf, next)
			buf = append(buf, "DATA\r\n"...)
			if deadline.IsZero() || next.deadline.Before(deadline) {
				deadline = next.deadline
			}
		}
		if deadline.IsZero() { // only the empty end of a refused transaction
			deadline = time.Now().Add(p.timeout)
		}
		c.flight = buf
		c.nc.SetDeadline(deadline)
		if _, err := c.nc.Write(buf); err != nil {
			c.close()
			lost(open, err)
			if next != nil {
				p.brokeBeforeRcpt(next, err)
			}
			return
		}

		if open != nil {
			r := c.reply()
			switch {
			case r.code/100 == 2 && r.err == nil:
				open.finish(r.text(), nil)
			case r.refusal():
				open.finish("", r.smtpError())
			default:
				c.close()
				lost(open, r.failure("end of data"))
				p.bumped(next)
				return
			}
			if r.code == 421 { // the server is closing the connection
				c.close()
				p.bumped(next)
				return
			}
			open = nil
		}
		if endEmpty {
			if r := c.reply(); r.err != nil || !(r.code/100 == 2 || r.refusal()) || r.code == 421 {
				c.close()
				p.bumped(next)
				return
			}
			endEmpty = false
		}
		if next == nil {
			continue
		}
		if rset {
			if r := c.reply(); r.err != nil || r.code/100 != 2 {
				// Whatever the next message's replies say, they follow a session in an unknown state.
				c.close()
				p.bumped(next)
				return
			}
			rset = false
		}
		var refusal error
		for i, cmd := range []string{"MAIL", "RCPT", "DATA"} {
			r := c.reply()
			switch {
			case r.err != nil || r.code == 421 || !(r.refusal() || cmd != "DATA" && r.code/100 == 2 || cmd == "DATA" && r.code == 354):
				if refusal == nil && r.err == nil && r.code == 421 {
					refusal = r.smtpError()
				}
				c.close()
				switch {
				case refusal != nil:
					// As in lock-step, where the refusal would have come first and the
					// connection's failure with the RSET after it.
					next.finish("", refusal)
				case i == 0 && r.err != nil:
					p.brokeBeforeRcpt(next, r.err)
				default:
					lost(next, r.failure(cmd))
				}
				return
			case r.refusal():
				if refusal == nil {
					refusal = r.smtpError()
				}
				rset = true
			case i == 2 && refusal != nil:
				endEmpty = true // RFC 2920 §3.1: DATA accepted although every RCPT failed
			case i == 2:
				open = next
			}
		}
		if refusal != nil {
			next.finish("", refusal)
		}
		next = nil
	}
}

// serveChunked carries messages over a server with PIPELINING and CHUNKING: MAIL, RCPT and
// BDAT <n> LAST with the whole content in one write, one message a write. A write never
// holds a second message: if the connection broke, that message's content would have left
// with the first's and its outcome would be unknown — in lock-step it would simply have gone
// out on another connection. A refusal is followed by RSET on its own (RFC 3030 leaves the
// session's state after a failed BDAT undefined), which costs a round trip only then.
func (p *Pool) serveChunked(c *conn, j *job) {
	for ; j != nil; j = p.next(true) {
		body := canonical(j.raw)
		j.begin(p.timeout)
		buf := appendEnvelope(c.flight[:0], j)
		buf = append(buf, "BDAT "...)
		buf = strconv.AppendInt(buf, int64(len(body)), 10)
		buf = append(buf, " LAST\r\n"...)
		buf = append(buf, body...)
		c.flight = buf
		c.nc.SetDeadline(j.deadline)
		if _, err := c.nc.Write(buf); err != nil {
			c.close()
			p.brokeBeforeRcpt(j, err)
			return
		}
		var refusal error
		var accepted string
		for _, cmd := range []string{"MAIL", "RCPT", "BDAT"} {
			r := c.reply()
			switch {
			case r.err != nil || r.code == 421 || !(r.refusal() || r.code/100 == 2):
				if refusal == nil && r.err == nil && r.code == 421 {
					refusal = r.smtpError()
				}
				c.close()
				switch {
				case refusal != nil:
					j.finish("", refusal)
				case cmd == "MAIL" && r.err != nil:
					// Not even MAIL was answered: the server read none of it.
					p.brokeBeforeRcpt(j, r.err)
				default:
					lost(j, r.failure(cmd))
				}
				return
			case r.refusal():
				if refusal == nil {
					refusal = r.smtpError()
				}
			case cmd == "BDAT":
				accepted = r.text()
			}
		}
		if refusal == nil {
			j.finish(accepted, nil)
			continue
		}
		j.finish("", refusal)
		if err := c.cmd(250, "RSET"); err != nil {
			c.close()
			return
		}
	}
	c.quit()
}

func appendEnvelope(buf []byte, j *job) []byte {
	buf = append(buf, "MAIL FROM:<"...)
	buf = append(buf, j.from...)
	buf = append(buf, ">\r\nRCPT TO:<"...)
	buf = append(buf, j.to...)
	return append(buf, ">\r\n"...)
}

// reply is one server reply, or the error that stood in its place.
type reply struct {
	code int
	msg  string
	err  error
}

func (c *conn) reply() reply {
	code, msg, err := c.r.ReadResponse(0)
	return reply{code, msg, smtpErr(err)}
}

func (r reply) refusal() bool         { return r.err == nil && r.code >= 400 && r.code < 600 }
func (r reply) text() string          { return fmt.Sprintf("%d %s", r.code, r.msg) }
func (r reply) smtpError() *SMTPError { return &SMTPError{Code: r.code, Msg: r.msg} }
func (r reply) unexpected(to string) error {
	return fmt.Errorf("smtp: unexpected reply to %s: %d %s", to, r.code, r.msg)
}

// failure is why a connection is given up at this reply: the network error, the server's
// 421, or a reply out of place.
func (r reply) failure(to string) error {
	switch {
	case r.err != nil:
		return r.err
	case r.code == 421:
		return r.smtpError()
	}
	return r.unexpected(to)
}

// appendDotStuffed appends raw as DATA content, as textproto's DotWriter writes it (lone LF
// becomes CRLF, a line's leading dot is doubled, a missing final CRLF is added) followed by
// the final dot. DotWriter itself flushes on Close, and the next message's commands must
// leave in the same write.
func appendDotStuffed(buf, raw []byte) []byte {
	return appendCanonical(buf, raw, true)
}

// canonical is raw as BDAT sends it: the same bytes DATA's dot-unstuffing gives the server.
func canonical(raw []byte) []byte {
	return appendCanonical(make([]byte, 0, len(raw)+2), raw, false)
}

// appendCanonical writes raw as textproto's DotWriter does (net/textproto/writer.go), byte
// for byte — a lone LF becomes CRLF, a lone CR stays, a line's leading dot is doubled when
// stuff is set, a missing final line end is added — but a line at a time: DotWriter's
// byte-by-byte state machine was a seventh of a send's CPU with 20 KB messages.
func appendCanonical(buf, raw []byte, stuff bool) []byte {
	buf = slices.Grow(buf, len(raw)+len(raw)/32+5)
	for {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line = raw[:i]
		}
		// A line starts after a LF (or at the start); a dot there is doubled.
		if stuff && len(line) > 0 && line[0] == '.' {
			buf = append(buf, '.')
		}
		buf = append(buf, line...)
		// DotWriter adds CR before a LF, and at Close CRLF, unless its last byte left it in
		// its CR state: a run of CRs alternates that state, so an odd run ends in it.
		if !oddCRs(line) {
			buf = append(buf, '\r')
		}
		buf = append(buf, '\n')
		if i < 0 {
			break
		}
		raw = raw[i+1:]
		if len(raw) == 0 {
			break
		}
	}
	if stuff {
		buf = append(buf, ".\r\n"...)
	}
	return buf
}

// oddCRs says line ends in an odd number of CRs.
func oddCRs(line []byte) bool {
	n := 0
	for n < len(line) && line[len(line)-1-n] == '\r' {
		n++
	}
	return n%2 == 1
}

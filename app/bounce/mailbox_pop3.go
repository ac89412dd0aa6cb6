package bounce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// pop3Conn is a session with a POP3 maildrop (RFC 1939; pop3://, pop3s://). Mail is named by
// its message number. DELE only marks mail: the server deletes it when the session ends
// with QUIT, so a session that breaks off deletes nothing.
type pop3Conn struct {
	conn net.Conn
	tp   *textproto.Conn
	// done is set once the session cannot take another command: QUIT was sent, or the
	// connection failed (a half-read reply leaves it out of step).
	done bool
}

// errPOP3 is a -ERR reply: the server refused the command, the session goes on.
var errPOP3 = errors.New("the server refused")

func openPOP3(conn net.Conn, u *url.URL) (mailConn, error) {
	s := &pop3Conn{conn: conn, tp: textproto.NewConn(conn)}
	if _, err := s.cmd(""); err != nil {
		return nil, fmt.Errorf("connect to the bounce mailbox: %w", err)
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	// A line break would end the command early and start another.
	if strings.ContainsAny(user+pass, "\r\n") {
		s.close()
		return nil, errors.New("log in to the bounce mailbox: the user name or password holds a line break")
	}
	if _, err := s.cmd("USER %s", user); err != nil {
		s.close()
		return nil, fmt.Errorf("log in to the bounce mailbox: %w", err)
	}
	if _, err := s.cmd("PASS %s", pass); err != nil {
		s.close()
		return nil, fmt.Errorf("log in to the bounce mailbox: %w", err)
	}
	return s, nil
}

// cmd sends a command (none: read the greeting) and reads its one-line reply, giving what
// follows "+OK". Errors never carry the command, which may be the password.
func (s *pop3Conn) cmd(format string, args ...any) (string, error) {
	if s.done {
		return "", errors.New("the session has ended")
	}
	s.conn.SetDeadline(time.Now().Add(commandTimeout))
	if format != "" {
		if err := s.tp.PrintfLine(format, args...); err != nil {
			return "", s.fail(err)
		}
	}
	line, err := s.tp.ReadLine()
	if err != nil {
		return "", s.fail(err)
	}
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	if len(line) > 200 {
		line = line[:200]
	}
	return "", fmt.Errorf("%w: %q", errPOP3, line)
}

func (s *pop3Conn) fail(err error) error {
	s.done = true
	return err
}

func (s *pop3Conn) list(n int) ([]mailRef, error) {
	stat, err := s.cmd("STAT")
	if err != nil {
		return nil, err
	}
	if f := strings.Fields(stat); len(f) > 0 && f[0] == "0" {
		return nil, nil
	}
	if _, err := s.cmd("LIST"); err != nil {
		return nil, err
	}
	lines, err := s.tp.ReadDotLines()
	if err != nil {
		return nil, s.fail(err)
	}
	var refs []mailRef
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			return nil, fmt.Errorf("a LIST line reads %q", l)
		}
		id, err1 := strconv.ParseUint(f[0], 10, 32)
		sz, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("a LIST line reads %q", l)
		}
		refs = append(refs, mailRef{uint32(id), sz})
	}
	return refs[len(refs)-min(len(refs), n):], nil
}

func (s *pop3Conn) fetch(ids []uint32) ([]mailBody, error) {
	var mails []mailBody
	for _, id := range ids {
		if _, err := s.cmd("RETR %d", id); err != nil {
			return nil, err
		}
		// The reply is dot-stuffed and ends in a line holding only "."; the reader undoes
		// both. A mail larger than LIST said is cut, as IMAP's is.
		dr := s.tp.DotReader()
		raw, err := io.ReadAll(io.LimitReader(dr, maxMail))
		if err == nil {
			_, err = io.Copy(io.Discard, dr)
		}
		if err != nil {
			return nil, s.fail(err)
		}
		// It also gives LF line ends: back to CRLF, the mail as stored and as IMAP gives it,
		// so that a mail without a Message-Id keeps its key (its hash) whichever way it is read.
		mails = append(mails, mailBody{id, bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))})
	}
	return mails, nil
}

// remove marks the mail and ends the session, which is when the server deletes it.
func (s *pop3Conn) remove(ids []uint32) error {
	for _, id := range ids {
		if _, err := s.cmd("DELE %d", id); err != nil {
			return fmt.Errorf("DELE: %w", err)
		}
	}
	_, err := s.cmd("QUIT")
	s.done = true
	if err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}

// close ends a session that deleted nothing (or whose DELEs failed part way: the mail
// marked was processed, so QUIT may delete it).
func (s *pop3Conn) close() {
	if !s.done {
		s.cmd("QUIT")
		s.done = true
	}
	s.conn.Close()
}

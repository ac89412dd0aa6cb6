package bounce

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
)

// imapConn is a session with an IMAP mailbox (imap://, imaps://): the folder the URL's path
// names, INBOX without one. Mail is named by UID.
type imapConn struct {
	c        *client.Client
	messages uint32
}

func openIMAP(conn net.Conn, u *url.URL) (mailConn, error) {
	// go-imap's Timeout starts with the first command; the greeting comes before.
	conn.SetDeadline(time.Now().Add(commandTimeout))
	c, err := client.New(conn)
	if err != nil {
		return nil, fmt.Errorf("connect to the bounce mailbox: %w", err)
	}
	conn.SetDeadline(time.Time{})
	c.Timeout = commandTimeout
	pass, _ := u.User.Password()
	if err := c.Login(u.User.Username(), pass); err != nil {
		c.Logout()
		return nil, fmt.Errorf("log in to the bounce mailbox: %w", err)
	}
	name := strings.Trim(u.Path, "/")
	if name == "" {
		name = "INBOX"
	}
	status, err := c.Select(name, false)
	if err != nil {
		c.Logout()
		return nil, fmt.Errorf("select %s: %w", name, err)
	}
	return &imapConn{c: c, messages: status.Messages}, nil
}

func (s *imapConn) list(n int) ([]mailRef, error) {
	if s.messages == 0 {
		return nil, nil
	}
	seq := new(imap.SeqSet)
	seq.AddRange(s.messages-min(s.messages, uint32(n))+1, s.messages)
	msgs := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- s.c.Fetch(seq, []imap.FetchItem{imap.FetchUid, imap.FetchRFC822Size}, msgs) }()
	var refs []mailRef
	for msg := range msgs {
		refs = append(refs, mailRef{msg.Uid, int64(msg.Size)})
	}
	return refs, <-done
}

func (s *imapConn) fetch(ids []uint32) ([]mailBody, error) {
	set := new(imap.SeqSet)
	set.AddNum(ids...)
	section := &imap.BodySectionName{Peek: true}
	msgs := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- s.c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, msgs) }()
	var mails []mailBody
	for msg := range msgs {
		var raw []byte
		if r := msg.GetBody(section); r != nil {
			raw, _ = io.ReadAll(io.LimitReader(r, maxMail))
		}
		mails = append(mails, mailBody{msg.Uid, raw})
	}
	return mails, <-done
}

func (s *imapConn) remove(ids []uint32) error {
	set := new(imap.SeqSet)
	set.AddNum(ids...)
	if err := s.c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.DeletedFlag}, nil); err != nil {
		return fmt.Errorf("flag: %w", err)
	}
	if err := s.c.Expunge(nil); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

func (s *imapConn) close() { s.c.Logout() }

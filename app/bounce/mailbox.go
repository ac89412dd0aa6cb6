package bounce

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"mailer/app/mailing"
)

// Mailbox polls the bounce mailbox (BOUNCE_MAILBOX_URL) over IMAP or POP3: it reads every
// report in it, records what matches a delivery and deletes that; mail it cannot read, or
// that matches no delivery, stays for a person to look at and is counted.
type Mailbox struct {
	URL     string
	Service *Service
	// ReturnPath and Secret check VERP tokens (MAIL_RETURN_PATH, SECRET_KEY).
	ReturnPath string
	Secret     []byte
	Log        *slog.Logger
	// Metrics counts processed mail and the mail left; may be nil.
	Metrics MailboxObserver
	// TLS is used for imaps:// and pop3s:// (nil: the system's roots). Tests trust their own CA here.
	TLS *tls.Config
	// Batch bounds the mail read per poll, so one poll ends well within its minute.
	Batch int
}

// MailboxObserver is what the poller tells metrics.
type MailboxObserver interface {
	BounceMail(outcome string, n int)
	BounceMailLeft(unparseable, unmatched int)
}

// Outcomes of one mail in the bounce mailbox.
const (
	MailProcessed   = "processed"   // recorded (or a report that carries nothing) and deleted
	MailUnparseable = "unparseable" // not a DSN or ARF report: left
	MailUnmatched   = "unmatched"   // names no delivery of ours: left
	MailTooLarge    = "too_large"   // over maxMail: left unread
)

// maxMail is the largest mail read: a report quotes at most the original message.
const maxMail = 5 << 20

// PollResult counts what one poll did with the mailbox's mail.
type PollResult struct {
	Processed, Unparseable, Unmatched, TooLarge int
}

// Per-connection limits: a mailbox server that stops answering costs a poll at most this
// long per command, and the next poll starts afresh.
const (
	dialTimeout    = 15 * time.Second
	commandTimeout = 30 * time.Second
)

// mailConn is one logged-in session with the bounce mailbox, in the protocol its URL names
// (mailbox_imap.go, mailbox_pop3.go). Mail is named by an id of the protocol's own.
type mailConn interface {
	// list gives the newest n mails with their sizes. Newest, not first: mail left in the
	// mailbox (unmatched, unparseable) piles up at its front, and must never keep a poll
	// from reaching the bounces that arrive behind it.
	list(n int) ([]mailRef, error)
	// fetch reads the mails named.
	fetch(ids []uint32) ([]mailBody, error)
	// remove deletes the mails named for good; until it returns nil nothing is deleted.
	remove(ids []uint32) error
	// close ends the session.
	close()
}

type mailRef struct {
	id   uint32
	size int64
}

type mailBody struct {
	id  uint32
	raw []byte
}

// mailProtocols are the schemes BOUNCE_MAILBOX_URL may name: their default port, whether
// they speak TLS from the start, and how a session logs in on a connection.
var mailProtocols = map[string]struct {
	port string
	tls  bool
	open func(conn net.Conn, u *url.URL) (mailConn, error)
}{
	"imap":  {"143", false, openIMAP},
	"imaps": {"993", true, openIMAP},
	"pop3":  {"110", false, openPOP3},
	"pop3s": {"995", true, openPOP3},
}

// Poll reads the mailbox once. An error (connection, login, database) ends the poll with
// nothing of the unfinished mail deleted; the next poll takes it again.
func (m *Mailbox) Poll(ctx context.Context) (PollResult, error) {
	var res PollResult
	u, err := url.Parse(m.URL)
	if err != nil {
		return res, errors.New("bad BOUNCE_MAILBOX_URL")
	}
	proto, ok := mailProtocols[u.Scheme]
	if !ok {
		return res, fmt.Errorf("mailbox scheme %s is not supported (use imaps:// or pop3s://)", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), proto.port)
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	var conn net.Conn
	if proto.tls {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg = cfg.Clone()
		cfg.ServerName = u.Hostname()
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: cfg}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return res, fmt.Errorf("connect to the bounce mailbox: %w", err)
	}
	// A cancelled poll (worker shutting down) closes the connection, which ends any command.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := proto.open(conn, u)
	if err != nil {
		conn.Close()
		return res, err
	}
	defer c.close()

	batch := m.Batch
	if batch <= 0 {
		batch = 200
	}
	// Sizes first, so that a huge mail is never downloaded.
	refs, err := c.list(batch)
	if err != nil {
		return res, fmt.Errorf("list mail: %w", err)
	}
	var wanted []uint32
	for _, r := range refs {
		if r.size > maxMail {
			res.TooLarge++
			continue
		}
		wanted = append(wanted, r.id)
	}
	var mails []mailBody
	if len(wanted) > 0 {
		if mails, err = c.fetch(wanted); err != nil {
			return res, fmt.Errorf("fetch mail: %w", err)
		}
	}
	var done []uint32
	var recErr error
	for _, mb := range mails {
		outcome, err := m.process(ctx, mb.raw)
		if err != nil {
			recErr = err
			break
		}
		switch outcome {
		case MailProcessed:
			res.Processed++
			done = append(done, mb.id)
		case MailUnparseable:
			res.Unparseable++
		case MailUnmatched:
			res.Unmatched++
		}
	}
	if len(done) > 0 {
		// The bounces are recorded; a failure to delete only means reading them again, and
		// their keys make that a no-op.
		if err := c.remove(done); err != nil {
			return res, fmt.Errorf("delete processed mail: %w", err)
		}
	}
	m.observe(res)
	if res.Unparseable+res.Unmatched+res.TooLarge > 0 {
		m.Log.Warn("bounce mailbox: mail left", "unparseable", res.Unparseable, "unmatched", res.Unmatched, "too_large", res.TooLarge)
	}
	if recErr != nil {
		return res, recErr
	}
	return res, nil
}

// PollMailbox is Poll for the worker's periodic task: it logs what the poll did.
func (m *Mailbox) PollMailbox(ctx context.Context) error {
	res, err := m.Poll(ctx)
	if err != nil {
		m.Log.Error("bounce mailbox poll failed", "err", err)
		return err
	}
	if res.Processed > 0 {
		m.Log.Info("bounce mailbox polled", "processed", res.Processed)
	}
	return nil
}

func (m *Mailbox) observe(res PollResult) {
	if m.Metrics == nil {
		return
	}
	m.Metrics.BounceMail(MailProcessed, res.Processed)
	m.Metrics.BounceMailLeft(res.Unparseable+res.TooLarge, res.Unmatched)
}

// process reads one mail and records its reports; the outcome says what to do with it.
// Only a database error comes back as an error. A parser panic on hostile mail must not
// take the worker down: it counts as unparseable.
func (m *Mailbox) process(ctx context.Context, raw []byte) (outcome string, err error) {
	defer func() {
		if p := recover(); p != nil {
			m.Log.Error("bounce mailbox: parser panic", "panic", fmt.Sprint(p))
			outcome, err = MailUnparseable, nil
		}
	}()
	rep, err := ParseReport(raw)
	if err != nil {
		return MailUnparseable, nil
	}
	if len(rep.Reports) == 0 {
		return MailProcessed, nil // a delay warning, a not-spam report: nothing to record
	}
	var delivery int64
	for _, a := range rep.VERP {
		if id, ok := mailing.ParseVERPAddress(m.ReturnPath, m.Secret, a); ok && m.ReturnPath != "" {
			delivery = id
			break
		}
	}
	for i := range rep.Reports {
		rep.Reports[i].DeliveryID = delivery
	}
	res, err := m.Service.Record(ctx, Options{Source: mailing.BounceFromMailbox, Provider: "mailbox",
		EventKey: mailKey(raw), DeliveryOnly: true}, rep.Reports)
	switch {
	case errors.Is(err, ErrReplay):
		return MailProcessed, nil // recorded by an earlier poll that could not delete it
	case errors.Is(err, ErrMalformed):
		return MailUnparseable, nil
	case err != nil:
		return "", err
	case res.Unmatched == len(rep.Reports):
		return MailUnmatched, nil
	}
	return MailProcessed, nil
}

// mailKey identifies a bounce mail for replay protection: its Message-Id, else its hash.
func mailKey(raw []byte) string {
	if h, err := textproto.NewReader(newBufReader(raw)).ReadMIMEHeader(); err == nil || len(h) > 0 {
		if id := strings.TrimSpace(h.Get("Message-Id")); id != "" && len(id) < 200 {
			return id
		}
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

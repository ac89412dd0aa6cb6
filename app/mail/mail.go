// Package mail builds and sends email. Senders hide the transport: real SMTP in production,
// a log printout in development (like Django's console backend) when SMTP_URL is unset.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one email to one recipient.
type Message struct {
	From    string
	To      string
	Subject string
	Text    string
	HTML    string // optional
	// MessageID without angle brackets; generated when empty.
	MessageID string
	Headers   map[string]string
	Date      time.Time
}

// Sender delivers a message and returns the server's reply on success.
type Sender interface {
	Send(ctx context.Context, m Message) (reply string, err error)
}

// ErrHeaderInjection is returned when a header value holds CR or LF.
var ErrHeaderInjection = errors.New("mail: header value contains a line break")

// ErrHeaderTooLong is returned for an extra header that would not fit on one line.
var ErrHeaderTooLong = errors.New("mail: header too long")

func clean(v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return ErrHeaderInjection
	}
	return nil
}

// Build renders m as RFC 5322 bytes. Header values with CR or LF are refused, never
// folded, so user text can never add a header.
func Build(m Message) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	for _, v := range []string{m.Subject, m.MessageID} {
		if err := clean(v); err != nil {
			return nil, err
		}
	}
	for k, v := range m.Headers {
		if err := clean(k); err != nil {
			return nil, err
		}
		if err := clean(v); err != nil {
			return nil, err
		}
		// These headers are not folded: keep them inside the 998-octet line limit.
		if len(k)+len(v) > 900 {
			return nil, ErrHeaderTooLong
		}
	}
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	if m.MessageID == "" {
		m.MessageID = RandomID(from.Address)
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from.String())
	// Encoded words are folded onto continuation lines: a long name or subject would
	// otherwise pass the 998-octet line limit and be refused by the server.
	fold := func(v string) string { return strings.ReplaceAll(v, "?= =?", "?=\r\n =?") }
	toValue := to.String()
	if len(toValue) > 78 && to.Name != "" && mime.QEncoding.Encode("utf-8", to.Name) == to.Name {
		toValue = encodedWords(to.Name) + " <" + to.Address + ">"
	}
	h("To", fold(toValue))
	subject := mime.QEncoding.Encode("utf-8", m.Subject)
	if subject == m.Subject && len(subject) > 69 {
		subject = encodedWords(m.Subject)
	}
	h("Subject", fold(subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	h("MIME-Version", "1.0")
	for k, v := range m.Headers {
		h(k, v)
	}
	if m.HTML == "" {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes(), nil
	}
	boundary := RandomID("b")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.typ)
		writeQP(&b, part.body)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// encodedWords writes s as RFC 2047 encoded-words of at most 75 octets. The mime package
// leaves plain ASCII as it is, and an ASCII word too long to fold at a space (FuzzBuildMessage
// found a 1,000-character one) would pass the 998-octet line limit; readers join adjacent
// encoded-words without the space between them, so s reads back unchanged.
func encodedWords(s string) string {
	var words []string
	for len(s) > 0 {
		n := min(len(s), 45) // base64 of 45 octets is 60 characters, 72 with the markers
		for n < len(s) && n > 1 && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

func writeQP(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	w.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")))
	w.Close()
}

// RandomID returns a unique id@domain for Message-ID and boundaries.
func RandomID(domainOrAddr string) string {
	buf := make([]byte, 12)
	rand.Read(buf)
	domain := domainOrAddr
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	return hex.EncodeToString(buf) + "@" + domain
}

// LogSender prints every message to the log instead of sending it. Links stay readable
// because the text part is logged as is: this is the development mail mode.
type LogSender struct{ Log *slog.Logger }

func (s LogSender) Send(ctx context.Context, m Message) (string, error) {
	if _, err := Build(m); err != nil {
		return "", err
	}
	s.Log.Info("development mail (SMTP_URL is not set, nothing was sent)",
		"to", m.To, "subject", m.Subject, "body", m.Text)
	return "250 logged (development mail mode)", nil
}

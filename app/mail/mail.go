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
	// ReturnPath is the envelope sender (SMTP MAIL FROM), where servers send bounces; empty
	// means From's address. Mailings set a VERP address here so a bounce names its delivery.
	ReturnPath string
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
	// Encoded words are folded onto continuation lines: a long name or subject would
	// otherwise pass the 998-octet line limit and be refused by the server.
	fold := func(v string) string { return strings.ReplaceAll(v, "?= =?", "?=\r\n =?") }
	h("From", fold(addressValue(from)))
	h("To", fold(addressValue(to)))
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

// addressValue is a's header value; a long plain-ASCII name, which mail.Address leaves as
// one quoted string, is written as encoded-words so that the header can be folded.
func addressValue(a *mail.Address) string {
	v := a.String()
	if len(v) > 78 && a.Name != "" && mime.QEncoding.Encode("utf-8", a.Name) == a.Name {
		v = encodedWords(a.Name) + " <" + a.Address + ">"
	}
	return v
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

// writeQP writes s quoted-printable (RFC 2045 §6.7) with CRLF line ends (a lone LF is a
// line end, a lone CR is data): a line of safe characters within 76 is copied as it is;
// otherwise bytes outside 33–126 and "=" are written =XX, as is a space or tab ending a line,
// with soft breaks keeping every line within 76. mime/quotedprintable's Writer, which works
// byte by byte, was a seventh of a send's CPU with a 20 KB HTML part; its output and this
// decode to the same text.
func writeQP(b *bytes.Buffer, s string) {
	b.Grow(len(s) + len(s)/8 + 16)
	out := b.AvailableBuffer()
	for {
		line, rest, more := strings.Cut(s, "\n")
		if more {
			line = strings.TrimSuffix(line, "\r")
		}
		out = appendQPLine(out, line)
		if !more {
			break
		}
		out = append(out, "\r\n"...)
		s = rest
	}
	b.Write(out)
}

// qpLiteral marks the bytes a quoted-printable line may carry as they are (space and tab
// only when not ending the line).
var qpLiteral = func() (t [256]bool) {
	for c := 33; c <= 126; c++ {
		t[c] = c != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

const qpMaxLine = 76

// appendQPLine appends one line, copying runs of literal bytes at once.
func appendQPLine(out []byte, line string) []byte {
	const hex = "0123456789ABCDEF"
	n := 0 // characters on the current output line
	for i := 0; i < len(line); {
		// The longest literal run from i that fits before a soft break ("=" needs a place);
		// the line's last character may take the 76th place, and a blank may not end it.
		room := qpMaxLine - 1 - n
		j := i
		for j < len(line) && j-i < room && qpLiteral[line[j]] {
			j++
		}
		if j == len(line)-1 && j-i == room && qpLiteral[line[j]] && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j == len(line) && j > i && (line[j-1] == ' ' || line[j-1] == '\t') {
			j-- // a blank ending the line is encoded
		}
		out = append(out, line[i:j]...)
		n += j - i
		i = j
		if i == len(line) {
			break
		}
		if n+3 > qpMaxLine-1 && !(i == len(line)-1 && n+3 <= qpMaxLine) || n >= qpMaxLine-1 {
			out = append(out, "=\r\n"...)
			n = 0
			if qpLiteral[line[i]] && !(i == len(line)-1 && (line[i] == ' ' || line[i] == '\t')) {
				continue // the run goes on on the next line
			}
		}
		c := line[i]
		out = append(out, '=', hex[c>>4], hex[c&0x0f])
		n += 3
		i++
	}
	return out
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

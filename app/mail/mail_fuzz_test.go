package mail_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	mailpkg "mailer/app/mail"
)

// foldedHeadersFixed turns on the RFC 5322 limit of 998 octets a line: today Build writes
// the encoded Subject and To on one line however long (a 250-character CJK subject makes a
// 2,700-octet line that go-smtp refuses with 554 "too long a line"). Set it to true with
// the fix (folding between encoded-words) in Build.
const foldedHeadersFixed = true

// FuzzBuildMessage builds messages from arbitrary recipient names and addresses, subjects,
// bodies and header values, as the sending engine does (To from mail.Address.String, or a
// raw To string), and checks that user text never escapes its place: Build either refuses
// the message, or every header line is one Build writes (or a folded continuation), line
// ends are CRLF throughout, To names exactly the one recipient, no Cc or Bcc appears, and
// the text and HTML come back unchanged from their MIME parts. Run it with
//
//	go test -run='^$' -fuzz=FuzzBuildMessage -fuzztime=20s ./app/mail/
func FuzzBuildMessage(f *testing.F) {
	type seed struct {
		name, addr, subject, text, html, unsub string
		rawTo                                  bool
	}
	for _, s := range []seed{
		{"Ann Example", "ann@example.com", "News for Ann", "Hello Ann\n", "", "<http://localhost/unsubscribe/1.x>", false},
		{"Ann\r\nBcc: eve@example.com", "ann@example.com", "Hi", "x", "", "<http://x/>", false},
		{"Ann", "ann@example.com", "Hi\r\nBcc: eve@example.com", "x", "", "<http://x/>", false},
		{"Ann", "ann@example.com", "Hi", "x", "", "<http://x/>\nCc: eve@example.com", false},
		{"", "ann@example.com, eve@example.com", "Hi", "x", "", "", true},
		{"", "Ann <ann@example.com>\r\nBcc: eve@example.com", "Hi", "x", "", "", true},
		{"", "\"Eve\r\nBcc: x@example.com\" <ann@example.com>", "Hi", "x", "", "", true},
		{"Ännchen, \"the\" <boss>", "ann@example.com", "Привет, =?utf-8?q?x?= " + strings.Repeat("ж", 100), "line\rbare\nlf\r\n.\r\n", "<p>hi</p>\n--boundary\n", "", false},
		{"Ann", "ann@example.com", " lead and trail\t", strings.Repeat("long line ", 100), "x", "", false},
		{"Ann", "not an address", "Hi", "x", "", "", false},
		{"\x00\x7f\u2028", "ann@example.com", "\x00\u2028\u0085\v\f", "\x00", "\x00", "\x00", false},
	} {
		f.Add(s.name, s.addr, s.subject, s.text, s.html, s.unsub, s.rawTo)
	}
	const from = "Mailer <noreply@example.com>"
	f.Fuzz(func(t *testing.T, name, addr, subject, text, html, unsub string, rawTo bool) {
		to := addr
		if !rawTo {
			to = (&mail.Address{Name: name, Address: addr}).String()
		}
		m := mailpkg.Message{
			From: from, To: to, Subject: subject, Text: text, HTML: html,
			MessageID: "run1.d1@example.com",
			Headers:   map[string]string{"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
			Date:      time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
		}
		out, err := mailpkg.Build(m)
		hasBreak := strings.ContainsAny(subject+unsub, "\r\n")
		if err != nil {
			if errors.Is(err, mailpkg.ErrHeaderInjection) && !hasBreak {
				t.Fatalf("refused as header injection without a line break: %v", err)
			}
			return
		}
		if hasBreak {
			t.Fatalf("a subject or header value with a line break was built:\n%s", out)
		}
		wantTo, err := mail.ParseAddress(to)
		if err != nil {
			t.Fatalf("built with a To Build could not have parsed: %v", err)
		}

		// CRLF line ends only, in the headers and the body.
		if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) ||
			bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\r")) {
			t.Fatalf("bare CR or LF in the message:\n%q", out)
		}
		head, _, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("no blank line after the headers:\n%q", out)
		}
		known := map[string]int{"From": 0, "To": 0, "Subject": 0, "Date": 0, "Message-ID": 0, "MIME-Version": 0,
			"Content-Type": 0, "Content-Transfer-Encoding": 0, "List-Unsubscribe": 0, "List-Unsubscribe-Post": 0}
		for i, line := range strings.Split(string(head), "\r\n") {
			if foldedHeadersFixed && len(line) > 998 {
				t.Fatalf("header line of %d octets: %.100q…", len(line), line)
			}
			if line != "" && (line[0] == ' ' || line[0] == '\t') && i > 0 {
				continue // folded continuation
			}
			k, _, ok := strings.Cut(line, ": ")
			if _, isKnown := known[k]; !ok || !isKnown {
				t.Fatalf("header line %q is not one Build writes:\n%s", line, head)
			}
			known[k]++
		}
		for k, n := range known {
			want := 1
			if k == "Content-Transfer-Encoding" && html != "" {
				want = 0 // on the parts instead
			}
			if n != want {
				t.Fatalf("%d %s headers, want %d:\n%s", n, k, want, head)
			}
		}

		msg, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%q", err, out)
		}
		for _, k := range []string{"Cc", "Bcc", "Reply-To", "Sender"} {
			if _, ok := msg.Header[k]; ok {
				t.Fatalf("a %s header appeared:\n%s", k, head)
			}
		}
		tos, err := msg.Header.AddressList("To")
		if err != nil || len(tos) != 1 || tos[0].Address != wantTo.Address {
			t.Fatalf("To %q reads as %v (%v), want only %q", msg.Header.Get("To"), tos, err, wantTo.Address)
		}
		if f, err := msg.Header.AddressList("From"); err != nil || len(f) != 1 || f[0].Address != "noreply@example.com" {
			t.Fatalf("From reads as %v (%v)", f, err)
		}
		// The subject decodes to what was given, when it is text a reader keeps as it is:
		// no edge whitespace (unfolding trims it), no encoded-word lookalike.
		if subject == strings.TrimSpace(subject) && !strings.Contains(subject, "=?") {
			got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || got != subject {
				t.Fatalf("subject %q reads back as %q (%v)", subject, got, err)
			}
		}

		// The text and HTML come back from their parts, line ends aside.
		norm := func(s string) string {
			return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		}
		qp := func(r io.Reader) string {
			b, err := io.ReadAll(quotedprintable.NewReader(r))
			if err != nil {
				t.Fatalf("quoted-printable body: %v", err)
			}
			return norm(string(b))
		}
		mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
		}
		if html == "" {
			if mediaType != "text/plain" {
				t.Fatalf("Content-Type %q without HTML", mediaType)
			}
			if got := qp(msg.Body); got != norm(text) {
				t.Fatalf("text reads back as %q, want %q", got, norm(text))
			}
			return
		}
		if mediaType != "multipart/alternative" {
			t.Fatalf("Content-Type %q with HTML", mediaType)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for _, want := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
			p, err := mr.NextRawPart()
			if err != nil {
				t.Fatalf("%s part: %v", want.typ, err)
			}
			if typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); typ != want.typ {
				t.Fatalf("part is %q, want %q", typ, want.typ)
			}
			if got := qp(p); got != norm(want.body) {
				t.Fatalf("%s reads back as %q, want %q", want.typ, got, norm(want.body))
			}
		}
		if _, err := mr.NextRawPart(); err != io.EOF {
			t.Fatalf("more than two parts: %v", err)
		}
	})
}

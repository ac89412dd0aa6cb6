package mail_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	mailpkg "mailer/app/mail"
)

// TestLongAddressHeadersAreFolded: a sender or recipient name of 120 plain-ASCII characters
// (a company's full legal name) is written as encoded-words on folded lines of at most 78
// octets, and reads back as the same name.
func TestLongAddressHeadersAreFolded(t *testing.T) {
	name := strings.Repeat("Northwind Traders International ", 4)[:120]
	raw, err := mailpkg.Build(mailpkg.Message{
		From:    (&mail.Address{Name: name, Address: "news@northwind.example"}).String(),
		To:      (&mail.Address{Name: name, Address: "ann@example.com"}).String(),
		Subject: "Hello", Text: "Hi", Date: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d octets: %q", len(line), line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"From", "To"} {
		a, err := msg.Header.AddressList(h)
		if err != nil || len(a) != 1 || a[0].Name != name {
			t.Errorf("%s reads back as %v (%v), want the name %q", h, a, err, name)
		}
	}
}

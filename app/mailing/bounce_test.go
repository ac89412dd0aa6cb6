package mailing_test

import (
	"strings"
	"testing"

	"mailer/app/mailing"
)

func TestSMTPBounceClassifiesTheAnswer(t *testing.T) {
	for _, c := range []struct {
		response string
		want     string
	}{
		{"550 5.1.1 mailbox unavailable", mailing.BounceHard},
		{"550 5.1.10 null MX", mailing.BounceHard},
		{"553 5.1.3 bad address syntax", mailing.BounceHard},
		{"550 Requested action not taken: mailbox unavailable", mailing.BounceHard},
		{"552 5.2.2 mailbox full", mailing.BounceSoft},
		{"452 4.2.2 over quota", mailing.BounceSoft},
		{"450 4.1.8 sender domain does not resolve", mailing.BounceSoft},
		{"450 greylisted, come back later", mailing.BounceSoft},
		{"451 4.3.0 try again later", ""},          // the server's own trouble
		{"421 4.4.2 closing connection", ""},       // the server going away
		{"421 service not available", ""},          // likewise, no enhanced code
		{"550 5.7.1 message rejected as spam", ""}, // about the content, not the address
		{"554 5.7.1 relay access denied", ""},      // about the sender
		{"dial tcp 127.0.0.1:25: connection refused", ""},
	} {
		code := 0
		if len(c.response) >= 3 && c.response[0] >= '2' && c.response[0] <= '5' {
			code = int(c.response[0]-'0')*100 + int(c.response[1]-'0')*10 + int(c.response[2]-'0')
		}
		if code == 0 && c.want != "" {
			t.Fatalf("bad case %q", c.response)
		}
		if got := mailing.SMTPBounce(code, mailing.EnhancedCode(c.response)); got != c.want {
			t.Errorf("%q: %q (enhanced %q), want %q", c.response, got, mailing.EnhancedCode(c.response), c.want)
		}
	}
	for in, want := range map[string]string{"250 2.0.0 ok": "2.0.0", "550 5.1.1 x": "5.1.1", "550-5.1.1 x": "5.1.1",
		"550 mailbox": "", "550 9.1.1 x": "", "550 5.1": "", "": "", "550 5.1.1234 x": ""} {
		if got := mailing.EnhancedCode(in); got != want {
			t.Errorf("EnhancedCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVERPAddressRoundTripsAndRefusesForgeries(t *testing.T) {
	secret := []byte("test-secret-key-0123456789abcdef0123456789")
	addr := mailing.VERPAddress("bounces@example.com", secret, 12345)
	if !strings.HasPrefix(addr, "bounces+12345-") || !strings.HasSuffix(addr, "@example.com") {
		t.Fatalf("VERPAddress = %q", addr)
	}
	if local := addr[:strings.IndexByte(addr, '@')]; len(local) > 64 {
		t.Fatalf("local part %q is longer than RFC 5321 allows", local)
	}
	for _, ok := range []string{addr, strings.ToUpper(addr), "<" + addr + ">"} {
		if id, valid := mailing.ParseVERPAddress("bounces@example.com", secret, ok); !valid || id != 12345 {
			t.Errorf("ParseVERPAddress(%q) = %d, %v", ok, id, valid)
		}
	}
	token := addr[len("bounces+") : len(addr)-len("@example.com")]
	for _, bad := range []string{
		strings.Replace(addr, "12345-", "12346-", 1), // another delivery, same MAC
		strings.Replace(addr, "12345-", "012345-", 1),
		strings.Replace(addr, "@example.com", "@example.org", 1),
		"other+" + token + "@example.com",
		"bounces@example.com",
		"bounces+" + token[:len(token)-1] + "a@example.com",
		mailing.VERPAddress("bounces@example.com", []byte("another secret of enough length!!"), 12345),
	} {
		if id, valid := mailing.ParseVERPAddress("bounces@example.com", secret, bad); valid {
			t.Errorf("ParseVERPAddress(%q) accepted a forgery as %d", bad, id)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	id := mailing.MessageID(9, 7, "3f2a9c", "example.com")
	if id != "9.7.3f2a9c@example.com" {
		t.Fatalf("MessageID = %q, want {delivery}.{run}.{installation}@domain", id)
	}
	if r, d, ok := mailing.ParseMessageID("<" + id + ">"); !ok || r != 7 || d != 9 {
		t.Fatalf("ParseMessageID = %d, %d, %v", r, d, ok)
	}
	for _, bad := range []string{"", "abc@example.com", "9.7@example.com", "9.7.@x", "9.7.i", "-1.7.i@x", "+9.7.i@x", "9.x.i@x",
		"run7.d9@example.com", "0100018@email.amazonses.com"} {
		if _, _, ok := mailing.ParseMessageID(bad); ok {
			t.Errorf("ParseMessageID(%q) accepted", bad)
		}
	}
}

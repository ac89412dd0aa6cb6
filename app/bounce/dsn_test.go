package bounce_test

import (
	"errors"
	"strings"
	"testing"

	"mailer/app/bounce"
	"mailer/app/mailing"
)

func TestParseReportReadsDSNsAndAbuseReports(t *testing.T) {
	const verp = "bounces+7-abcdefghijklmnop@example.com"
	r, err := bounce.ParseReport(fill(t, "postfix_dsn_hard.eml", verp, "jane@example.org", "run3.d7@example.com"))
	if err != nil || len(r.Reports) != 1 {
		t.Fatal(r, err)
	}
	if got := r.Reports[0]; got.Email != "jane@example.org" || got.Kind != mailing.BounceHard || got.MessageID != "<run3.d7@example.com>" ||
		!strings.Contains(got.Reason, "5.1.1") || !strings.Contains(got.Reason, "User unknown") {
		t.Fatalf("report = %+v", got)
	}
	if !strings.Contains(strings.Join(r.VERP, " "), verp) {
		t.Fatalf("VERP candidates %v miss the bounce's To", r.VERP)
	}
	r, err = bounce.ParseReport(fill(t, "gmail_dsn_mailbox_full.eml", "", "mary@example.org", "m@x"))
	if err != nil || len(r.Reports) != 1 || r.Reports[0].Kind != mailing.BounceSoft {
		t.Fatalf("mailbox full: %+v, %v", r, err)
	}
	r, err = bounce.ParseReport(fill(t, "rfc5965_arf_abuse.eml", verp, "rick@example.org", "m@x"))
	if err != nil || len(r.Reports) != 1 || r.Reports[0].Kind != mailing.BounceComplaint || r.Reports[0].Email != "rick@example.org" ||
		!strings.Contains(strings.Join(r.VERP, " "), verp) {
		t.Fatalf("ARF: %+v, %v", r, err)
	}
	// A delay warning and a not-spam report are reports that carry nothing.
	delayed := strings.Replace(string(fill(t, "postfix_dsn_hard.eml", verp, "a@b.example", "m@x")), "Action: failed", "Action: delayed", 1)
	if r, err := bounce.ParseReport([]byte(delayed)); err != nil || len(r.Reports) != 0 {
		t.Fatalf("delayed: %+v, %v", r, err)
	}
	notSpam := strings.Replace(string(fill(t, "rfc5965_arf_abuse.eml", verp, "a@b.example", "m@x")), "Feedback-Type: abuse", "Feedback-Type: not-spam", 1)
	if r, err := bounce.ParseReport([]byte(notSpam)); err != nil || len(r.Reports) != 0 {
		t.Fatalf("not-spam: %+v, %v", r, err)
	}
	for name, raw := range map[string]string{
		"auto-reply": string(sample(t, "autoreply.eml")),
		"empty":      "",
		"binary":     "\x00\x01\x02",
		"no status":  "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n",
		"cut off":    string(fill(t, "postfix_dsn_hard.eml", verp, "a@b.example", "m@x"))[:900],
		"other type": "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n",
	} {
		if _, err := bounce.ParseReport([]byte(raw)); !errors.Is(err, bounce.ErrNotAReport) {
			t.Errorf("%s: %v, want ErrNotAReport", name, err)
		}
	}
}

func TestDSNStatusClassification(t *testing.T) {
	dsn := func(status, diag string) string {
		return "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\n" +
			"Action: failed\r\nStatus: " + status + "\r\nDiagnostic-Code: " + diag + "\r\n\r\n--b--\r\n"
	}
	for _, c := range []struct{ status, diag, want string }{
		{"5.1.1", "smtp; 550 5.1.1 no such user", mailing.BounceHard},
		{"5.1.10", "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound", mailing.BounceHard},
		{"5.0.0", "smtp; 550 User unknown", mailing.BounceHard},
		{"5.2.2", "smtp; 552 mailbox full", mailing.BounceSoft},
		{"4.4.7", "smtp; 421 gave up", mailing.BounceSoft},
		{"5.7.1", "smtp; 554 5.7.1 rejected by policy", mailing.BounceSoft},
	} {
		r, err := bounce.ParseReport([]byte(dsn(c.status, c.diag)))
		if err != nil || len(r.Reports) != 1 || r.Reports[0].Kind != c.want {
			t.Errorf("%s %q: %+v, %v; want %s", c.status, c.diag, r, err, c.want)
		}
	}
}

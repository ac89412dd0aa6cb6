package bounce_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailer/app/bounce"
)

// FuzzParseReport: whatever lands in the bounce mailbox, the parser returns a report or
// ErrNotAReport, never panics, and every report it gives has a known kind.
func FuzzParseReport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nX: y\r\n\r\nAction: failed\r\n--b--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := bounce.ParseReport(raw)
		if err != nil {
			if !errors.Is(err, bounce.ErrNotAReport) {
				t.Fatalf("error %v is not ErrNotAReport", err)
			}
			return
		}
		for _, rep := range r.Reports {
			if rep.Kind != "hard" && rep.Kind != "soft" && rep.Kind != "complaint" {
				t.Fatalf("kind %q", rep.Kind)
			}
		}
	})
}

// FuzzWebhookJSON: the JSON decoders of Mailer's own format, Postmark's and SES's (inside a
// verified SNS message, so fed here directly) refuse bad input with ErrMalformed and never
// panic; whatever they accept is a report of a known kind.
func FuzzWebhookJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte(`{"email":"a@example.com","type":"hard","reason":"x","message_id":"<run1.d2@x>"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(b bounce.Batch, err error) {
			if err != nil {
				if !errors.Is(err, bounce.ErrMalformed) {
					t.Fatalf("error %v is not ErrMalformed", err)
				}
				return
			}
			for _, r := range b.Reports {
				if r.Kind != "hard" && r.Kind != "soft" && r.Kind != "complaint" {
					t.Fatalf("kind %q", r.Kind)
				}
			}
		}
		check(bounce.ParseGeneric(body))
		check(bounce.ParsePostmark(body))
		reports, err := bounce.ParseSESForTest(body)
		check(bounce.Batch{Reports: reports}, err)
		// An unsigned body never gets through the signed formats.
		req := bounce.Request{Body: body, Header: func(string) string { return "" }}
		if _, err := bounce.ParseMailgun(req, "key", time.Now()); err == nil {
			t.Fatal("an unsigned Mailgun body was accepted")
		}
		// Its client dials nothing: a fuzzed certificate URL must never reach the network.
		sns := &bounce.SNS{TopicARNs: []string{topic}, HTTP: &http.Client{Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("no network in fuzzing")
			}}}}
		if _, err := sns.Parse(context.Background(), body, time.Now()); err == nil {
			t.Fatal("an unsigned SNS body was accepted")
		}
	})
}

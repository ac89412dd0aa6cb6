package web

import (
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"mailer/app/mailing"
)

// Fuzz targets for the API's JSON decoders: whatever the body, decodeJSON answers a 400
// problem naming what is wrong or a value, and what the shared validation accepts keeps
// the forms' promises. Run one with
//
//	go test -run='^$' -fuzz=FuzzAPIClientJSON -fuzztime=20s ./app/web/

func checkDecodeError(t *testing.T, body []byte, err error) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 400 || ae.detail == "" {
		t.Fatalf("%q: error %v is not a 400 problem", body, err)
	}
	for _, f := range ae.fields {
		// A key may be empty in JSON: then so is the unknown field's name.
		if (f.Field == "" && f.Code != "unknown_field") || f.Code == "" || f.Message == "" {
			t.Fatalf("%q: field error %+v without a field, code or message", body, f)
		}
	}
}

func FuzzAPIClientJSON(f *testing.F) {
	for _, s := range []string{
		`{"email":"ann@example.com","full_name":"Ann","comment":"c","tags":["a","b"]}`,
		`{"email":"ann@example.com","fullname":"typo"}`, `{"email":42}`, `{"tags":"x"}`, `[]`, `{`, ``, `null`,
		`{"email":"a@b.c"} {}`, `{"email":"a\u0000@example.com"}`, `{"full_name":"a\nb","email":"x@y.z"}`,
		`{"clients":[{"email":"a@example.com"}]}`, `{"email":"ann@example.com","tags":["a,b"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in apiClientIn
		err := decodeJSON(body, &in)
		if err != nil {
			checkDecodeError(t, body, err)
			return
		}
		var cl mailing.Client
		errs := in.apply(&cl, "")
		if len(errs) > 0 || in.Email == nil {
			return
		}
		if _, perr := mail.ParseAddress(cl.Email); perr != nil || cl.Email != strings.ToLower(strings.TrimSpace(cl.Email)) {
			t.Fatalf("%q: accepted email %q", body, cl.Email)
		}
		for _, v := range append([]string{cl.Email, cl.FullName, cl.Comment}, cl.Tags...) {
			if strings.ContainsRune(v, 0) {
				t.Fatalf("%q: accepted a NUL byte", body)
			}
		}
		if strings.ContainsAny(cl.FullName, "\r\n") || len(cl.Tags) > mailing.MaxTags {
			t.Fatalf("%q: accepted %+v", body, cl)
		}
		for _, tag := range cl.Tags {
			if strings.Contains(tag, ",") || tag == "" {
				t.Fatalf("%q: accepted tag %q", body, tag)
			}
		}
	})
}

func FuzzAPIMailingJSON(f *testing.F) {
	for _, s := range []string{
		`{"message_id":1,"client_ids":[1,2],"start_at":"2026-01-05T09:00:00Z","end_at":"2026-03-31T12:00:00+03:00","period":"weekly"}`,
		`{"message_id":1,"all_clients":true,"start_at":"2026-01-05T09:00:00Z","end_at":"2026-01-05T09:00:00Z"}`,
		`{"message_id":"1"}`, `{"client_ids":[0,-1]}`, `{"period":"hourly"}`, `{"start_at":"tomorrow"}`, `{"tags":["a","a"]}`,
		`{"message_id":1e400}`, `{"message_id":9223372036854775808}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in apiMailingIn
		err := decodeJSON(body, &in)
		if err != nil {
			checkDecodeError(t, body, err)
			return
		}
		var m mailing.Mailing
		var r mailing.Recipients
		if errs := in.apply(&m, &r); len(errs) > 0 {
			return
		}
		if !m.EndAt.After(m.StartAt) || m.StartAt.IsZero() || !slices.Contains(mailing.Periods, m.Period) || m.MessageID == 0 {
			t.Fatalf("%q: accepted %+v", body, m)
		}
		for _, id := range r.ClientIDs {
			if id <= 0 {
				t.Fatalf("%q: accepted client id %d", body, id)
			}
		}
	})
}

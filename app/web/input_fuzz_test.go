package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// FuzzRequestText drives rejectBadText, the decoding edge every query parameter and form
// field passes, through Fiber: a request it lets through carries only text a handler may
// hand to the database (valid UTF-8, no control characters but the line breaks and tabs of
// form fields), and a request it refuses had such text in it.
func FuzzRequestText(f *testing.F) {
	for _, seed := range []struct {
		key, value string
		kind       uint8
	}{
		{"q", "ann", 0}, {"q", "\x00", 0}, {"user", "a\x00b", 0}, {"q", "\xff", 0}, {"q", "é", 0}, {"q", "a\nb", 0},
		{"email", "a\x00@example.com", 1}, {"body", "line one\r\nline two\tend", 1}, {"comment", "\x1b[31m", 1},
		{"name", "\u0085", 1}, {"subject", "ok", 2}, {"body", "a\x00", 2}, {"na\x00me", "x", 1}, {"", "", 0},
	} {
		f.Add(seed.key, seed.value, seed.kind)
	}
	s := fuzzServer(f)
	app := fiber.New(fiber.Config{Immutable: true})
	app.Use(s.rejectBadText)
	var leaked string
	app.All("/*", func(c *fiber.Ctx) error {
		leaked = ""
		check := func(k, v string, multiline bool) {
			if !cleanText(k, false) || !cleanText(v, multiline) {
				leaked = k + "=" + v
			}
		}
		c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) { check(string(k), string(v), false) })
		if form, err := c.MultipartForm(); err == nil {
			for k, vs := range form.Value {
				for _, v := range vs {
					check(k, v, true)
				}
			}
		} else {
			c.Request().PostArgs().VisitAll(func(k, v []byte) { check(string(k), string(v), true) })
		}
		return c.SendStatus(http.StatusOK)
	})
	f.Fuzz(func(t *testing.T, key, value string, kind uint8) {
		var req *http.Request
		multiline := false
		switch kind % 3 {
		case 0: // a query parameter of a GET
			req = httptest.NewRequest(http.MethodGet, "/list?"+url.Values{key: {value}}.Encode(), nil)
		case 1: // a url-encoded form field
			multiline = true
			req = httptest.NewRequest(http.MethodPost, "/form", strings.NewReader(url.Values{key: {value}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default: // a multipart form field
			if !cleanText(key, false) || strings.ContainsAny(key, "\"\\") {
				return // not a field name a multipart header can carry (form fields cover it)
			}
			multiline = true
			var body bytes.Buffer
			w := multipart.NewWriter(&body)
			w.WriteField(key, value)
			w.Close()
			req = httptest.NewRequest(http.MethodPost, "/form", &body)
			req.Header.Set("Content-Type", w.FormDataContentType())
		}
		resp := fuzzDo(t, app, req)
		switch resp.StatusCode {
		case http.StatusOK:
			if leaked != "" {
				t.Fatalf("%q reached the handler", leaked)
			}
			if key != "" && (!cleanText(key, false) || !cleanText(value, multiline)) {
				t.Fatalf("%q=%q was let through", key, value)
			}
		case http.StatusBadRequest:
			if cleanText(key, false) && cleanText(value, multiline) {
				t.Fatalf("%q=%q was refused", key, value)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

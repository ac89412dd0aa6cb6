package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

func get(t *testing.T, c *http.Client, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestUnchangedPageAnswers304(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	c := srv.Client(t)
	resp, _ := get(t, c, srv.URL+"/", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("first load: status %d, etag %q", resp.StatusCode, etag)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if v := resp.Header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "HX-Request") {
		t.Errorf("Vary = %q, want HX-Request in it", v)
	}
	resp, body := get(t, c, srv.URL+"/", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("revalidation: status %d, body %d bytes; want 304 and none", resp.StatusCode, len(body))
	}
	// Another language is another page: the old ETag must not match it.
	resp, _ = get(t, c, srv.URL+"/", map[string]string{"If-None-Match": etag, "Accept-Language": "ru"})
	if resp.StatusCode != 200 {
		t.Fatalf("after a language change: status %d, want 200", resp.StatusCode)
	}
}

func TestHTMXGetsPartialAndHistoryRestoreGetsFullPage(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	c := srv.Client(t)
	cases := []struct {
		name   string
		header map[string]string
		full   bool
	}{
		{"plain request", nil, true},
		{"htmx request", map[string]string{"HX-Request": "true"}, false},
		{"htmx history restore", map[string]string{"HX-Request": "true", "HX-History-Restore-Request": "true"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, c, srv.URL+"/no-such-page", tc.header)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			isFull := strings.Contains(body, "<html")
			if isFull != tc.full {
				t.Fatalf("full page = %v, want %v; body: %.300s", isFull, tc.full, body)
			}
			if !strings.Contains(body, "This page does not exist.") {
				t.Errorf("message missing: %.300s", body)
			}
			if !tc.full && resp.Header.Get("HX-Retarget") != "#flashes" {
				t.Errorf("partial error must retarget the flash region, got %q", resp.Header.Get("HX-Retarget"))
			}
			if id := resp.Header.Get("X-Request-ID"); id == "" || !strings.Contains(body, id) {
				t.Errorf("error page must show the request id %q", id)
			}
		})
	}
}

func TestErrorPageShowsNoStackTrace(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	resp, body := get(t, srv.Client(t), srv.URL+"/static/css/app.css", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unhashed asset: status %d, want 404", resp.StatusCode)
	}
	for _, leak := range []string{"goroutine", ".go:", "panic"} {
		if strings.Contains(body, leak) {
			t.Fatalf("response leaks %q: %s", leak, body)
		}
	}
}

func TestSecurityHeadersOnPages(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	resp, _ := get(t, srv.Client(t), srv.URL+"/", nil)
	want := map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestHealthzAnswers503WhenRedisIsDown(t *testing.T) {
	mini := miniredis.NewMiniRedis()
	if err := mini.Start(); err != nil {
		t.Fatal(err)
	}
	log, _ := testutil.Logger(t)
	r, err := tasks.OpenRedis(context.Background(), "redis://"+mini.Addr(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := testutil.StartServer(t, testutil.ServerOptions{Redis: r})
	c := srv.Client(t)
	resp, body := get(t, c, srv.URL+"/healthz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Fatalf("healthy: %d %s", resp.StatusCode, body)
	}
	mini.Close()
	var last string
	testutil.Eventually(t, 10e9, "healthz to report redis down", func() bool {
		resp, body := get(t, c, srv.URL+"/healthz", nil)
		last = body
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if !strings.Contains(last, `"redis":"unavailable"`) || !strings.Contains(last, `"database":"ok"`) {
		t.Fatalf("body = %s", last)
	}
}

func TestStaticAssetsFromPagesAreImmutable(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	c := srv.Client(t)
	_, page := get(t, c, srv.URL+"/", nil)
	i := strings.Index(page, `href="/static/css/app.`)
	if i < 0 {
		t.Fatalf("page does not link the fingerprinted stylesheet")
	}
	href := page[i+len(`href="`):]
	href = href[:strings.IndexByte(href, '"')]
	resp, body := get(t, c, srv.URL+href, nil)
	if resp.StatusCode != 200 || body == "" {
		t.Fatalf("%s: %d", href, resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

func TestLanguageSwitchNeedsCSRFToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	c := srv.Client(t)
	_, page := get(t, c, srv.URL+"/", nil)
	token := testutil.CSRFToken(page)
	if token == "" {
		t.Fatal("page carries no CSRF token")
	}
	post := func(form url.Values) *http.Response {
		resp, err := c.PostForm(srv.URL+"/lang", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(url.Values{"lang": {"ru"}, "next": {"/"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without token: %d, want 403", resp.StatusCode)
	}
	if resp := post(url.Values{"lang": {"ru"}, "_csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged token: %d, want 403", resp.StatusCode)
	}
	resp := post(url.Values{"lang": {"ru"}, "next": {"//evil.example/"}, "_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("with token: %d to %q, want 303 to / (never off-site)", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = get(t, c, srv.URL+"/", nil)
	if !strings.Contains(page, `<html lang="ru"`) {
		t.Fatalf("language not remembered: %.200s", page)
	}
}

func TestHomePageInBothLanguagesInBrowser(t *testing.T) {
	ctx := testutil.Browser(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	h1, err := chromedp.Run(ctx, chromedp.Text("h1"))
	if err != nil || h1 != "Mailings for your team" {
		t.Fatalf("english h1 = %q, %v", h1, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="ru"]`), chromedp.WaitVisible(`html[lang="ru"]`)); err != nil {
		t.Fatal(err)
	}
	h1, err = chromedp.Run(ctx, chromedp.Text("h1"))
	if err != nil || h1 != "Рассылки для вашей команды" {
		t.Fatalf("russian h1 = %q, %v", h1, err)
	}
	// The stylesheet loaded under the CSP (Pico sets the body font): the page is styled.
	font, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).fontFamily`))
	if err != nil || font == "" || strings.HasPrefix(font, "\"Times") {
		t.Fatalf("page looks unstyled: font %q, %v", font, err)
	}
}

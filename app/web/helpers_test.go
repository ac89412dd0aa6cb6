package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

// browser is an HTTP client with cookies that remembers the last CSRF token it saw.
type browser struct {
	t    *testing.T
	srv  *testutil.Server
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, srv *testutil.Server) *browser {
	return &browser{t: t, srv: srv, c: srv.Client(t)}
}

// newBrowserFrom is a browser whose connections come from ip, an address of the loopback
// range (127.0.0.0/8): the server sees a different client address without trusting any
// proxy header.
func newBrowserFrom(t *testing.T, srv *testutil.Server, ip string) *browser {
	b := newBrowser(t, srv)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

type response struct {
	*http.Response
	Body string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if tok := testutil.CSRFToken(string(body)); tok != "" {
		b.csrf = tok
	}
	return response{resp, string(body)}
}

// get loads a page (refreshing the CSRF token from it).
func (b *browser) get(path string, header ...string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// post submits a form with the CSRF token, loading a page first if none is known.
func (b *browser) post(path string, form url.Values, header ...string) response {
	b.t.Helper()
	if b.csrf == "" {
		b.get("/login")
	}
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" {
		form.Set("_csrf", b.csrf)
	}
	return b.postRaw(path, form, header...)
}

// postRaw submits a form exactly as given (no CSRF token added).
func (b *browser) postRaw(path string, form url.Values, header ...string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var linkRE = regexp.MustCompile(`http://[^\s]+/(confirm|password/reset)/[A-Za-z0-9_-]+`)

// linkIn returns the confirmation or reset link in an email body.
func linkIn(t *testing.T, text string) string {
	t.Helper()
	m := linkRE.FindString(text)
	if m == "" {
		t.Fatalf("no link in email:\n%s", text)
	}
	return m
}

// pathOf strips the server part of a link.
func pathOf(link string) string {
	u, _ := url.Parse(link)
	return u.Path
}

// smtpServer starts a server whose mail goes through a real SMTP server in the test.
func smtpServer(t *testing.T, env map[string]string) (*testutil.Server, *testutil.SMTPServer) {
	sink := testutil.StartSMTP(t)
	if env == nil {
		env = map[string]string{}
	}
	env["SMTP_URL"] = sink.URL()
	return testutil.StartServer(t, testutil.ServerOptions{Env: env}), sink
}

// signUp registers and confirms an account through its emailed link, then signs b in with
// the password (confirming alone starts no session).
func signUp(t *testing.T, b *browser, sink *testutil.SMTPServer, email, password string) {
	t.Helper()
	before := sink.Count()
	if r := b.post("/register", url.Values{"email": {email}, "password": {password}}); r.StatusCode != 200 {
		t.Fatalf("register %s: %d %.300s", email, r.StatusCode, r.Body)
	}
	msgs := sink.WaitFor(t, before+1, 10*time.Second)
	link := linkIn(t, msgs[len(msgs)-1].Text)
	if r := b.get(pathOf(link)); r.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", r.StatusCode)
	}
	if r := b.post("/login", url.Values{"email": {email}, "password": {password}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in after confirming %s: %d", email, r.StatusCode)
	}
}

// account creates a confirmed account through the operator's path and signs a new browser in.
func account(t *testing.T, srv *testutil.Server, email string, manager bool) *browser {
	t.Helper()
	if _, err := srv.App.Auth.CreateConfirmedUser(context.Background(), email, pw, manager); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv)
	if r := b.post("/login", url.Values{"email": {email}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d", email, r.StatusCode)
	}
	b.get("/")
	return b
}

var idInPath = regexp.MustCompile(`/(clients|messages|mailings|layouts)/(\d+)`)

// createdID returns the id of the object a list page links to first.
func createdID(t *testing.T, body, kind string) string {
	t.Helper()
	for _, m := range idInPath.FindAllStringSubmatch(body, -1) {
		if m[1] == kind {
			return m[2]
		}
	}
	t.Fatalf("no %s link in page", kind)
	return ""
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

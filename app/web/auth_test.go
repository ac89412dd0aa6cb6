package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

const pw = "correct horse battery"

func TestSignUpNeedsConfirmationAndLinkIsSingleUse(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	r := b.post("/register", url.Values{"email": {"Ann@Example.COM"}, "password": {pw}})
	if r.StatusCode != 200 || !strings.Contains(r.Body, "ann@example.com") {
		t.Fatalf("register: %d %.300s", r.StatusCode, r.Body)
	}
	msg := sink.WaitFor(t, 1, 10*time.Second)[0]
	if msg.To[0] != "ann@example.com" || msg.Subject != "Confirm your Mailer account" {
		t.Fatalf("mail to %v subject %q", msg.To, msg.Subject)
	}
	link := linkIn(t, msg.Text)
	if !strings.HasPrefix(link, srv.URL+"/confirm/") {
		t.Fatalf("link %q is not built from BASE_URL", link)
	}

	// Unconfirmed: the right password is still refused.
	r = b.post("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Confirm your email first") {
		t.Fatalf("unconfirmed sign-in: %d %.400s", r.StatusCode, r.Body)
	}
	if b.cookie("mailer_session") != "" {
		t.Fatal("unconfirmed account got a session")
	}

	// Confirming says so and offers sign-in; the password signs in.
	r = b.get(pathOf(link))
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "ann@example.com is confirmed") || !strings.Contains(r.Body, `href="/login"`) {
		t.Fatalf("confirm: %d %.500s", r.StatusCode, r.Body)
	}
	if b.cookie("mailer_session") != "" {
		t.Fatal("confirming started a session")
	}
	if r := b.post("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in after confirming: %d", r.StatusCode)
	}
	if r := b.get("/"); !strings.Contains(r.Body, "ann@example.com") {
		t.Fatalf("not signed in: %.500s", r.Body)
	}
	// The same link a second time does nothing.
	other := newBrowser(t, srv)
	if r := other.get(pathOf(link)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("reused link: %d, want 404", r.StatusCode)
	}
	if other.cookie("mailer_session") != "" {
		t.Fatal("reused link signed someone in")
	}
}

func TestConfirmationLinkExpires(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	b.post("/register", url.Values{"email": {"late@example.com"}, "password": {pw}})
	link := linkIn(t, sink.WaitFor(t, 1, 10*time.Second)[0].Text)
	srv.Clock.Advance(49 * time.Hour)
	if r := b.get(pathOf(link)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired link: %d, want 404", r.StatusCode)
	}
}

func TestConfirmationMailInDevelopmentLog(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	b := newBrowser(t, srv)
	b.post("/register", url.Values{"email": {"dev@example.com"}, "password": {pw}})
	var link string
	testutil.Eventually(t, 10*time.Second, "the mail in the log", func() bool {
		link = linkRE.FindString(srv.Logs.String())
		return link != ""
	})
	if !strings.Contains(srv.Logs.String(), "development mail") {
		t.Fatal("log does not say the mail was not sent")
	}
	if r := b.get(pathOf(link)); r.StatusCode != http.StatusOK {
		t.Fatalf("confirm from logged link: %d", r.StatusCode)
	}
}

func TestSessionIDChangesAtSignIn(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	signUp(t, b, sink, "rot@example.com", pw)
	first := b.cookie("mailer_session")
	csrfBefore := b.cookie("mailer_csrf")
	if first == "" {
		t.Fatal("no session after confirming")
	}
	b.get("/")
	r := b.post("/login", url.Values{"email": {"rot@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d %.300s", r.StatusCode, r.Body)
	}
	second := b.cookie("mailer_session")
	if second == "" || second == first {
		t.Fatalf("session id not rotated at sign-in: %q → %q", first, second)
	}
	if b.cookie("mailer_csrf") == csrfBefore {
		t.Fatal("CSRF seed not rotated at sign-in")
	}
	// The old session no longer works.
	old := newBrowser(t, srv)
	u, _ := url.Parse(srv.URL)
	old.c.Jar.SetCookies(u, []*http.Cookie{{Name: "mailer_session", Value: first}})
	if r := old.get("/account/password"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session still works: %d", r.StatusCode)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	a := newBrowser(t, srv)
	signUp(t, a, sink, "two@example.com", pw)
	b := newBrowser(t, srv)
	if r := b.post("/login", url.Values{"email": {"two@example.com"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", r.StatusCode)
	}
	a.get("/account/password")
	r := a.post("/account/password", url.Values{"current_password": {"wrong password!"}, "password": {"new password 1"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "not your current password") {
		t.Fatalf("wrong current password: %d", r.StatusCode)
	}
	r = a.post("/account/password", url.Values{"current_password": {pw}, "password": {"new password 1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d %.300s", r.StatusCode, r.Body)
	}
	if r := a.get("/account/password"); r.StatusCode != 200 {
		t.Fatalf("the changing session was ended: %d", r.StatusCode)
	}
	if r := b.get("/account/password"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("other session survived: %d", r.StatusCode)
	}
	c := newBrowser(t, srv)
	if r := c.post("/login", url.Values{"email": {"two@example.com"}, "password": {pw}}); r.StatusCode == http.StatusSeeOther {
		t.Fatal("old password still signs in")
	}
	if r := c.post("/login", url.Values{"email": {"two@example.com"}, "password": {"new password 1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", r.StatusCode)
	}
}

func TestBlockedUserIsRefusedAtOnce(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	signUp(t, b, sink, "bad@example.com", pw)
	if r := b.get("/account/password"); r.StatusCode != 200 {
		t.Fatalf("before block: %d", r.StatusCode)
	}
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, "bad@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.App.Store.SetBlocked(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/account/password"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("blocked user's next request: %d, want a redirect to sign in", r.StatusCode)
	}
	r := newBrowser(t, srv).post("/login", url.Values{"email": {"bad@example.com"}, "password": {pw}})
	if r.StatusCode == http.StatusSeeOther || !strings.Contains(r.Body, "blocked") {
		t.Fatalf("blocked sign-in: %d", r.StatusCode)
	}
}

func TestPasswordResetLinkIsSingleUseExpiresAndDiesWithPasswordChange(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	signUp(t, b, sink, "reset@example.com", pw)
	request := func() string {
		n := sink.Count()
		r := newBrowser(t, srv).post("/password/reset", url.Values{"email": {"reset@example.com"}})
		if r.StatusCode != 200 {
			t.Fatalf("reset request: %d", r.StatusCode)
		}
		msgs := sink.WaitFor(t, n+1, 10*time.Second)
		return pathOf(linkIn(t, msgs[len(msgs)-1].Text))
	}

	link := request()
	anon := newBrowser(t, srv)
	if r := anon.get(link); r.StatusCode != 200 {
		t.Fatalf("reset page: %d", r.StatusCode)
	}
	if r := anon.post(link, url.Values{"password": {"short"}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short password: %d", r.StatusCode)
	}
	if r := anon.post(link, url.Values{"password": {"brand new pass"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d %.300s", r.StatusCode, r.Body)
	}
	// The user's earlier session ended: whoever reset the password may not be them.
	if r := b.get("/account/password"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("session survived a reset: %d", r.StatusCode)
	}
	if r := newBrowser(t, srv).post(link, url.Values{"password": {"another pass 2"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("reused reset link: %d, want 404", r.StatusCode)
	}

	expired := request()
	srv.Clock.Advance(61 * time.Minute)
	if r := newBrowser(t, srv).get(expired); r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired reset link: %d", r.StatusCode)
	}

	stale := request()
	c := newBrowser(t, srv)
	c.post("/login", url.Values{"email": {"reset@example.com"}, "password": {"brand new pass"}})
	c.get("/account/password")
	if r := c.post("/account/password", url.Values{"current_password": {"brand new pass"}, "password": {"changed again 3"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", r.StatusCode)
	}
	if r := newBrowser(t, srv).get(stale); r.StatusCode != http.StatusNotFound {
		t.Fatalf("reset link outlived a password change: %d", r.StatusCode)
	}
}

var csrfInBody = regexp.MustCompile(`(name="csrf-token" content="|name="_csrf" value=")[^"]*"`)

func TestSignUpAndResetAnswerAlikeForKnownAndUnknownEmails(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	signUp(t, newBrowser(t, srv), sink, "known@example.com", pw)
	norm := func(s, email string) string {
		return csrfInBody.ReplaceAllString(strings.ReplaceAll(s, email, "EMAIL"), "")
	}
	for _, path := range []string{"/register", "/password/reset"} {
		form := func(email string) url.Values {
			return url.Values{"email": {email}, "password": {"whatever pass 9"}}
		}
		k := newBrowser(t, srv).post(path, form("known@example.com"))
		u := newBrowser(t, srv).post(path, form("unknown@example.com"))
		if k.StatusCode != u.StatusCode || norm(k.Body, "known@example.com") != norm(u.Body, "unknown@example.com") {
			t.Errorf("%s answers differ: %d vs %d", path, k.StatusCode, u.StatusCode)
		}
	}
	// The known address learns about the attempt by email; nothing reveals it on the page.
	msgs := sink.WaitFor(t, 4, 10*time.Second)
	var toKnown int
	for _, m := range msgs[1:] {
		if m.To[0] == "known@example.com" {
			toKnown++
		}
	}
	if toKnown != 2 {
		t.Fatalf("want 2 mails to the known address (exists notice, reset), got %d", toKnown)
	}
}

func TestSignInRateLimit(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{"RATE_LIMIT_LOGIN": "3/1m"}})
	b := newBrowser(t, srv)
	for i := 1; i <= 3; i++ {
		if r := b.post("/login", url.Values{"email": {"x@example.com"}, "password": {"wrong pass"}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("attempt %d: %d", i, r.StatusCode)
		}
	}
	r := b.post("/login", url.Values{"email": {"x@example.com"}, "password": {"wrong pass"}})
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.Body, "Too many attempts") {
		t.Fatalf("4th attempt: %d", r.StatusCode)
	}
	// Per account too: another address from the same IP is also over the IP's limit.
	if r := b.post("/login", url.Values{"email": {"y@example.com"}, "password": {"wrong pass"}}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("same IP, other account: %d", r.StatusCode)
	}
}

func TestSignInRefusesOpenRedirect(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	signUp(t, newBrowser(t, srv), sink, "nx@example.com", pw)
	for next, want := range map[string]string{
		"//evil.example/x":     "/",
		"https://evil.example": "/",
		"/account/password":    "/account/password",
	} {
		r := newBrowser(t, srv).post("/login", url.Values{"email": {"nx@example.com"}, "password": {pw}, "next": {next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("next=%q: %d to %q, want %q", next, r.StatusCode, r.Header.Get("Location"), want)
		}
	}
}

func TestEveryUnsafeRouteRequiresCSRFToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	b := newBrowser(t, srv)
	b.get("/login")
	checked := 0
	for _, rt := range srv.App.Web.App().GetRoutes(true) {
		if rt.Method == http.MethodGet || rt.Method == http.MethodHead || rt.Method == http.MethodOptions || rt.Method == "USE" ||
			rt.Method == http.MethodConnect || rt.Method == http.MethodTrace {
			continue
		}
		if strings.HasPrefix(rt.Path, "/unsubscribe/") {
			// Mail clients POST here without cookies (RFC 8058): the signed token is the check.
			req, _ := http.NewRequest(rt.Method, srv.URL+"/unsubscribe/1.forged", nil)
			if r := b.do(req); r.StatusCode != http.StatusNotFound {
				t.Errorf("unsubscribe with a forged token: %d, want 404", r.StatusCode)
			}
			continue
		}
		if strings.HasPrefix(rt.Path, "/subscribe/") {
			// Public forms are posted from the owners' own sites without our cookies (see
			// isSubscribePath): a form only emails a link, and the link's signed token is the
			// check on the confirming POST. An unknown form or a forged token does nothing.
			req, _ := http.NewRequest(rt.Method, srv.URL+strings.NewReplacer(":token", "e30.forged", ":key", "no-such-form").Replace(rt.Path),
				strings.NewReader("email=a%40b.c"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if r := b.do(req); r.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s unknown or forged: %d, want 404", rt.Method, rt.Path, r.StatusCode)
			}
			continue
		}
		path := strings.NewReplacer(":token", "abc", ":provider", "oidc", ":id", "1").Replace(rt.Path)
		if strings.HasPrefix(rt.Path, "/webhooks/") {
			// Providers POST here without cookies: the secret or signature is the check, and
			// with none configured the endpoint is off (TestBounceWebhooksAreOffWithoutTheirSecretsAndOutsideCSRF).
			req, _ := http.NewRequest(rt.Method, srv.URL+strings.Replace(rt.Path, ":provider", "mailgun", 1), strings.NewReader(`{}`))
			if r := b.do(req); r.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s unconfigured: %d, want 404", rt.Method, rt.Path, r.StatusCode)
			}
			continue
		}
		if strings.HasPrefix(rt.Path, "/api/v1/") {
			// The API reads no cookie, so a forged cross-site request carries nothing it
			// accepts: without a bearer token it is 401 (TestAPITokenLifecycle: a session
			// cookie is no token).
			req, _ := http.NewRequest(rt.Method, srv.URL+path, strings.NewReader(`{"email":"a@b.c"}`))
			if r := b.do(req); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without a bearer token: %d, want 401", rt.Method, rt.Path, r.StatusCode)
			}
			continue
		}
		req, _ := http.NewRequest(rt.Method, srv.URL+path, strings.NewReader("email=a%40b.c&password=12345678"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r := b.do(req)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s without token: %d, want 403", rt.Method, rt.Path, r.StatusCode)
		}
		// The HTMX header is accepted in place of the field.
		req, _ = http.NewRequest(rt.Method, srv.URL+path, strings.NewReader(""))
		req.Header.Set("X-CSRF-Token", "forged")
		if r := b.do(req); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with a forged header: %d, want 403", rt.Method, rt.Path, r.StatusCode)
		}
		checked++
	}
	if checked < 6 {
		t.Fatalf("only %d unsafe routes found", checked)
	}
	// A refused request does nothing: the handler behind the check never runs.
	u := account(t, srv, "csrf@example.com", false)
	u.postRaw("/clients/new", url.Values{"email": {"ghost@example.com"}})
	if r := u.get("/clients"); strings.Contains(r.Body, "ghost@example.com") {
		t.Fatal("a request refused for CSRF still created a client")
	}
}

func TestHTMXFormShowsErrorsInPlace(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	b := newBrowser(t, srv)
	b.get("/register")
	r := b.post("/register", url.Values{"email": {"not-an-email"}, "password": {"short"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx form errors: %d, full page %v", r.StatusCode, strings.Contains(r.Body, "<html"))
	}
	if !strings.Contains(r.Body, `aria-invalid="true"`) || !strings.Contains(r.Body, "Enter a valid email address.") ||
		!strings.Contains(r.Body, "Use at least 8 characters.") || !strings.Contains(r.Body, `value="not-an-email"`) {
		t.Fatalf("errors not beside fields or input lost: %s", r.Body)
	}
	// Without JavaScript the same form comes back inside the whole page.
	r = b.post("/register", url.Values{"email": {"not-an-email"}, "password": {"short"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Enter a valid email address.") {
		t.Fatalf("plain form errors: %d", r.StatusCode)
	}
}

func TestRussianConfirmationEmail(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	b := newBrowser(t, srv)
	b.get("/register", "Accept-Language", "ru-RU,ru;q=0.9")
	b.post("/register", url.Values{"email": {"ivan@example.com"}, "password": {pw}}, "Accept-Language", "ru-RU,ru;q=0.9")
	m := sink.WaitFor(t, 1, 10*time.Second)[0]
	if m.Subject != "Подтвердите аккаунт Mailer" || !strings.Contains(m.Text, "Здравствуйте") {
		t.Fatalf("russian mail: %q / %q", m.Subject, m.Text)
	}
}

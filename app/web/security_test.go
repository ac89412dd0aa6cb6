package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

// Tests of issue 15's findings, each written as the attack was made against a running
// server. The browser flows are in security_browser_test.go.

// Finding 1 (account pre-takeover): someone signs up with another person's address and a
// password of their choice. When the owner opens the unsolicited confirmation link they must
// not be signed in, and when the owner signs up too, the first registrant's password must no
// longer open the account.
func TestSecurityConfirmationStartsNoSessionAndNewestSignUpWins(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	const victim = "victim@example.com"
	const attackerPW, victimPW = "attacker chose this", "the owner's own passphrase"

	attacker := newBrowser(t, srv)
	if r := attacker.post("/register", url.Values{"email": {victim}, "password": {attackerPW}}); r.StatusCode != http.StatusOK {
		t.Fatalf("attacker's sign-up: %d", r.StatusCode)
	}
	attackersLink := pathOf(linkIn(t, sink.WaitFor(t, 1, 10*time.Second)[0].Text))

	// The owner, not knowing about it, signs up too: the newest sign-up's password wins.
	owner := newBrowser(t, srv)
	if r := owner.post("/register", url.Values{"email": {victim}, "password": {victimPW}}); r.StatusCode != http.StatusOK ||
		!strings.Contains(r.Body, "Check your email") {
		t.Fatalf("owner's sign-up: %d %.300s", r.StatusCode, r.Body)
	}
	msgs := sink.WaitFor(t, 2, 10*time.Second)
	if msgs[1].To[0] != victim || !strings.Contains(msgs[1].Text, "/confirm/") {
		t.Fatalf("the second sign-up got no new confirmation link: %q", msgs[1].Text)
	}

	// The owner opens the first mail (the one the attacker caused): confirmed, not signed in.
	r := owner.get(attackersLink)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, victim+" is confirmed") || !strings.Contains(r.Body, `href="/login"`) {
		t.Fatalf("GET /confirm: %d %q, want 200 with a sign-in link", r.StatusCode, r.Header.Get("Location"))
	}
	if owner.cookie("mailer_session") != "" {
		t.Fatal("the confirmation link started a session")
	}
	if r := owner.get("/account"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("GET /account after confirming: %d, want a redirect to sign in", r.StatusCode)
	}

	// The attacker's password opens nothing; the owner's does.
	if r := newBrowser(t, srv).post("/login", url.Values{"email": {victim}, "password": {attackerPW}}); r.StatusCode == http.StatusSeeOther {
		t.Fatal("the first registrant's password still signs in")
	}
	if r := owner.post("/login", url.Values{"email": {victim}, "password": {victimPW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's sign-in: %d", r.StatusCode)
	}
}

// Finding 1 (login CSRF): the attacker's own confirmation link, opened by someone else, must
// not sign that person into the attacker's account.
func TestSecurityAttackersConfirmationLinkSignsVictimIntoNothing(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	newBrowser(t, srv).post("/register", url.Values{"email": {"mallory@attacker.test"}, "password": {pw}})
	link := pathOf(linkIn(t, sink.WaitFor(t, 1, 10*time.Second)[0].Text))

	victim := newBrowser(t, srv)
	if r := victim.get(link); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /confirm: %d, want 200", r.StatusCode)
	}
	if r := victim.get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /account: %d, want a redirect to sign in", r.StatusCode)
	}
	if r := victim.get("/"); strings.Contains(r.Body, "mallory@attacker.test") {
		t.Fatal("the victim's browser shows the attacker's account")
	}
}

// Finding 2 (lock-out by anyone): ten wrong passwords from ten addresses used to make the
// owner's correct password answer 429. Failures now count per (account, address): the
// guessing addresses are slowed, the owner from an address without failures signs in.
func TestSecurityWrongPasswordsFromManyAddressesDoNotLockOwnerOut(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{}) // RATE_LIMIT_LOGIN's default, 10/1m
	const owner = "owner@example.com"
	if _, err := srv.App.Auth.CreateConfirmedUser(context.Background(), owner, pw, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		ip := fmt.Sprintf("127.0.0.%d", 10+i)
		if r := newBrowserFrom(t, srv, ip).post("/login", url.Values{"email": {owner}, "password": {"a wrong guess"}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("wrong password from %s: %d, want 422", ip, r.StatusCode)
		}
	}
	if r := newBrowserFrom(t, srv, "127.0.0.99").post("/login", url.Values{"email": {owner}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner from a fresh address: %d, want 303", r.StatusCode)
	}

	// One address guessing: its 11th try at the account is refused, even with the right
	// password, while the owner elsewhere still signs in.
	guesser := newBrowserFrom(t, srv, "127.0.0.200")
	for i := 1; i <= 10; i++ {
		if r := guesser.post("/login", url.Values{"email": {owner}, "password": {fmt.Sprint("guess number ", i)}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d: %d", i, r.StatusCode)
		}
	}
	if r := guesser.post("/login", url.Values{"email": {owner}, "password": {pw}}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th try from the guessing address: %d, want 429", r.StatusCode)
	}
	if r := newBrowserFrom(t, srv, "127.0.0.98").post("/login", url.Values{"email": {owner}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner while another address guesses: %d, want 303", r.StatusCode)
	}
}

// Finding 3: a NUL byte in a search or form field reached the database, which refused the
// query: a 500 and an error in the log, for anonymous visitors too. Such text is now
// refused with 400 at the decoding edge, for every route, every query parameter the pages
// read and every field of every form.
func TestSecurityControlCharactersAreRefusedNeverFail(t *testing.T) {
	fx := azFixtureFor(t)
	actors := []*azActor{fx.anon, fx.owner, fx.mgr}

	// The requests of the finding, with a few more kinds of text no person types.
	for _, bad := range []string{"\x00", "a\x00b", "\x01", "\x1b[31m", "\x7f", "\xff", "\xc2\x85", "a\nb"} {
		q := url.QueryEscape(bad)
		for _, a := range actors {
			for _, path := range []string{"/messages?q=" + q, "/mailings?q=" + q, "/manager/users?q=" + q, "/stats?user=" + q,
				"/clients?q=" + q, "/clients?tag=" + q, "/mailings?status=" + q, "/stats?from=" + q} {
				if r := a.b.get(path); r.StatusCode != http.StatusBadRequest {
					t.Errorf("%s GET %s: %d, want 400", a.name, path, r.StatusCode)
				}
			}
		}
		if bad == "a\nb" {
			continue // a line break is fine in a form field (a message body, a comment)
		}
		if r := fx.anon.b.post("/login", url.Values{"email": {"a" + bad + "@example.com"}, "password": {"whatever it is"}}); r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /login with %q in the email: %d, want 400", bad, r.StatusCode)
		}
	}

	// Every route, every parameter: each query parameter any page reads, each field of the
	// route's form.
	params := []string{"q", "status", "sort", "desc", "cursor", "page", "user", "role", "from", "to", "tag", "tags",
		"next", "period", "format", "lang", "id", "token", "scope", "action"}
	routes := 0
	for _, r := range azRoutes(t) {
		if r.method == http.MethodConnect || r.method == http.MethodTrace || r.method == http.MethodOptions {
			continue
		}
		routes++
		path := fx.path(r)
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		for _, a := range actors {
			for _, p := range params {
				req, _ := http.NewRequest(r.method, fx.srv.URL+path+sep+p+"=a%00b", nil)
				req.Header.Set("Origin", fx.srv.URL)
				req.Header.Set("X-CSRF-Token", a.b.csrf)
				if resp := a.b.do(req); resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s %s %s?%s=a%%00b: %d, want 400", a.name, r.method, r.path, p, resp.StatusCode)
				}
			}
			if azSafe(r.method) {
				continue
			}
			form := fx.form(r.path)
			for field := range form {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				f.Set(field, "a\x00b")
				f.Set("_csrf", a.b.csrf)
				if resp := a.b.post(path, f, "Origin", fx.srv.URL); resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s %s %s with a NUL in %s: %d, want 400", a.name, r.method, r.path, field, resp.StatusCode)
				}
			}
		}
	}
	if routes < 60 {
		t.Fatalf("only %d routes tried", routes)
	}
	if logs := fx.srv.Logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors in the log:\n%s", logs)
	}
}

// Finding 4: the clients export kept spreadsheet formulas. A client named
// =HYPERLINK("http://evil.test") is exported as text a spreadsheet shows and does not run,
// and importing that export gives back the names as typed.
func TestSecurityCSVExportNeutralisesFormulas(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "csv@example.com", false)
	typed := map[string][2]string{ // email → name, comment
		"link@example.com":  {`=HYPERLINK("http://evil.test")`, `+cmd|' /C calc'!A0`},
		"minus@example.com": {"-2+3", "@SUM(A1:A9)"},
		"quote@example.com": {"'=already quoted", "it's fine"},
		"plain@example.com": {"Plain Name", ""},
	}
	for email, v := range typed {
		if r := a.post("/clients/new", url.Values{"email": {email}, "full_name": {v[0]}, "comment": {v[1]}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %s: %d %.500s", email, r.StatusCode, r.Body)
		}
	}
	body, rows := exported(t, a)
	if len(rows) != len(typed) {
		t.Fatalf("export rows: %q", rows)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("exported cell %q would run as a formula", cell)
			}
		}
	}
	for _, row := range rows {
		if row[0] == "link@example.com" && (row[1] != `'=HYPERLINK("http://evil.test")` || row[2] != `'+cmd|' /C calc'!A0`) {
			t.Errorf("exported %q", row)
		}
	}

	// Imported elsewhere, the file gives back what was typed.
	b := account(t, srv, "other-csv@example.com", false)
	importCSV(t, b, body)
	_, got := exported(t, b)
	if fmt.Sprint(got) != fmt.Sprint(rows) {
		t.Fatalf("re-exported after import:\n%q\nwant\n%q", got, rows)
	}
	for email, v := range typed {
		r := b.get("/clients?q=" + url.QueryEscape(email))
		if !strings.Contains(html.UnescapeString(r.Body), v[0]) {
			t.Errorf("imported %s: name %q not kept as typed", email, v[0])
		}
	}
}

// Finding 9: an https BASE_URL gets HSTS on every answer; a plain http one does not (it
// would pin a development machine's localhost to HTTPS).
func TestSecurityHSTSWhenTheSiteIsHTTPS(t *testing.T) {
	tls := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{"BASE_URL": "https://mailer.example.com"}})
	for _, path := range []string{"/", "/login", "/no-such-page"} {
		r := newBrowser(t, tls).get(path)
		if got := r.Header.Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=31536000") {
			t.Errorf("GET %s on an https site: Strict-Transport-Security %q", path, got)
		}
	}
	plain := testutil.StartServer(t, testutil.ServerOptions{})
	if got := newBrowser(t, plain).get("/").Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("an http site sent Strict-Transport-Security %q", got)
	}
}

// Finding 10: If-None-Match is answered only after authorization — anonymous and ordinary
// users asking for a manager's page with "*" get the sign-in redirect and 403, not 304 —
// while a page's real ETag still revalidates to 304, on private and public pages alike.
func TestSecurityIfNoneMatchOnlyAfterAuthorization(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	anon := newBrowser(t, srv)
	if r := anon.get("/manager/users", "If-None-Match", "*"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous GET /manager/users with If-None-Match *: %d, want 303 to sign in", r.StatusCode)
	}
	u := account(t, srv, "user@example.com", false)
	if r := u.get("/manager/users", "If-None-Match", "*"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("user GET /manager/users with If-None-Match *: %d, want 403", r.StatusCode)
	}
	if r := u.get("/clients", "If-None-Match", "*"); r.StatusCode != http.StatusOK {
		t.Fatalf("If-None-Match * on the user's own list: %d, want the page (a browser sends its tag)", r.StatusCode)
	}
	for _, who := range []*browser{u, anon} {
		path := "/clients"
		if who == anon {
			path = "/login"
		}
		first := who.get(path)
		tag := first.Header.Get("ETag")
		if first.StatusCode != http.StatusOK || tag == "" {
			t.Fatalf("GET %s: %d, ETag %q", path, first.StatusCode, tag)
		}
		if r := who.get(path, "If-None-Match", tag); r.StatusCode != http.StatusNotModified || r.Body != "" {
			t.Fatalf("GET %s with its ETag: %d (%d bytes), want an empty 304", path, r.StatusCode, len(r.Body))
		}
	}
}

// Finding 11: a start in year 0000 was accepted and sent at once; dates outside 1970–9999
// are form errors, in both languages.
func TestSecurityDatesOutsideTheRangeAreFormErrors(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "dates@example.com", false)
	a.post("/messages/new", url.Values{"subject": {"Dates"}, "body": {"Hello"}})
	msgID := messageIDBySubject(t, srv, "dates@example.com", "dates")
	for _, c := range []struct{ start, end string }{
		{"0000-01-01T00:00", "2026-02-01T00:00"},
		{"1969-12-31T23:00", "2026-02-01T00:00"},
	} {
		r := a.post("/mailings/new", url.Values{"message_id": {itoa(msgID)}, "all_clients": {"1"}, "period": {"none"},
			"start_at": {c.start}, "end_at": {c.end}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Enter a date between 1970 and 9999.") {
			t.Fatalf("start %s: %d %.600s", c.start, r.StatusCode, r.Body)
		}
	}
	if n := len(ownMailings(t, srv, userID(t, srv, "dates@example.com"))); n != 0 {
		t.Fatalf("%d mailings saved with out-of-range dates", n)
	}
}

// Finding 7, through the forms: sign-up and a password change refuse common passwords and
// ones carrying the address's name, with the error beside the field in both languages.
func TestSecurityWeakPasswordsAreRefusedOnTheForms(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	b := newBrowser(t, srv)
	for _, c := range []struct{ email, password, want string }{
		{"new@example.com", "12345678", "This password is one of the most common ones; choose another."},
		{"new@example.com", "password123", "This password is one of the most common ones; choose another."},
		{"annabel@example.com", "Annabel-2026!", "The password must not contain your email address&#39;s name."},
	} {
		r := b.post("/register", url.Values{"email": {c.email}, "password": {c.password}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, c.want) {
			t.Fatalf("sign-up with %q: %d %.800s", c.password, r.StatusCode, r.Body)
		}
	}
	b.post("/lang", url.Values{"lang": {"ru"}})
	if r := b.post("/register", url.Values{"email": {"new@example.com"}, "password": {"qwertyuiop"}}); !strings.Contains(r.Body, "Это один из самых распространённых паролей") {
		t.Fatalf("the Russian form lacks the error: %.800s", r.Body)
	}
	a := account(t, srv, "change@example.com", false)
	r := a.post("/account/password", url.Values{"current_password": {pw}, "password": {"iloveyou1"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "one of the most common ones") {
		t.Fatalf("password change to a common one: %d %.800s", r.StatusCode, r.Body)
	}
}

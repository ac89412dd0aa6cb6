package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mailer/app/testutil"
)

// chromeTab drives one Chromium tab against a server; every step has its own timeout, so a
// missing element fails the test instead of hanging it.
type chromeTab struct {
	t   *testing.T
	ctx context.Context
	srv *testutil.Server
}

const browserStepTimeout = 20 * time.Second

func (p *chromeTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *chromeTab) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (p *chromeTab) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// path is the tab's current path.
func (p *chromeTab) path() string { return p.eval(`location.pathname`) }

// waitPath waits until the tab is on path (navigations and HX-Redirect take a moment).
func (p *chromeTab) waitPath(path string) {
	p.t.Helper()
	testutil.Eventually(p.t, browserStepTimeout, "the browser to reach "+path, func() bool {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.pathname : ""`))
		return err == nil && got == path
	})
}

// markDocument sets a marker on window: it survives HTMX swaps and disappears on a reload.
func (p *chromeTab) markDocument(v string) {
	p.t.Helper()
	p.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.__testMarker = `+strconv.Quote(v)))
}

func (p *chromeTab) marker() string {
	return p.eval(`String(window.__testMarker)`)
}

// typeInto replaces the value of an input by typing into it.
func typeInto(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// signOut uses the account menu and lands on the sign-in page.
func (p *chromeTab) signOut() {
	p.t.Helper()
	p.do("sign out",
		chromedp.Click(chromedp.CSS(`details.account-menu > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`details.account-menu form[action="/logout"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`details.account-menu form[action="/logout"] button[type="submit"]`)),
	)
	p.waitPath("/login")
	p.do("sign-in form after signing out",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] #f-email`)),
		chromedp.WaitNotPresent(chromedp.CSS(`details.account-menu`)),
	)
}

// submitLogin fills and submits the sign-in form of the current page.
func (p *chromeTab) submitLogin(email, password string) {
	p.t.Helper()
	p.do("submit the sign-in form",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] #f-email`)),
		typeInto(`form[action="/login"] #f-email`, email),
		typeInto(`form[action="/login"] #f-password`, password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}

// waitSignedInAs waits for the account menu with email in the nav.
func (p *chromeTab) waitSignedInAs(email string) {
	p.t.Helper()
	p.do("account menu in the nav", chromedp.WaitVisible(chromedp.CSS(`details.account-menu > summary`)))
	if got := p.text(`details.account-menu > summary`); got != email {
		p.t.Fatalf("account menu shows %q, want %q", got, email)
	}
}

func TestAccountLifecycleInBrowser(t *testing.T) {
	bctx := testutil.Browser(t)
	srv, sink := smtpServer(t, nil)
	p := &chromeTab{t: t, ctx: bctx, srv: srv}
	const email = "dana@example.com"
	const firstPassword, newPassword = "first long passphrase", "second long passphrase"

	// Sign up: HTMX replaces the form with the notice, without leaving the page.
	p.do("open /register",
		chromedp.Navigate(srv.URL+"/register"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
	)
	if got := p.eval(`typeof htmx`); got != "object" {
		t.Fatalf("htmx is not loaded (typeof htmx = %q): the forms would not be enhanced", got)
	}
	p.markDocument("register")
	p.do("submit the sign-up form",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), firstPassword),
		chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/register"]`)),
	)
	if got := p.text(`#notice`); !strings.Contains(got, "Check your email") || !strings.Contains(got, email) {
		t.Fatalf("notice = %q", got)
	}
	if p.marker() != "register" || p.path() != "/register" {
		t.Fatalf("the sign-up reloaded the chromeTab (marker %q, path %q)", p.marker(), p.path())
	}

	// Confirm through the emailed link: the page says so and offers sign-in, nothing more.
	msgs := sink.WaitFor(t, 1, 10*time.Second)
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != email {
		t.Fatalf("emails after sign-up: %+v", msgs)
	}
	link := linkIn(t, msgs[0].Text)
	if !strings.HasPrefix(link, srv.URL+"/confirm/") {
		t.Fatalf("confirmation link %q is not on %s", link, srv.URL)
	}
	p.do("open the confirmation link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/login"]`)),
	)
	if got := p.text(`main`); !strings.Contains(got, email+" is confirmed") {
		t.Fatalf("confirmation page = %q", got)
	}
	if got := p.eval(`String(document.querySelector("details.account-menu") !== null)`); got != "false" {
		t.Fatal("confirming the address signed the browser in")
	}
	p.do("follow the sign-in link", chromedp.Click(chromedp.CSS(`main a[href="/login"]`)))
	p.waitPath("/login")
	p.submitLogin(email, firstPassword)
	p.waitPath("/")
	p.waitSignedInAs(email)

	// Sign out through the account menu, then back in with the HTMX form (HX-Redirect).
	p.signOut()
	if got := p.text(`.flash-info`); !strings.Contains(got, "You have signed out") {
		t.Fatalf("sign-out flash = %q", got)
	}
	p.submitLogin(email, firstPassword)
	p.waitPath("/")
	p.waitSignedInAs(email)

	// Change password: a wrong current password shows its error in place, no reload.
	p.do("open /account/password",
		chromedp.Navigate(srv.URL+"/account/password"),
		chromedp.WaitVisible(chromedp.CSS(`#f-current_password`)),
	)
	p.markDocument("change-password")
	p.do("submit a wrong current password",
		chromedp.SendKeys(chromedp.CSS(`#f-current_password`), "not the password at all"),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/account/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#e-current_password.field-error`)),
	)
	if got := p.text(`#e-current_password`); !strings.Contains(got, "not your current password") {
		t.Fatalf("field error = %q", got)
	}
	if p.marker() != "change-password" || p.path() != "/account/password" {
		t.Fatalf("the error reloaded the chromeTab (marker %q, path %q)", p.marker(), p.path())
	}
	if got := p.eval(`document.querySelector("#f-current_password").getAttribute("aria-invalid") || ""`); got != "true" {
		t.Errorf("current password field aria-invalid = %q", got)
	}
	p.do("submit the right current password",
		typeInto(`#f-current_password`, firstPassword),
		typeInto(`#f-password`, newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/account/password"] button[type="submit"]`)),
	)
	p.waitPath("/")
	p.do("password changed flash", chromedp.WaitVisible(chromedp.CSS(`.flash-success`)))
	if got := p.text(`.flash-success`); !strings.Contains(got, "Your password has been changed") {
		t.Fatalf("success flash = %q", got)
	}
	p.waitSignedInAs(email)

	// The old password no longer works (error in place); the new one does.
	p.signOut()
	p.markDocument("login")
	p.submitLogin(email, firstPassword)
	p.do("wrong password error", chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] .flash-error`)))
	if got := p.text(`form[action="/login"] .flash-error`); !strings.Contains(got, "Wrong email or password") {
		t.Fatalf("sign-in error = %q", got)
	}
	if p.marker() != "login" || p.path() != "/login" {
		t.Fatalf("the failed sign-in reloaded the chromeTab (marker %q, path %q)", p.marker(), p.path())
	}
	p.submitLogin(email, newPassword)
	p.waitPath("/")
	p.waitSignedInAs(email)

	// In Russian: the language switch reloads the sign-in chromeTab translated, and the form
	// answers in Russian too.
	p.signOut()
	p.do("switch to Russian",
		chromedp.Click(chromedp.CSS(`button[value="ru"]`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"] form[action="/login"]`)),
	)
	if p.path() != "/login" {
		t.Fatalf("after the language switch: on %q, want /login", p.path())
	}
	if got := p.text(`h1`); got != "Вход" {
		t.Fatalf("russian sign-in heading = %q, want «Вход»", got)
	}
	if got := p.text(`form[action="/login"] button[type="submit"]`); got != "Войти" {
		t.Errorf("russian submit button = %q, want «Войти»", got)
	}
	p.submitLogin(email, "not the password at all")
	p.do("russian sign-in error", chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] .flash-error`)))
	if got := p.text(`form[action="/login"] .flash-error`); got != "Неверный адрес или пароль." {
		t.Fatalf("russian sign-in error = %q", got)
	}
	p.submitLogin(email, newPassword)
	p.waitPath("/")
	p.waitSignedInAs(email)
	if got := p.text(`.topnav-links a[href="/"]`); got != "Главная" {
		t.Errorf("russian nav home link = %q, want «Главная»", got)
	}
}

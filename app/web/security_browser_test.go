package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mailer/app/testutil"
)

// Finding 1 in a real browser: a victim who clicks a confirmation link (one an attacker had
// sent to the victim's address, or the attacker's own) lands on a page that says the address
// is confirmed and offers sign-in, and is signed in to nothing.
func TestSecurityConfirmationLinkInBrowserSignsNobodyIn(t *testing.T) {
	bctx := testutil.Browser(t)
	srv, sink := smtpServer(t, nil)
	const victim = "victim@example.com"
	newBrowser(t, srv).post("/register", url.Values{"email": {victim}, "password": {"attacker chose this"}})
	link := linkIn(t, sink.WaitFor(t, 1, 10*time.Second)[0].Text)

	p := &chromeTab{t: t, ctx: bctx, srv: srv}
	p.do("open the unsolicited confirmation link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/login"]`)),
	)
	if got := p.text(`main`); !strings.Contains(got, victim+" is confirmed") {
		t.Fatalf("confirmation page = %q", got)
	}
	if got := p.eval(`String(document.querySelector("details.account-menu") !== null)`); got != "false" {
		t.Fatal("the confirmation link signed the browser in")
	}
	p.do("open /account", chromedp.Navigate(srv.URL+"/account"))
	p.waitPath("/login")
}

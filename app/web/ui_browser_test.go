package web_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// waitJS waits until the JavaScript expression is truthy in the current document (it does
// not survive a navigation: wait for the path first).
func (p *chromeTab) waitJS(what, expr string) {
	p.t.Helper()
	p.do(what, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserStepTimeout)))
}

// figures reads the home page's three counts.
func (p *chromeTab) figures() (mailings, running, recipients string) {
	p.t.Helper()
	p.do("open the home page",
		chromedp.Navigate(p.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#count-mailings`)),
	)
	return p.text(`#count-mailings`), p.text(`#count-running`), p.text(`#count-recipients`)
}

var mailingLink = regexp.MustCompile(`^/mailings/(\d+)$`)

func TestManageClientsMessagesAndMailingsInBrowser(t *testing.T) {
	bctx := testutil.Browser(t)
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	p := &chromeTab{t: t, ctx: bctx, srv: srv}
	const email = "erin@example.com"
	user, err := srv.App.Auth.CreateConfirmedUser(context.Background(), email, pw, false)
	if err != nil {
		t.Fatal(err)
	}

	// Sign in through the form.
	p.do("open /login",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] #f-email`)),
	)
	p.submitLogin(email, pw)
	p.waitPath("/")
	p.waitSignedInAs(email)
	if m, r, c := p.figures(); m != "0" || r != "0" || c != "0" {
		t.Fatalf("home figures of a new account = %s mailings, %s running, %s recipients; want 0 0 0", m, r, c)
	}

	// A client: the HTMX form redirects to the list with the new row.
	p.do("fill the new client form",
		chromedp.Navigate(srv.URL+"/clients/new"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "ann@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#f-full_name`), "Ann Example"),
		chromedp.Click(chromedp.CSS(`form[action="/clients/new"] button[type="submit"]`)),
	)
	p.waitPath("/clients")
	p.waitJS("the client's row in the list",
		`[...document.querySelectorAll("#list tbody tr")].some(tr => tr.textContent.includes("ann@example.com") && tr.textContent.includes("Ann Example"))`)

	// A message.
	p.do("fill the new message form",
		chromedp.Navigate(srv.URL+"/messages/new"),
		chromedp.WaitVisible(chromedp.CSS(`#f-subject`)),
		chromedp.SendKeys(chromedp.CSS(`#f-subject`), "Hi {{.Name}}"),
		chromedp.SendKeys(chromedp.CSS(`#f-body`), "Hello {{.Name}}, this is for {{.Email}}."),
		chromedp.Click(chromedp.CSS(`form[action="/messages/new"] button[type="submit"]`)),
	)
	p.waitPath("/messages")
	p.waitJS("the message's row in the list",
		`[...document.querySelectorAll("#list tbody tr")].some(tr => tr.textContent.includes("Hi Name") && tr.querySelector(".placeholder")?.textContent === "Name")`)

	// A mailing of that message to all clients. The server's clock stands at 2026-01-05
	// 09:00 UTC: the mailing starts tomorrow, so only "Send now" sends it.
	p.do("open the new mailing form",
		chromedp.Navigate(srv.URL+"/mailings/new"),
		chromedp.WaitVisible(chromedp.CSS(`select[name="message_id"]`)),
	)
	msgID := p.eval(`[...document.querySelectorAll('select[name="message_id"] option')].find(o => o.textContent.trim() === "Hi {{.Name}}")?.value || ""`)
	if msgID == "" {
		t.Fatal("the message is not offered in the mailing form")
	}
	p.do("fill the new mailing form",
		chromedp.SetValue(chromedp.CSS(`select[name="message_id"]`), msgID),
		chromedp.Click(chromedp.CSS(`#f-all_clients`)),
		chromedp.SetValue(chromedp.CSS(`#f-start_at`), "2026-01-06T09:00"),
		chromedp.SetValue(chromedp.CSS(`#f-end_at`), "2026-01-31T18:00"),
	)
	if got := p.eval(`String(document.querySelector("#f-all_clients").checked)`); got != "true" {
		t.Fatalf("all clients checkbox checked = %s", got)
	}
	p.do("submit the mailing form",
		chromedp.Click(chromedp.CSS(`form[action="/mailings/new"] div[role="group"] button[type="submit"]`)),
	)
	p.waitPath("/mailings")
	p.waitJS("the mailing's row in the list",
		`[...document.querySelectorAll("#list tbody tr a")].some(a => /^\/mailings\/\d+$/.test(a.getAttribute("href")))`)
	href := p.eval(`[...document.querySelectorAll("#list tbody tr a")].map(a => a.getAttribute("href")).find(h => /^\/mailings\/\d+$/.test(h)) || ""`)
	m := mailingLink.FindStringSubmatch(href)
	if m == nil {
		t.Fatalf("mailing link %q", href)
	}
	path := href

	if m, r, c := p.figures(); m != "1" || r != "0" || c != "1" {
		t.Fatalf("home figures after creating the mailing = %s mailings, %s running, %s recipients; want 1 0 1", m, r, c)
	}

	// Send now: the progress follows the run in place until the message is sent.
	sendButton := `form[action="` + path + `/send"] button[type="submit"]`
	p.do("open the mailing page",
		chromedp.Navigate(srv.URL+path),
		chromedp.WaitVisible(chromedp.CSS(sendButton)),
		chromedp.WaitEnabled(chromedp.CSS(sendButton)),
	)
	p.markDocument("send")
	p.do("click Send now", chromedp.Click(chromedp.CSS(sendButton)))
	p.waitJS("the progress to show one message sent",
		`(document.querySelector('#progress b[data-count="sent"]') || {}).textContent === "1"`)
	if p.marker() != "send" || p.path() != path {
		t.Fatalf("sending reloaded the page (marker %q, path %q)", p.marker(), p.path())
	}
	msgs := sink.WaitFor(t, 1, 10*time.Second)
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ann@example.com" || msgs[0].Subject != "Hi Ann Example" {
		t.Fatalf("sink got %+v, want one message “Hi Ann Example” to ann@example.com", msgs)
	}
	if m, r, c := p.figures(); m != "1" || r != "1" || c != "1" {
		t.Fatalf("home figures after sending = %s mailings, %s running, %s recipients; want 1 1 1", m, r, c)
	}

	// Searching the clients list updates the table in place.
	bob := &mailing.Client{OwnerID: user.ID, Email: "bob@example.com", FullName: "Bob Other"}
	bob.Validate()
	if err := srv.App.Store.CreateClient(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	search := `form.search input[name="q"]`
	p.do("open the clients list",
		chromedp.Navigate(srv.URL+"/clients"),
		chromedp.WaitVisible(chromedp.CSS(`#client-`+strconv.FormatInt(bob.ID, 10))),
		chromedp.WaitVisible(chromedp.CSS(search)),
	)
	p.markDocument("search")
	p.do("type a search", chromedp.SendKeys(chromedp.CSS(search), "ann"))
	p.do("the list to drop the client that does not match",
		chromedp.WaitNotPresent(chromedp.CSS(`#client-`+strconv.FormatInt(bob.ID, 10))))
	if got := p.text(`#list`); !strings.Contains(got, "ann@example.com") || strings.Contains(got, "bob@example.com") {
		t.Fatalf("list after searching “ann” = %q", got)
	}
	if p.marker() != "search" || p.path() != "/clients" {
		t.Fatalf("the search reloaded the page (marker %q, path %q)", p.marker(), p.path())
	}
	if got := p.eval(`location.search`); !strings.Contains(got, "q=ann") {
		t.Errorf("the search is not in the address (location.search = %q)", got)
	}
	p.do("type a search nothing matches", typeInto(search, "zzz"))
	p.waitJS("the list to say nothing matches",
		`document.querySelector("#list") && document.querySelector("#list").textContent.includes("Nothing matches")`)
	if got := p.text(`#list`); strings.Contains(got, "ann@example.com") {
		t.Fatalf("list after searching “zzz” = %q", got)
	}
	if p.marker() != "search" {
		t.Fatal("the second search reloaded the page")
	}
}

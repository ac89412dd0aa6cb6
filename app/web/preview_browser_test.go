package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// A message's HTML is its author's own markup: shown to its author and to managers, it
// must never run script in Mailer's origin.
func TestAMessagesScriptNeverRunsInTheAppInBrowser(t *testing.T) {
	bctx := testutil.Browser(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	p := &chromeTab{t: t, ctx: bctx, srv: srv}
	const email = "mallory@example.com"
	u, err := srv.App.Auth.CreateConfirmedUser(context.Background(), email, pw, false)
	if err != nil {
		t.Fatal(err)
	}
	body := `<p id="probe">Hello {{.Name}}</p>` +
		`<script>parent.document.body.dataset.pwned = "script"; top.__pwned = 1;</script>` +
		`<img src="data:," onerror="parent.document.body.dataset.pwned = 'onerror'">` +
		`<svg onload="parent.document.body.dataset.pwned = 'svg'"></svg>`
	m := &mailing.Message{OwnerID: u.ID, Subject: "Innocent", Format: mailing.FormatHTML, Body: body}
	if errs := m.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := srv.App.Store.SaveMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	path := "/messages/" + strconv.FormatInt(m.ID, 10)

	p.do("open /login", chromedp.Navigate(srv.URL+"/login"))
	p.submitLogin(email, pw)
	p.waitPath("/")
	p.do("open the message", chromedp.Navigate(srv.URL+path))
	p.waitPath(path)
	for _, sel := range []string{"iframe.preview-desktop", "iframe.preview-phone"} {
		if got := p.eval(`document.querySelector("` + sel + `").getAttribute("sandbox")`); got != "" {
			t.Fatalf("%s sandbox=%q, want it empty (no allowances)", sel, got)
		}
	}
	// Both frames have loaded — their scripts would have run by now — and nothing of them
	// reached the page that holds them.
	p.waitJS("both preview frames to load",
		`performance.getEntriesByType("resource").filter(e => e.name.endsWith("`+path+`/preview") && e.responseEnd > 0).length >= 2`)
	if got := p.eval(`String(document.body.dataset.pwned) + "/" + String(window.__pwned)`); got != "undefined/undefined" {
		t.Fatalf("the message's script ran in the app: %s", got)
	}
	if got := p.eval(`String((() => { try { return document.querySelector("iframe.preview-desktop").contentDocument === null } catch (e) { return true } })())`); got != "true" {
		t.Fatal("the app's page can reach into the preview frame: it is not cross-origin")
	}

	// The editor previews as one types, in the same kind of frame.
	p.do("open the editor", chromedp.Navigate(srv.URL+path+"/edit"))
	p.waitPath(path + "/edit")
	p.do("type into the body", typeInto(`#f-body`, `<p>Live {{.Name}}</p><script>parent.document.body.dataset.pwned="live"</script>`))
	p.waitJS("the live preview of what was typed",
		`(document.querySelector("#live-preview #preview-body")?.textContent || "").includes("Live Ann Example")`)
	src := p.eval(`document.querySelector("#live-preview iframe").getAttribute("src")`)
	if !strings.HasPrefix(src, "/messages/preview/") || p.eval(`document.querySelector("#live-preview iframe").getAttribute("sandbox")`) != "" {
		t.Fatalf("live preview frame src %q is not a sandboxed draft", src)
	}
	p.waitJS("the live preview's frames to load",
		`performance.getEntriesByType("resource").filter(e => e.name.endsWith("`+src+`") && e.responseEnd > 0).length >= 2`)
	if got := p.eval(`String(document.body.dataset.pwned)`); got != "undefined" {
		t.Fatalf("the draft's script ran in the app: %s", got)
	}
}

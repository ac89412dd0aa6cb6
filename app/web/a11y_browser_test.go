package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// axeVersion is the axe-core vendored under testdata/axe (see its README); the test checks
// the banner so a refresh is a deliberate change of this line too.
const axeVersion = "4.14.1"

// axeTags are the rule sets a page must pass: WCAG 2.1 A and AA, and axe's best practices.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// uiFixture is a server with an owner whose every kind of object exists (a mailing that has
// run, with a sent and a failed attempt; one that has not), a manager, and the ids the
// route map's patterns take.
type uiFixture struct {
	t                                               *testing.T
	srv                                             *testutil.Server
	owner, mgr                                      *browser
	ownerID                                         int64
	clientID, messageID, mailingID, layoutID, supID int64
	sentMailingID                                   int64
}

const (
	uiOwner   = "owner@example.com"
	uiManager = "boss@example.com"
)

func newUIFixture(t *testing.T) *uiFixture {
	t.Helper()
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	fx := &uiFixture{t: t, srv: srv}
	fx.owner = account(t, srv, uiOwner, false)
	fx.mgr = account(t, srv, uiManager, true)
	fx.ownerID = userID(t, srv, uiOwner)
	ctx := context.Background()
	st := srv.App.Store

	var ids []int64
	for i, name := range []string{"Ann Example", "Bob Example", "Carol Example"} {
		c := &mailing.Client{OwnerID: fx.ownerID, Email: fmt.Sprintf("reader%d@example.com", i+1), FullName: name, Comment: "met at the fair"}
		c.Validate()
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	fx.clientID = ids[0]
	if _, err := st.TagClients(ctx, fx.ownerID, "vip", false, mailing.ClientSelection{IDs: ids[:2]}); err != nil {
		t.Fatal(err)
	}
	l := &mailing.Layout{OwnerID: fx.ownerID, Name: "Plain", HTML: mailing.DefaultLayoutHTML}
	if errs := l.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := st.SaveLayout(ctx, l); err != nil {
		t.Fatal(err)
	}
	fx.layoutID = l.ID
	msg := &mailing.Message{OwnerID: fx.ownerID, Subject: "December news for {{.Name}}", Body: "Hello {{.Name}}, this is for {{.Email}}."}
	msg.Validate()
	if err := st.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	fx.messageID = msg.ID
	if _, err := st.Suppress(ctx, []mailing.Suppression{{OwnerID: fx.ownerID, Email: "gone@example.com", Reason: mailing.SuppressManual}}); err != nil {
		t.Fatal(err)
	}
	sup, err := st.ListSuppressions(ctx, mailing.Scope{UserID: fx.ownerID}, mailing.ListParams{Q: "gone@example.com"})
	if err != nil || len(sup.Items) != 1 {
		t.Fatalf("suppression: %v", err)
	}
	fx.supID = sup.Items[0].ID

	// A mailing that has run (one sent, one refused), and one that has not.
	now := srv.Clock.Now()
	sent := &mailing.Mailing{OwnerID: fx.ownerID, MessageID: msg.ID, StartAt: now, EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := st.SaveMailing(ctx, sent, mailing.Recipients{ClientIDs: ids[:2]}); err != nil {
		t.Fatal(err)
	}
	fx.sentMailingID = sent.ID
	later := &mailing.Mailing{OwnerID: fx.ownerID, MessageID: msg.ID, StartAt: now.Add(48 * time.Hour), EndAt: now.Add(96 * time.Hour), Period: mailing.PeriodNone}
	if err := st.SaveMailing(ctx, later, mailing.Recipients{ClientIDs: ids}); err != nil {
		t.Fatal(err)
	}
	fx.mailingID = later.ID
	srv.App.Versions.Bump(ctx, fx.ownerID)
	sink.FailRecipient("reader2@example.com", testutil.AtRcpt, testutil.Reject550)
	sendAndWait(t, fx.owner, sent.ID, 1, 1)
	return fx
}

// a11yPage is a page of the route map as one actor sees it.
type a11yPage struct{ actor, path string }

// a11yNotPages are the GET routes of the route map that are not Mailer's HTML pages, and why.
var a11yNotPages = map[string]string{
	"/static/*":                  "assets",
	"/healthz":                   "JSON",
	"/metrics":                   "Prometheus text",
	"/api/openapi.json":          "the OpenAPI document (JSON)",
	"/clients/export.csv":        "CSV",
	"/messages/:id<int>/preview": "the user's own email HTML, shown in a sandboxed frame",
	"/layouts/:id<int>/preview":  "the user's own email HTML, shown in a sandboxed frame",
	"/manager/queues":            "asynqmon's own single-page app, not ours",
	"/manager/queues/*":          "asynqmon's API",
	"/auth/:provider":            "redirects to the identity provider",
}

// pages are the HTML pages of the route map (azTable) that answer 200 to the anonymous
// visitor, the owner and the manager, with ids filled in; an error page stands for the
// routes that answer 404 (dummy tokens).
func (fx *uiFixture) pages() []a11yPage {
	fx.t.Helper()
	var out []a11yPage
	for _, r := range azRoutes(fx.t) {
		if r.method != http.MethodGet || r.opt&azHTMX != 0 {
			continue
		}
		if _, skip := a11yNotPages[r.path]; skip || strings.HasPrefix(r.path, "/api/v1/") {
			continue // the JSON API answers JSON, not pages
		}
		p := r.path
		for _, kind := range []struct {
			prefix string
			id     int64
		}{{"/clients/", fx.clientID}, {"/messages/", fx.messageID}, {"/mailings/", fx.sentMailingID}, {"/layouts/", fx.layoutID}, {"/suppressions/", fx.supID}} {
			if strings.HasPrefix(p, kind.prefix) {
				p = strings.Replace(p, ":id<int>", strconv.FormatInt(kind.id, 10), 1)
			}
		}
		if strings.Contains(p, ":key") {
			p = strings.Replace(p, ":key", fx.subscribeKey(), 1)
		}
		if strings.Contains(p, ":") {
			continue // a token or provider route: a 404 for the dummies, below
		}
		// Each page once per actor who sees it differently: a page open to visitors as a
		// visitor; a form as its owner; lists and objects also as a manager (whose rows
		// name their owners and who has controls of their own).
		form := slices.ContainsFunc([]string{"/new", "/edit", "/delete", "/import", "/account", "/password", "/recipients"},
			func(suffix string) bool { return strings.HasSuffix(p, suffix) })
		switch {
		case r.want.anon == http.StatusOK:
			out = append(out, a11yPage{"anon", p})
		case r.want.owner == http.StatusOK:
			out = append(out, a11yPage{"owner", p})
			if r.want.manager == http.StatusOK && !form {
				out = append(out, a11yPage{"mgr", p})
			}
		case r.want.manager == http.StatusOK:
			out = append(out, a11yPage{"mgr", p})
		}
	}
	// Pages beyond the route patterns: a mailing that has not run, a subscribe confirmation
	// (a live link, and a dead one), and an error page.
	live := mailing.SubscribeToken(fx.srv.App.Config.SecretKey, mailing.SubscribeRequest{
		Key: fx.subscribeKey(), Email: "visitor@example.com", Name: "Visitor", Unix: fx.srv.Clock.Now().Unix()})
	out = append(out, a11yPage{"owner", "/mailings/" + strconv.FormatInt(fx.mailingID, 10)},
		a11yPage{"anon", "/confirm/dummy-token"}, a11yPage{"anon", "/subscribe/confirm/" + live},
		a11yPage{"anon", "/subscribe/confirm/dummy-token"}, a11yPage{"owner", "/no-such-page"})
	slices.SortStableFunc(out, func(a, b a11yPage) int { return strings.Compare(a.actor, b.actor) })
	return out
}

// subscribeKey is the owner's public subscribe form key.
func (fx *uiFixture) subscribeKey() string {
	fx.t.Helper()
	f, err := fx.srv.App.Store.SubscribeForm(context.Background(), fx.ownerID, mailing.NewSubscribeKey())
	if err != nil {
		fx.t.Fatal(err)
	}
	return f.Key
}

// signIn gives the tab actor's session (none for the anonymous visitor) and the language.
func (fx *uiFixture) signIn(p *chromeTab, actor, lang string) {
	fx.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		fx.t.Fatal(err)
	}
	set := func(name, value string) {
		if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: fx.srv.URL + "/"}); err != nil {
			fx.t.Fatal(err)
		}
	}
	var b *browser
	switch actor {
	case "owner":
		b = fx.owner
	case "mgr":
		b = fx.mgr
	}
	if b != nil {
		u, _ := url.Parse(fx.srv.URL)
		for _, c := range b.c.Jar.Cookies(u) {
			set(c.Name, c.Value)
		}
	}
	set("mailer_lang", lang)
}

// axeViolation is the part of an axe result a failure message needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n      … and %d more", len(v.Nodes)-3)
			break
		}
		fmt.Fprintf(&b, "\n      %v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

var injectTime, runTime, openTime time.Duration

// axe runs axe-core on the tab's document (injecting it first unless it is there) and returns the violations.
func (p *chromeTab) axe(source string, inject bool) []axeViolation {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	tags, _ := json.Marshal(axeTags)
	// Frames are left out: the only ones are the sandboxed previews of the user's own email.
	run := `typeof axe === "object" ? axe.run(document, {runOnly: {type: "tag", values: ` + string(tags) + `},
		resultTypes: ["violations"], iframes: false}).then(r => JSON.stringify(r.violations)) : "no axe"`
	t0 := time.Now()
	if inject {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](source)); err != nil {
			p.t.Fatalf("inject axe: %v", err)
		}
	}
	injectTime += time.Since(t0)
	t0 = time.Now()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	runTime += time.Since(t0)
	if err != nil {
		p.t.Fatalf("run axe: %v", err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		p.t.Fatalf("axe's answer %.200q: %v", out, err)
	}
	return vs
}

// open loads path and waits until the document and its deferred scripts are done.
func (p *chromeTab) open(path string) {
	p.t.Helper()
	t0 := time.Now()
	p.do("open "+path, chromedp.Navigate(p.srv.URL+path))
	p.waitJS(path+" loaded", `document.readyState === "complete"`)
	openTime += time.Since(t0)
}

// viewport sets the tab's width (its height is a phone's or a laptop's).
func (p *chromeTab) viewport(width int64) {
	p.t.Helper()
	height := int64(900)
	if width < 768 {
		height = 780
	}
	p.do("set the viewport", chromedp.EmulateViewport(width, height))
}

func readAxe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "/*! axe v"+axeVersion+"\n") {
		t.Fatalf("testdata/axe/axe.min.js is not axe-core %s: %.40q", axeVersion, b)
	}
	return string(b)
}

// TestEveryPageIsAccessibleAndFitsAPhone opens every HTML page of the route map as the
// anonymous visitor, an owner and a manager, in English and Russian, at a laptop's width and
// a small phone's, in one tab: axe-core finds no WCAG 2.1 A/AA or best-practice violation,
// and at 360 px the page never scrolls sideways.
func TestEveryPageIsAccessibleAndFitsAPhone(t *testing.T) {
	source := readAxe(t)
	bctx := testutil.Browser(t)
	fx := newUIFixture(t)
	p := &chromeTab{t: t, ctx: bctx, srv: fx.srv}
	pages := fx.pages()
	if f := os.Getenv("A11Y_ONLY"); f != "" {
		pages = slices.DeleteFunc(pages, func(p a11yPage) bool { return !strings.Contains(p.path, f) })
	}
	if len(pages) < 30 && os.Getenv("A11Y_ONLY") == "" {
		t.Fatalf("only %d pages from the route map: %v", len(pages), pages)
	}
	start := time.Now()
	runs := 0
	for _, lang := range []string{"en", "ru"} {
		actor := ""
		for _, pg := range pages {
			if pg.actor != actor {
				actor = pg.actor
				fx.signIn(p, actor, lang)
			}
			// Both widths on one load: the viewport changes under the same document.
			p.viewport(1280)
			p.open(pg.path)
			if got := p.eval(`document.documentElement.lang`); got != lang && !(pg.path == "/api/docs" && got == "en") {
				// The API reference is written in English only, and says so.
				t.Fatalf("%s %s: <html lang=%q>", lang, pg.path, got)
			}
			for _, width := range []int64{1280, 360} {
				where := fmt.Sprintf("%s %s as %s at %d px", lang, pg.path, pg.actor, width)
				if width != 1280 {
					p.viewport(width)
				}
				for _, v := range p.axe(source, width == 1280) {
					t.Errorf("%s: %s", where, v)
				}
				runs++
				if width < 768 {
					if over := p.eval(`String(document.documentElement.scrollWidth - window.innerWidth)`); over != "0" && !strings.HasPrefix(over, "-") {
						wide := p.eval(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "")).join(", ")`)
						t.Errorf("%s: the page scrolls sideways by %s px (widest: %s)", where, over, wide)
					}
				}
			}
		}
	}
	t.Logf("inject %s run %s open %s", injectTime, runTime, openTime)
	t.Logf("%d axe runs on %d pages in %s", runs, len(pages), time.Since(start).Round(time.Millisecond))
}

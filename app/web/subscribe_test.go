package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// subFormLinkRE finds the public form's link on the account page.
var subFormLinkRE = regexp.MustCompile(`id="subscribe-link">(http://[^<]+/subscribe/([A-Za-z0-9_-]+))<`)

// subConfirmRE finds the confirmation link in a subscribe email.
var subConfirmRE = regexp.MustCompile(`http://\S+/subscribe/confirm/[A-Za-z0-9_.-]+`)

// subFormLink returns the owner's public form link as the account page shows it.
func subFormLink(t *testing.T, owner *browser) string {
	t.Helper()
	r := owner.get("/account")
	m := subFormLinkRE.FindStringSubmatch(r.Body)
	if r.StatusCode != 200 || m == nil {
		t.Fatalf("account page %d without the form's link: %.600s", r.StatusCode, r.Body[max(strings.Index(r.Body, `id="subscribe"`), 0):])
	}
	return m[1]
}

// subVisitor sends a request as a visitor of the owner's own site does: the embedded form
// posts cross-site, without our cookies or a CSRF token.
func subVisitor(t *testing.T, method, link string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, link, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://owner-site.example")
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func subForm(email, name string) url.Values {
	return url.Values{"email": {email}, "name": {name}, "website": {""}}
}

// subMain is the <main> of a page, the part that answers the request.
func subMain(body string) string {
	i, j := strings.Index(body, "<main"), strings.Index(body, "</main>")
	if i < 0 || j < i {
		return body
	}
	return body[i:j]
}

// subConfirmLink waits for the subscribe mail to email and returns its link.
func subConfirmLink(t *testing.T, sink *testutil.SMTPServer, n int, email string) string {
	t.Helper()
	msgs := sink.WaitFor(t, n, 10*time.Second)
	for _, m := range slices.Backward(msgs) {
		if len(m.To) == 1 && m.To[0] == email {
			if m.Subject != "Confirm your subscription" {
				t.Fatalf("subscribe mail subject %q", m.Subject)
			}
			link := subConfirmRE.FindString(m.Text)
			if link == "" {
				t.Fatalf("no confirmation link in:\n%s", m.Text)
			}
			return link
		}
	}
	t.Fatalf("no mail to %s among %d", email, len(msgs))
	return ""
}

func subConsents(t *testing.T, srv *testutil.Server, ownerID int64) []mailing.Consent {
	t.Helper()
	var out []mailing.Consent
	if err := srv.App.Store.DB.NewSelect().Model(&out).Where("owner_id = ?", ownerID).OrderExpr("id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// subMailsDone waits until every system mail the server started has been handed over, so a
// count of the sink is final.
func subMailsDone(srv *testutil.Server) { srv.App.Auth.Close() }

func TestSubscribeDoubleOptIn(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	const owner = "shop@example.com"
	a := account(t, srv, owner, false)
	ownerID := userID(t, srv, owner)

	// The owner gives subscribers a tag; the account page shows the link and the snippet.
	if r := a.post("/account/subscribe", url.Values{"enabled": {"1"}, "tag": {"  Newsletter "}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save the form: %d %.300s", r.StatusCode, r.Body)
	}
	link := subFormLink(t, a)
	page := html.UnescapeString(a.get("/account").Body)
	for _, want := range []string{`<form method="post" action="` + link + `">`, `name="email"`, `name="name"`, `name="website" tabindex="-1"`, `value="Newsletter"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("account page lacks %q", want)
		}
	}

	// The visitor opens the form and sends it from the owner's site.
	code, body := subVisitor(t, http.MethodGet, link, nil)
	if code != 200 || !strings.Contains(body, `name="email"`) || !strings.Contains(body, `name="name"`) || strings.Contains(body, `href="/register"`) {
		t.Fatalf("public form: %d %.500s", code, subMain(body))
	}
	code, body = subVisitor(t, http.MethodPost, link, subForm(" Rita@Example.com ", "Rita Reader"))
	if code != 200 || !strings.Contains(body, "Check your email") || !strings.Contains(body, "rita@example.com") {
		t.Fatalf("send the form: %d %.500s", code, subMain(body))
	}
	requested := srv.Clock.Now()
	confirm := subConfirmLink(t, sink, 1, "rita@example.com")
	if len(schedClients(t, srv, owner)) != 0 {
		t.Fatal("a client was added before the confirmation")
	}

	// A mail scanner follows the link: it sees a button and nothing is added.
	srv.Clock.Advance(time.Hour)
	for range 2 {
		code, body = subVisitor(t, http.MethodGet, confirm, nil)
		if code != 200 || !strings.Contains(body, `action="`+pathOf(confirm)+`"`) || !strings.Contains(body, "<button") ||
			!strings.Contains(body, "rita@example.com") {
			t.Fatalf("confirmation page: %d %.500s", code, subMain(body))
		}
	}
	if code, _ := subVisitor(t, http.MethodHead, confirm, nil); code != 200 {
		t.Fatalf("HEAD of the link: %d", code)
	}
	if n := len(schedClients(t, srv, owner)); n != 0 || len(subConsents(t, srv, ownerID)) != 0 {
		t.Fatalf("opening the link added %d clients", n)
	}

	// The button: the client, with the form's tag, and the consent.
	code, body = subVisitor(t, http.MethodPost, confirm, url.Values{})
	if code != 200 || !strings.Contains(body, "You are subscribed") {
		t.Fatalf("confirm: %d %.500s", code, subMain(body))
	}
	clients := schedClients(t, srv, owner)
	cl, ok := clients["rita@example.com"]
	if len(clients) != 1 || !ok {
		t.Fatalf("clients after confirming: %v", clients)
	}
	full := schedClient(t, srv, cl.ID)
	if full.FullName != "Rita Reader" || !slices.Equal(full.Tags, []string{"Newsletter"}) || full.UnsubscribedAt != nil {
		t.Fatalf("client %+v", full)
	}
	consents := subConsents(t, srv, ownerID)
	key := link[strings.LastIndexByte(link, '/')+1:]
	if len(consents) != 1 {
		t.Fatalf("%d consents, want 1", len(consents))
	}
	c := consents[0]
	if c.ClientID != cl.ID || c.Email != "rita@example.com" || c.IP != "127.0.0.1" || c.FormKey != key ||
		!c.ConfirmedAt.Equal(srv.Clock.Now()) || !c.RequestedAt.Equal(requested.Truncate(time.Second)) || c.TokenHash == "" {
		t.Fatalf("consent %+v (requested %v, confirmed %v, key %s)", c, requested, srv.Clock.Now(), key)
	}
	if r := a.get("/clients"); !strings.Contains(r.Body, "rita@example.com") {
		t.Fatal("the owner's list lacks the new client")
	}
	// The log tells the story without the link's token or the visitor's address.
	logs := srv.Logs.String()
	for _, event := range []string{"subscribe requested", "subscription confirmed"} {
		if !strings.Contains(logs, event) {
			t.Errorf("log lacks the event %q", event)
		}
	}
	if tok := confirm[strings.LastIndexByte(confirm, '/')+1:]; strings.Contains(logs, tok) || strings.Contains(logs, "rita@example.com") {
		t.Error("the log holds the confirmation token or the visitor's address")
	}

	// Pressing again, or opening the link again, adds nothing.
	code, body = subVisitor(t, http.MethodPost, confirm, url.Values{})
	if code != 200 || !strings.Contains(body, "Already confirmed") {
		t.Fatalf("second press: %d %.500s", code, subMain(body))
	}
	if code, body := subVisitor(t, http.MethodGet, confirm, nil); code != 200 || !strings.Contains(body, "Already confirmed") || strings.Contains(subMain(body), "<button") {
		t.Fatalf("link after confirming: %d %.500s", code, subMain(body))
	}
	if n, m := len(schedClients(t, srv, owner)), len(subConsents(t, srv, ownerID)); n != 1 || m != 1 {
		t.Fatalf("after a second press: %d clients, %d consents", n, m)
	}

	// On the form's own page, HTMX swaps the answer in place of the form.
	visitor := newBrowser(t, srv)
	visitor.get(pathOf(link))
	r := visitor.post(pathOf(link), subForm("sam@example.com", ""), "HX-Request", "true")
	if r.StatusCode != 200 || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Check your email") {
		t.Fatalf("HTMX send: %d %.300s", r.StatusCode, r.Body)
	}
	subConfirmLink(t, sink, 2, "sam@example.com")
}

func TestSubscribeSameAnswerAndHoneypot(t *testing.T) {
	srv, sink := smtpServer(t, map[string]string{"RATE_LIMIT_SUBSCRIBE": "100/1h"})
	const owner = "club@example.com"
	a := account(t, srv, owner, false)
	ownerID := userID(t, srv, owner)
	ctx := context.Background()
	known := &mailing.Client{OwnerID: ownerID, Email: "known@example.com", FullName: "Known Name", Tags: []string{"vip"}}
	known.Validate()
	if err := srv.App.Store.SaveClient(ctx, known); err != nil {
		t.Fatal(err)
	}
	if r := a.post("/account/subscribe", url.Values{"enabled": {"1"}, "tag": {"web"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save the form: %d", r.StatusCode)
	}
	link := subFormLink(t, a)

	// A client already, a stranger, and a bot that filled the honeypot: one answer.
	answer := func(email string, form url.Values) string {
		t.Helper()
		code, body := subVisitor(t, http.MethodPost, link, form)
		if code != 200 {
			t.Fatalf("%s: %d %.400s", email, code, subMain(body))
		}
		return strings.ReplaceAll(subMain(body), email, "ADDRESS")
	}
	bot := subForm("bot@example.com", "Bot")
	bot.Set("website", "http://spam.example")
	for _, email := range []string{"known@example.com", "stranger@example.com", "bot@example.com"} {
		form := subForm(email, "Other Name")
		if email == "bot@example.com" {
			form = bot
		}
		got, want := answer(email, form), answer("known@example.com", subForm("known@example.com", "Other Name"))
		if got != want {
			t.Fatalf("the answer for %s differs from a known address's:\n%s\n---\n%s", email, got, want)
		}
	}
	subMailsDone(srv)
	sent := map[string]int{}
	for _, m := range sink.Messages() {
		sent[m.To[0]]++
	}
	if sent["known@example.com"] != 4 || sent["stranger@example.com"] != 1 || sent["bot@example.com"] != 0 || len(sent) != 2 {
		t.Fatalf("mails sent: %v; want 4 to the known address, 1 to the stranger, none to the honeypot's", sent)
	}
	if strings.Count(srv.Logs.String(), "honeypot filled") != 1 {
		t.Fatal("the honeypot was not logged once")
	}

	// A bad address or name is shown on the form, with the values kept; nothing is sent.
	code, body := subVisitor(t, http.MethodPost, link, subForm("not an address", strings.Repeat("n", 201)))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `aria-invalid="true"`) ||
		!strings.Contains(body, `id="e-email"`) || !strings.Contains(body, `id="e-name"`) || !strings.Contains(body, `value="not an address"`) {
		t.Fatalf("bad fields: %d %.800s", code, subMain(body))
	}
	subMailsDone(srv)
	if sink.Count() != 5 {
		t.Fatalf("a refused form sent mail: %d", sink.Count())
	}

	// The known client confirms: their name stays, their tags gain the form's.
	confirm := subConfirmLink(t, sink, 5, "known@example.com")
	if code, body := subVisitor(t, http.MethodPost, confirm, url.Values{}); code != 200 || !strings.Contains(body, "You are subscribed") {
		t.Fatalf("confirm: %d %.400s", code, subMain(body))
	}
	got := schedClient(t, srv, known.ID)
	if got.FullName != "Known Name" || !slices.Equal(got.Tags, []string{"vip", "web"}) {
		t.Fatalf("known client after confirming: %q %v", got.FullName, got.Tags)
	}
	if n := len(schedClients(t, srv, owner)); n != 1 {
		t.Fatalf("%d clients, want the one", n)
	}
}

func TestSubscribeRateLimit(t *testing.T) {
	srv, sink := smtpServer(t, map[string]string{"RATE_LIMIT_SUBSCRIBE": "2/1h"})
	a := account(t, srv, "limits@example.com", false)
	path := pathOf(subFormLink(t, a))
	send := func(ip, email string, want int) {
		t.Helper()
		r := newBrowserFrom(t, srv, ip).postRaw(path, subForm(email, ""))
		if r.StatusCode != want {
			t.Fatalf("%s from %s: %d, want %d: %.400s", email, ip, r.StatusCode, want, subMain(r.Body))
		}
		if want == http.StatusTooManyRequests && !strings.Contains(r.Body, "Too many attempts") {
			t.Fatalf("429 without the message: %.400s", subMain(r.Body))
		}
	}
	// Per IP: the third request from one address is refused, whatever it asks.
	send("127.0.0.2", "a1@example.com", 200)
	send("127.0.0.2", "a2@example.com", 200)
	send("127.0.0.2", "a3@example.com", http.StatusTooManyRequests)
	// Per address: the third request for one mailbox is refused, from wherever it comes.
	send("127.0.0.3", "target@example.com", 200)
	send("127.0.0.4", "target@example.com", 200)
	send("127.0.0.5", "target@example.com", http.StatusTooManyRequests)
	// Other visitors and addresses go on.
	send("127.0.0.5", "other@example.com", 200)

	subMailsDone(srv)
	sent := map[string]int{}
	for _, m := range sink.Messages() {
		sent[m.To[0]]++
	}
	want := map[string]int{"a1@example.com": 1, "a2@example.com": 1, "target@example.com": 2, "other@example.com": 1}
	if len(sent) != len(want) {
		t.Fatalf("mails %v, want %v", sent, want)
	}
	for k, n := range want {
		if sent[k] != n {
			t.Fatalf("mails %v, want %v", sent, want)
		}
	}
}

func TestSubscribeFormOffAndNewKey(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	const owner = "switch@example.com"
	a := account(t, srv, owner, false)
	other := account(t, srv, "neighbour@example.com", false)
	link := subFormLink(t, a)
	if code, _ := subVisitor(t, http.MethodPost, link, subForm("early@example.com", "")); code != 200 {
		t.Fatalf("send: %d", code)
	}
	early := subConfirmLink(t, sink, 1, "early@example.com")

	// Switched off: the form, its POST and the links sent through it are gone.
	if r := a.post("/account/subscribe", url.Values{"tag": {""}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch off: %d", r.StatusCode)
	}
	if r := a.get("/account"); !strings.Contains(r.Body, `id="subscribe-off"`) || strings.Contains(r.Body, `id="subscribe-link"`) {
		t.Fatal("the account page does not say the form is off")
	}
	gone := func(what, method, link string, form url.Values) {
		t.Helper()
		if code, body := subVisitor(t, method, link, form); code != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404: %.300s", what, code, subMain(body))
		}
	}
	gone("the form when off", http.MethodGet, link, nil)
	gone("a send when off", http.MethodPost, link, subForm("late@example.com", ""))
	gone("a link sent before, when off", http.MethodGet, early, nil)
	gone("a link's button, when off", http.MethodPost, early, url.Values{})

	// On again: the same link works.
	if r := a.post("/account/subscribe", url.Values{"enabled": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch on: %d", r.StatusCode)
	}
	if code, _ := subVisitor(t, http.MethodGet, link, nil); code != 200 {
		t.Fatalf("the form on again: %d", code)
	}
	// A neighbour's new key leaves this form alone.
	if r := other.post("/account/subscribe/key", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("neighbour's new key: %d", r.StatusCode)
	}
	if subFormLink(t, a) != link {
		t.Fatal("another user's new key changed this form's")
	}

	// A new key: the old link and what was sent through it stop; the new one works.
	if r := a.post("/account/subscribe/key", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new key: %d", r.StatusCode)
	}
	link2 := subFormLink(t, a)
	if link2 == link {
		t.Fatal("the key did not change")
	}
	gone("the old form", http.MethodGet, link, nil)
	gone("a send to the old form", http.MethodPost, link, subForm("late@example.com", ""))
	gone("a link sent through the old key", http.MethodGet, early, nil)
	gone("the button of a link sent through the old key", http.MethodPost, early, url.Values{})
	if code, _ := subVisitor(t, http.MethodGet, link2, nil); code != 200 {
		t.Fatalf("the new form: %d", code)
	}
	subMailsDone(srv)
	if sink.Count() != 1 {
		t.Fatalf("%d mails; the refused sends sent some", sink.Count())
	}
	if n := len(schedClients(t, srv, owner)); n != 0 {
		t.Fatalf("%d clients from dead links", n)
	}

	// A blocked owner's form is gone too.
	if err := srv.App.Store.SetBlocked(context.Background(), userID(t, srv, owner), true); err != nil {
		t.Fatal(err)
	}
	gone("a blocked owner's form", http.MethodGet, link2, nil)
}

func TestSubscribeSuppressions(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	const owner = "lists@example.com"
	a := account(t, srv, owner, false)
	ownerID := userID(t, srv, owner)
	ctx := context.Background()
	st := srv.App.Store
	ids := map[string]int64{}
	for _, email := range []string{"left@example.com", "angry@example.com"} {
		c := &mailing.Client{OwnerID: ownerID, Email: email}
		c.Validate()
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Unsubscribe(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		ids[email] = c.ID
	}
	if _, err := st.Suppress(ctx, []mailing.Suppression{{OwnerID: ownerID, Email: "angry@example.com", Reason: mailing.SuppressComplaint}}); err != nil {
		t.Fatal(err)
	}
	link := subFormLink(t, a)
	for i, email := range []string{"left@example.com", "angry@example.com"} {
		if code, _ := subVisitor(t, http.MethodPost, link, subForm(email, "")); code != 200 {
			t.Fatalf("send %s: %d", email, code)
		}
		confirm := subConfirmLink(t, sink, i+1, email)
		if code, body := subVisitor(t, http.MethodPost, confirm, url.Values{}); code != 200 || !strings.Contains(body, "You are subscribed") {
			t.Fatalf("confirm %s: %d %.300s", email, code, subMain(body))
		}
	}
	reasons := map[string]string{}
	page, err := st.ListSuppressions(ctx, mailing.Scope{UserID: ownerID}, mailing.ListParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range page.Items {
		reasons[x.Email] = x.Reason
	}
	if len(reasons) != 1 || reasons["angry@example.com"] != mailing.SuppressComplaint {
		t.Fatalf("suppressions after confirming: %v; want only angry@'s complaint", reasons)
	}
	if c := schedClient(t, srv, ids["left@example.com"]); c.UnsubscribedAt != nil {
		t.Fatal("the unsubscribed client is still unsubscribed after confirming")
	}
	if c := schedClient(t, srv, ids["angry@example.com"]); c.UnsubscribedAt == nil {
		t.Fatal("the client who complained was subscribed again")
	}
	if n := len(subConsents(t, srv, ownerID)); n != 2 {
		t.Fatalf("%d consents, want both recorded", n)
	}
}

func TestSubscribeLinkExpiresAfter48Hours(t *testing.T) {
	srv, sink := smtpServer(t, nil)
	const owner = "expiry@example.com"
	a := account(t, srv, owner, false)
	link := subFormLink(t, a)
	if code, _ := subVisitor(t, http.MethodPost, link, subForm("slow@example.com", "")); code != 200 {
		t.Fatalf("send: %d", code)
	}
	confirm := subConfirmLink(t, sink, 1, "slow@example.com")

	// Forged and altered links are refused.
	tok := confirm[strings.LastIndexByte(confirm, '/')+1:]
	enc, mac, _ := strings.Cut(tok, ".")
	forged := mailing.SubscribeToken([]byte("another secret, not the server's"), mailing.SubscribeRequest{
		Key: link[strings.LastIndexByte(link, '/')+1:], Email: "slow@example.com", Unix: srv.Clock.Now().Unix()})
	for name, bad := range map[string]string{
		"forged":         forged,
		"other mac":      enc + "." + strings.Repeat("A", len(mac)),
		"no mac":         enc,
		"padded payload": enc + "=." + mac,
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if code, _ := subVisitor(t, method, srv.URL+"/subscribe/confirm/"+url.PathEscape(bad), url.Values{}); code != http.StatusNotFound {
				t.Fatalf("%s token, %s: %d, want 404", name, method, code)
			}
		}
	}

	srv.Clock.Advance(mailing.SubscribeTTL - time.Second)
	if code, body := subVisitor(t, http.MethodGet, confirm, nil); code != 200 || !strings.Contains(body, "<button") {
		t.Fatalf("a second before expiry: %d %.300s", code, subMain(body))
	}
	srv.Clock.Advance(time.Second)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		code, body := subVisitor(t, method, confirm, url.Values{})
		if code != http.StatusNotFound || !strings.Contains(body, "The link has expired") {
			t.Fatalf("after 48 hours, %s: %d %.300s", method, code, subMain(body))
		}
	}
	if n := len(schedClients(t, srv, owner)); n != 0 {
		t.Fatalf("an expired link added %d clients", n)
	}
}

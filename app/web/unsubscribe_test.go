package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// schedSendAndWait starts a run of mailing id as the owner's browser does and waits, as the
// page does, until that run is done. It returns the run.
func schedSendAndWait(t *testing.T, srv *testutil.Server, a *browser, id int64, action string, want int) *mailing.Run {
	t.Helper()
	path := "/mailings/" + itoa(id)
	before := int64(0)
	if r, err := srv.App.Store.LatestRun(context.Background(), id); err == nil {
		before = r.ID
	}
	r := a.post(path+"/"+action, nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "Sending started: "+itoa(int64(want))+" recipients.") {
		t.Fatalf("%s: %d %.500s", action, r.StatusCode, r.Body)
	}
	run, err := srv.App.Store.LatestRun(context.Background(), id)
	if err != nil || run.ID == before {
		t.Fatalf("no new run after %s: %v", action, err)
	}
	testutil.Eventually(t, 20*time.Second, "the run to finish", func() bool {
		body := a.get(path+"/progress", "HX-Request", "true").Body
		return strings.Contains(body, "Run #"+itoa(run.ID)) && !strings.Contains(body, "hx-trigger")
	})
	// The bar says done once no delivery is left; the run is closed (finished_at) just after.
	testutil.Eventually(t, 10*time.Second, "the run to be closed", func() bool {
		run, err = srv.App.Store.RunByID(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		return run.FinishedAt != nil
	})
	return run
}

// schedClients returns the owner's clients by email.
func schedClients(t *testing.T, srv *testutil.Server, owner string) map[string]mailing.Client {
	t.Helper()
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	page, err := srv.App.Store.ListClients(ctx, mailing.Scope{UserID: u.ID}, mailing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mailing.Client{}
	for _, c := range page.Items {
		out[c.Email] = c
	}
	return out
}

// schedNth returns the client with the i-th email in sorted order.
func schedNth(t *testing.T, clients map[string]mailing.Client, i int) mailing.Client {
	t.Helper()
	emails := make([]string, 0, len(clients))
	for e := range clients {
		emails = append(emails, e)
	}
	sort.Strings(emails)
	if i >= len(emails) {
		t.Fatalf("no client #%d among %d", i, len(emails))
	}
	return clients[emails[i]]
}

func schedClient(t *testing.T, srv *testutil.Server, id int64) *mailing.Client {
	t.Helper()
	c, err := srv.App.Store.ClientByID(context.Background(), mailing.Scope{All: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// schedAnon sends a request as a mail client does: no cookies, no CSRF token.
func schedAnon(t *testing.T, method, link, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, link, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

var schedUnsubRE = regexp.MustCompile(`^<(http://[^>\s]+/unsubscribe/([^>/\s]+))>$`)

func TestUnsubscribeLinkInMailOneClickAndSkippedAfter(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	const owner = "unsub@example.com"
	a := account(t, srv, owner, false)
	id := mailingFor(t, srv, owner, 3)
	clients := schedClients(t, srv, owner)
	secret := srv.App.Config.SecretKey

	run := schedSendAndWait(t, srv, a, id, "send", 3)
	if run.Total != 3 || sink.Count() != 3 {
		t.Fatalf("first run total %d, sink %d; want 3", run.Total, sink.Count())
	}

	// Every message carries its recipient's own one-click link, in the headers and the text.
	links := map[string]string{} // email → link
	for _, m := range sink.Messages() {
		if len(m.To) != 1 {
			t.Fatalf("envelope to %v", m.To)
		}
		c, ok := clients[m.To[0]]
		if !ok {
			t.Fatalf("mail to %s, not a client", m.To[0])
		}
		lu := m.Header.Get("List-Unsubscribe")
		sm := schedUnsubRE.FindStringSubmatch(lu)
		if sm == nil {
			t.Fatalf("List-Unsubscribe %q is not <BASE_URL/unsubscribe/TOKEN>", lu)
		}
		want := srv.URL + "/unsubscribe/" + mailing.UnsubscribeToken(secret, c.ID)
		if sm[1] != want {
			t.Fatalf("List-Unsubscribe of %s = %q, want <%s>", c.Email, lu, want)
		}
		if got, ok := mailing.ParseUnsubscribeToken(secret, sm[2]); !ok || got != c.ID {
			t.Fatalf("token %q parses to %d, %v; want client %d", sm[2], got, ok, c.ID)
		}
		if p := m.Header.Get("List-Unsubscribe-Post"); p != "List-Unsubscribe=One-Click" {
			t.Fatalf("List-Unsubscribe-Post = %q", p)
		}
		if !strings.Contains(m.Text, want) {
			t.Fatalf("the text lacks the link %s:\n%s", want, m.Text)
		}
		links[c.Email] = want
	}
	if len(links) != 3 {
		t.Fatalf("links for %d clients, want 3", len(links))
	}

	gone := schedNth(t, clients, 0)
	link := links[gone.Email]
	path := pathOf(link)

	// The owner's clients list, as a browser caches it, before the unsubscribe.
	list := a.get("/clients")
	if list.StatusCode != 200 || strings.Contains(list.Body, "badge-disabled\">Unsubscribed<") {
		t.Fatalf("clients list before: %d", list.StatusCode)
	}
	etag := list.Header.Get("ETag")

	// Opening the link (a person, or a mail scanner) changes nothing: it asks first.
	fresh := newBrowser(t, srv)
	page := fresh.get(path)
	if page.StatusCode != 200 || !strings.Contains(page.Body, `action="`+path+`"`) || !strings.Contains(page.Body, "<button") ||
		!strings.Contains(page.Body, gone.Email) || !strings.Contains(page.Body, `name="List-Unsubscribe" value="One-Click"`) {
		t.Fatalf("unsubscribe page %s: %d %s", path, page.StatusCode, page.Body[max(strings.Index(page.Body, "<main"), 0):])
	}
	if code, _ := schedAnon(t, http.MethodGet, link, ""); code != 200 {
		t.Fatalf("GET without cookies: %d", code)
	}
	if c := schedClient(t, srv, gone.ID); c.UnsubscribedAt != nil {
		t.Fatal("GET unsubscribed the client")
	}

	if etag == "" {
		t.Fatal("the clients list has no ETag")
	}
	if r := a.get("/clients", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Fatalf("clients list revalidated before any change: %d, want 304", r.StatusCode)
	}
	// A mail client's one-click POST: no cookies, no CSRF token, only the RFC 8058 body.
	code, body := schedAnon(t, http.MethodPost, link, "List-Unsubscribe=One-Click")
	if code != 200 || !strings.Contains(body, "You are unsubscribed") || !strings.Contains(body, gone.Email) {
		t.Fatalf("one-click POST: %d %.500s", code, body)
	}
	c := schedClient(t, srv, gone.ID)
	if c.UnsubscribedAt == nil || !c.UnsubscribedAt.Equal(srv.Clock.Now()) {
		t.Fatalf("client after POST: unsubscribed at %v", c.UnsubscribedAt)
	}
	// The owner sees it at once, even revalidating the list cached before (same minute,
	// so only the data version can tell the pages apart).
	badge := regexp.MustCompile(`>` + regexp.QuoteMeta(gone.Email) + `</a>\s*<span class="badge badge-disabled">Unsubscribed</span>`)
	list = a.get("/clients", "If-None-Match", etag)
	if list.StatusCode != 200 || !badge.MatchString(list.Body) || strings.Count(list.Body, ">Unsubscribed<") != 1 {
		t.Fatalf("clients list after: %d, badge next to %s: %v", list.StatusCode, gone.Email, badge.MatchString(list.Body))
	}

	// Again, later: still fine, the first time is kept.
	srv.Clock.Advance(time.Minute)
	if code, _ := schedAnon(t, http.MethodPost, link, "List-Unsubscribe=One-Click"); code != 200 {
		t.Fatalf("second POST: %d", code)
	}
	if c2 := schedClient(t, srv, gone.ID); c2.UnsubscribedAt == nil || !c2.UnsubscribedAt.Equal(*c.UnsubscribedAt) {
		t.Fatalf("second POST moved the time: %v → %v", c.UnsubscribedAt, c2.UnsubscribedAt)
	}
	// The confirmation page's own form works for a person with a fresh session too.
	if r := fresh.postRaw(path, url.Values{"List-Unsubscribe": {"One-Click"}}); r.StatusCode != 200 {
		t.Fatalf("POST from the confirm page: %d", r.StatusCode)
	}
	for email, other := range clients {
		if email != gone.Email && schedClient(t, srv, other.ID).UnsubscribedAt != nil {
			t.Fatalf("%s unsubscribed too", email)
		}
	}

	// The next send skips the client.
	before := sink.Count()
	run2 := schedSendAndWait(t, srv, a, id, "send", 2)
	if run2.Total != 2 {
		t.Fatalf("second run total %d, want 2", run2.Total)
	}
	p, err := srv.App.Store.Progress(context.Background(), run2.ID)
	if err != nil || p.Sent != 2 || p.Total != 2 {
		t.Fatalf("second run progress %+v, %v", p, err)
	}
	msgs := sink.Messages()
	if len(msgs)-before != 2 {
		t.Fatalf("second send: %d new messages, want 2", len(msgs)-before)
	}
	for _, m := range msgs[before:] {
		if m.To[0] == gone.Email {
			t.Fatal("the unsubscribed client got the second send")
		}
	}
}

func TestUnsubscribeRefusesTamperedTokens(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	const owner = "tamper@example.com"
	account(t, srv, owner, false)
	mailingFor(t, srv, owner, 2)
	clients := schedClients(t, srv, owner)
	secret := srv.App.Config.SecretKey
	ca, cb := schedNth(t, clients, 0), schedNth(t, clients, 1)
	good := mailing.UnsubscribeToken(secret, ca.ID)
	idPart, sig, _ := strings.Cut(good, ".")
	flipped := []byte(sig)
	flipped[3] ^= 1
	if flipped[3] == '-' || flipped[3] == '_' {
		flipped[3] = 'A'
	}
	bad := map[string]string{
		"another client's id":  itoa(cb.ID) + "." + sig,
		"flipped signature":    idPart + "." + string(flipped),
		"short signature":      idPart + "." + sig[:len(sig)-2],
		"another secret":       mailing.UnsubscribeToken([]byte("not-the-server-secret-0123456789"), ca.ID),
		"no signature":         idPart,
		"unknown client":       mailing.UnsubscribeToken(secret, 999999),
		"not a token":          "hello",
		"signature only":       sig,
		"id with extra digits": idPart + "0." + sig,
	}
	for name, tok := range bad {
		link := srv.URL + "/unsubscribe/" + url.PathEscape(tok)
		if code, _ := schedAnon(t, http.MethodGet, link, ""); code != http.StatusNotFound {
			t.Errorf("%s: GET %d, want 404", name, code)
		}
		if code, _ := schedAnon(t, http.MethodPost, link, "List-Unsubscribe=One-Click"); code != http.StatusNotFound {
			t.Errorf("%s: POST %d, want 404", name, code)
		}
	}
	for _, c := range clients {
		if schedClient(t, srv, c.ID).UnsubscribedAt != nil {
			t.Fatalf("%s was unsubscribed by a bad token", c.Email)
		}
	}
	if strings.Contains(srv.Logs.String(), "client unsubscribed") {
		t.Fatal("a bad token logged an unsubscribe")
	}
}

func TestResendSendsOnlyToTheFailed(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	const owner = "resend@example.com"
	a := account(t, srv, owner, false)
	id := mailingFor(t, srv, owner, 6)
	path := "/mailings/" + itoa(id)

	// The first run: the server refuses two messages for good.
	sink.FailNext(2, testutil.Reject554)
	run1 := schedSendAndWait(t, srv, a, id, "send", 6)
	p1, err := srv.App.Store.Progress(context.Background(), run1.ID)
	if err != nil || p1.Sent != 4 || p1.Failed != 2 || p1.Total != 6 || sink.Count() != 4 {
		t.Fatalf("first run %+v, %v, sink %d; want 4 sent, 2 failed", p1, err, sink.Count())
	}
	progress := a.get(path+"/progress", "HX-Request", "true").Body
	if !strings.Contains(progress, `data-count="failed">2<`) || !strings.Contains(progress, `action="`+path+`/resend"`) {
		t.Fatalf("progress after failures lacks the counts or the resend button: %.800s", progress)
	}
	delivered := map[string]bool{}
	for _, m := range sink.Messages() {
		delivered[m.To[0]] = true
	}

	// Resend: a new run with the two failed recipients only, which the server now takes.
	sink.SetMode(testutil.Accept)
	run2 := schedSendAndWait(t, srv, a, id, "resend", 2)
	if run2.Kind != mailing.RunResend || run2.Total != 2 || run2.Slot != nil {
		t.Fatalf("resend run %+v", run2)
	}
	p2, err := srv.App.Store.Progress(context.Background(), run2.ID)
	if err != nil || p2.Total != p1.Failed || p2.Sent != 2 || p2.Failed != 0 {
		t.Fatalf("resend progress %+v, %v; want total %d all sent", p2, err, p1.Failed)
	}
	msgs := sink.Messages()
	if len(msgs) != 6 {
		t.Fatalf("sink has %d messages, want 6", len(msgs))
	}
	for _, m := range msgs[4:] {
		if delivered[m.To[0]] {
			t.Fatalf("resend went to %s, who had the first run's message", m.To[0])
		}
		delivered[m.To[0]] = true
	}
	if len(delivered) != 6 {
		t.Fatalf("%d distinct recipients reached, want 6", len(delivered))
	}
	if progress := a.get(path+"/progress", "HX-Request", "true").Body; strings.Contains(progress, "/resend") {
		t.Fatal("resend offered after a run with no failures")
	}
	// A resend of a run with nothing failed starts nothing.
	r := a.post(path+"/resend", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "This mailing has no recipients to send to.") {
		t.Fatalf("resend with nothing failed: %d %.400s", r.StatusCode, r.Body)
	}
	if last, _ := srv.App.Store.LatestRun(context.Background(), id); last.ID != run2.ID {
		t.Fatalf("a resend with nothing failed started run %d", last.ID)
	}
}

// A failed recipient who unsubscribed before the resend is left out of it.
func TestResendSkipsUnsubscribed(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	const owner = "resend2@example.com"
	a := account(t, srv, owner, false)
	id := mailingFor(t, srv, owner, 3)
	sink.SetMode(testutil.Reject554)
	run1 := schedSendAndWait(t, srv, a, id, "send", 3)
	if p, _ := srv.App.Store.Progress(context.Background(), run1.ID); p.Failed != 3 {
		t.Fatalf("first run %+v, want 3 failed", p)
	}
	sink.SetMode(testutil.Accept)
	gone := schedNth(t, schedClients(t, srv, owner), 1)
	link := srv.URL + "/unsubscribe/" + mailing.UnsubscribeToken(srv.App.Config.SecretKey, gone.ID)
	if code, _ := schedAnon(t, http.MethodPost, link, "List-Unsubscribe=One-Click"); code != 200 {
		t.Fatalf("unsubscribe: %d", code)
	}
	run2 := schedSendAndWait(t, srv, a, id, "resend", 2)
	if run2.Total != 2 || sink.Count() != 2 {
		t.Fatalf("resend total %d, sink %d; want 2", run2.Total, sink.Count())
	}
	for _, m := range sink.Messages() {
		if m.To[0] == gone.Email {
			t.Fatal("the unsubscribed client got the resend")
		}
	}
}

// A resend is for a run that is over. Pressing the button twice (a double click, a second
// tab showing the old page) while the first resend is still waiting must not put the same
// recipients into another run: each would get the message twice.
func TestResendWhileTheLatestRunIsUnfinishedSendsNoDuplicates(t *testing.T) {
	sink := testutil.StartSMTP(t)
	// No worker: runs wait until the test processes them, as when workers are busy.
	srv := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{"SMTP_URL": sink.URL()}})
	ctx := context.Background()
	const owner = "double@example.com"
	a := account(t, srv, owner, false)
	id := mailingFor(t, srv, owner, 3)
	path := "/mailings/" + itoa(id)

	if r := a.post(path+"/send", nil, "HX-Request", "true"); !strings.Contains(r.Body, "Sending started: 3 recipients.") {
		t.Fatalf("send: %d %.300s", r.StatusCode, r.Body)
	}
	run1, err := srv.App.Store.LatestRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sink.SetMode(testutil.Reject554)
	if res, err := srv.App.Engine.Process(ctx, run1.ID); err != nil || res.Failed != 3 || !res.Finished {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	sink.SetMode(testutil.Accept)

	if r := a.post(path+"/resend", nil, "HX-Request", "true"); !strings.Contains(r.Body, "Sending started: 3 recipients.") {
		t.Fatalf("resend: %d %.300s", r.StatusCode, r.Body)
	}
	run2, err := srv.App.Store.LatestRun(ctx, id)
	if err != nil || run2.ID == run1.ID {
		t.Fatalf("no resend run: %v", err)
	}
	// The second press, before any worker took the resend run.
	if r := a.post(path+"/resend", nil, "HX-Request", "true"); r.StatusCode != 200 || !strings.Contains(r.Body, "still going") {
		t.Errorf("second resend press: %d, no refusal in %.300s", r.StatusCode, r.Body)
	}
	if last, _ := srv.App.Store.LatestRun(ctx, id); last.ID != run2.ID {
		t.Errorf("a resend while run %d is unfinished started run %d with %d recipients", run2.ID, last.ID, last.Total)
	}

	var ids []int64
	if err := srv.App.Store.DB.NewSelect().TableExpr("runs").Column("id").Where("mailing_id = ?", id).
		Where("id > ?", run1.ID).OrderExpr("id").Scan(ctx, &ids); err != nil {
		t.Fatal(err)
	}
	for _, rid := range ids {
		if _, err := srv.App.Engine.Process(ctx, rid); err != nil {
			t.Fatal(err)
		}
	}
	per := map[string]int{}
	for _, m := range sink.Messages() {
		per[m.To[0]]++
	}
	for email, n := range per {
		if n != 1 {
			t.Errorf("%s got the resend %d times", email, n)
		}
	}
	if len(per) != 3 {
		t.Fatalf("%d recipients reached, want 3", len(per))
	}
}

// Two resend requests that both read the latest run before either started its resend (a
// double click, two tabs): the second must not resend the same failed recipients again.
func TestResendOfASupersededRunIsRefused(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{"SMTP_URL": sink.URL()}})
	ctx := context.Background()
	const owner = "race@example.com"
	account(t, srv, owner, false)
	id := mailingFor(t, srv, owner, 3)
	m, err := srv.App.Store.MailingByID(ctx, mailing.Scope{All: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	e := srv.App.Engine
	run1, err := e.StartMailing(ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	sink.SetMode(testutil.Reject554)
	if res, err := e.Process(ctx, run1.ID); err != nil || res.Failed != 3 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	sink.SetMode(testutil.Accept)
	// Both requests saw run 1 as the latest.
	run2, err := e.StartMailing(ctx, m, mailing.RunResend, nil, run1.ID)
	if err != nil || run2.Total != 3 {
		t.Fatalf("first resend: %+v, %v", run2, err)
	}
	run3, err := e.StartMailing(ctx, m, mailing.RunResend, nil, run1.ID)
	if err == nil {
		t.Errorf("a second resend of run %d (already resent by run %d) started run %d with %d recipients", run1.ID, run2.ID, run3.ID, run3.Total)
	}
	for _, r := range []*mailing.Run{run2, run3} {
		if r != nil {
			if _, err := e.Process(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sink.Count() != 3 {
		t.Fatalf("sink has %d messages after the resends, want 3 (one per failed recipient)", sink.Count())
	}
}

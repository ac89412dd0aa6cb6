package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

func mgrAuditCount(t *testing.T, srv *testutil.Server) int {
	t.Helper()
	page, err := srv.App.Store.ListAudit(context.Background(), mailing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Items)
}

// mgrSignIn signs a fresh browser in; ok reports whether the sign-in was accepted.
func mgrSignIn(t *testing.T, srv *testutil.Server, email string) (*browser, response) {
	t.Helper()
	b := newBrowser(t, srv)
	r := b.post("/login", url.Values{"email": {email}, "password": {pw}})
	return b, r
}

func mgrWantLogin(t *testing.T, what string, r response) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("%s: %d to %q, want 303 to /login", what, r.StatusCode, r.Header.Get("Location"))
	}
}

func TestManagerPowersAreRefusedToUsersAndAnonymous(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ctx := context.Background()
	m := account(t, srv, "boss@example.com", true)
	u := account(t, srv, "plain@example.com", false)
	account(t, srv, "victim@example.com", false)
	victim := userID(t, srv, "victim@example.com")
	id := mailingFor(t, srv, "victim@example.com", 2)
	anon := newBrowser(t, srv)
	anon.get("/login") // a valid CSRF token of its own

	gets := []string{"/manager/users", "/manager/audit", "/manager/users?status=blocked"}
	posts := []string{
		"/manager/users/" + itoa(victim) + "/block",
		"/manager/users/" + itoa(victim) + "/unblock",
		"/mailings/" + itoa(id) + "/disable",
		"/mailings/" + itoa(id) + "/enable",
	}
	for _, p := range gets {
		if r := u.get(p); r.StatusCode != http.StatusForbidden {
			t.Errorf("user GET %s: %d, want 403", p, r.StatusCode)
		}
		mgrWantLogin(t, "anonymous GET "+p, anon.get(p))
		if r := m.get(p); r.StatusCode != http.StatusOK {
			t.Errorf("manager GET %s: %d", p, r.StatusCode)
		}
	}
	u.get("/mailings") // fresh CSRF token of the user's own session
	for _, p := range posts {
		// Hand-crafted POSTs with a valid CSRF token, plain and as HTMX.
		if r := u.post(p, nil); r.StatusCode != http.StatusForbidden {
			t.Errorf("user POST %s: %d, want 403", p, r.StatusCode)
		}
		if r := u.post(p, nil, "HX-Request", "true"); r.StatusCode != http.StatusForbidden {
			t.Errorf("user HTMX POST %s: %d, want 403", p, r.StatusCode)
		}
		if r := u.postRaw(p, nil, "X-CSRF-Token", u.csrf); r.StatusCode != http.StatusForbidden {
			t.Errorf("user POST %s with the token in the header: %d, want 403", p, r.StatusCode)
		}
		mgrWantLogin(t, "anonymous POST "+p, anon.post(p, nil))
	}
	// Nothing happened.
	if vu, _ := srv.App.Store.UserByID(ctx, victim); vu.Blocked() {
		t.Fatal("a user's POST blocked someone")
	}
	if ml, _ := srv.App.Store.MailingByID(ctx, mailing.Scope{All: true}, id); ml.Disabled {
		t.Fatal("a user's POST disabled a mailing")
	}
	if n := mgrAuditCount(t, srv); n != 0 {
		t.Fatalf("refused actions left %d audit rows", n)
	}
	// The mailing page offers the control to managers only.
	if r := m.get("/mailings/" + itoa(id)); !strings.Contains(r.Body, `action="/mailings/`+itoa(id)+`/disable"`) {
		t.Fatal("manager's mailing page lacks the Disable control")
	}
	// Unknown ids are 404 for a manager, and change nothing.
	for _, p := range []string{"/manager/users/999999/block", "/manager/users/999999/unblock", "/mailings/999999/disable", "/mailings/999999/enable"} {
		if r := m.post(p, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("manager POST %s: %d, want 404", p, r.StatusCode)
		}
	}
	if n := mgrAuditCount(t, srv); n != 0 {
		t.Fatalf("unknown ids left %d audit rows", n)
	}
}

func TestManagerBlockEndsSessionsAtOnceAndUnblockRestoresSignIn(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	m := account(t, srv, "boss@example.com", true)
	v := account(t, srv, "victim@example.com", false)
	vid := userID(t, srv, "victim@example.com")
	if r := v.get("/mailings"); r.StatusCode != http.StatusOK {
		t.Fatalf("victim before the block: %d", r.StatusCode)
	}

	list := m.get("/manager/users")
	if !strings.Contains(list.Body, `action="/manager/users/`+itoa(vid)+`/block"`) {
		t.Fatal("users list lacks the victim's Block button")
	}
	r := m.post("/manager/users/"+itoa(vid)+"/block", url.Values{"next": {"/manager/users?status=blocked"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/manager/users?status=blocked" {
		t.Fatalf("block: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	after := m.get("/manager/users?status=blocked")
	if !strings.Contains(after.Body, "victim@example.com is blocked") {
		t.Fatal("no flash after blocking")
	}
	if !strings.Contains(after.Body, `action="/manager/users/`+itoa(vid)+`/unblock"`) {
		t.Fatal("a blocked user's row lacks the Unblock button")
	}

	// The blocked browser's very next request is sent to sign in.
	mgrWantLogin(t, "blocked user's next request", v.get("/mailings"))
	mgrWantLogin(t, "blocked user's next POST", v.post("/clients/new", url.Values{"email": {"x@example.com"}}))
	if _, r := mgrSignIn(t, srv, "victim@example.com"); r.StatusCode == http.StatusSeeOther || !strings.Contains(r.Body, "This account is blocked") {
		t.Fatalf("blocked user signed in: %d", r.StatusCode)
	}

	r = m.post("/manager/users/"+itoa(vid)+"/unblock", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/manager/users" {
		t.Fatalf("unblock: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if !strings.Contains(m.get("/manager/users").Body, "victim@example.com is unblocked") {
		t.Fatal("no flash after unblocking")
	}
	b, r := mgrSignIn(t, srv, "victim@example.com")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("unblocked user cannot sign in: %d", r.StatusCode)
	}
	if r := b.get("/mailings"); r.StatusCode != http.StatusOK {
		t.Fatalf("unblocked user's page: %d", r.StatusCode)
	}

	// With HTMX the row is replaced in place and the flash rides out of band.
	r = m.post("/manager/users/"+itoa(vid)+"/block", nil, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `id="user-`+itoa(vid)+`" data-status="blocked"`) ||
		!strings.Contains(r.Body, "/unblock") || !strings.Contains(r.Body, `hx-swap-oob="true"`) {
		t.Fatalf("HTMX block: %d %.600s", r.StatusCode, r.Body)
	}
	mgrWantLogin(t, "re-blocked user's next request", b.get("/mailings"))
}

// TestAManagerCannotBlockAnotherManager: as the attack was made (finding 6), manager F posts
// the block of manager M; it is refused with 403, M stays signed in, the row offers no
// Block button, the refusal is logged, and the operator's CLI remains the way to do it.
func TestAManagerCannotBlockAnotherManager(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	f := account(t, srv, "f@example.com", true)
	m := account(t, srv, "m@example.com", true)
	mid := userID(t, srv, "m@example.com")
	if page := f.get("/manager/users"); strings.Contains(page.Body, `/manager/users/`+itoa(mid)+`/block"`) {
		t.Fatal("another manager's row offers a Block button")
	}
	for _, hx := range []bool{false, true} {
		var r response
		if hx {
			r = f.post("/manager/users/"+itoa(mid)+"/block", nil, "HX-Request", "true")
		} else {
			r = f.post("/manager/users/"+itoa(mid)+"/block", nil)
		}
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "from the command line") {
			t.Fatalf("block of a manager (htmx %v): %d %.300s", hx, r.StatusCode, r.Body)
		}
	}
	if u, _ := srv.App.Store.UserByID(context.Background(), mid); u.Blocked() {
		t.Fatal("a manager blocked another manager")
	}
	if r := m.get("/manager/users"); r.StatusCode != http.StatusOK {
		t.Fatalf("the other manager was signed out: %d", r.StatusCode)
	}
	if !strings.Contains(srv.Logs.String(), "block of a manager refused") {
		t.Fatal("the refused block was not logged")
	}
}

func TestManagerCannotBlockThemselves(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	m := account(t, srv, "boss@example.com", true)
	mid := userID(t, srv, "boss@example.com")
	page := m.get("/manager/users")
	if strings.Contains(page.Body, `/manager/users/`+itoa(mid)+`/block"`) {
		t.Fatal("own row offers a Block button")
	}
	r := m.post("/manager/users/"+itoa(mid)+"/block", nil)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "You cannot block yourself.") {
		t.Fatalf("self-block: %d %.300s", r.StatusCode, r.Body)
	}
	r = m.post("/manager/users/"+itoa(mid)+"/block", nil, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "You cannot block yourself.") {
		t.Fatalf("HTMX self-block: %d %.300s", r.StatusCode, r.Body)
	}
	if u, _ := srv.App.Store.UserByID(context.Background(), mid); u.Blocked() {
		t.Fatal("the manager blocked themselves")
	}
	if r := m.get("/manager/users"); r.StatusCode != http.StatusOK {
		t.Fatalf("manager signed out by a refused self-block: %d", r.StatusCode)
	}
	if n := mgrAuditCount(t, srv); n != 0 {
		t.Fatalf("refused self-block audited: %d rows", n)
	}
}

var (
	mgrPendingRE   = regexp.MustCompile(`data-count="pending">(\d+)<`)
	mgrCancelledRE = regexp.MustCompile(`data-count="cancelled">(\d+)<`)
	mgrSentRE      = regexp.MustCompile(`data-count="sent">(\d+)<`)
)

func mgrCount(re *regexp.Regexp, body string) int {
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// mgrSlowServer runs a worker that sends two messages a second, one per batch, so a run of
// many recipients is still going when a test steps in.
func mgrSlowServer(t *testing.T) (*testutil.Server, *testutil.SMTPServer) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{
		"SMTP_URL": sink.URL(), "SEND_RATE": "2", "SEND_BATCH": "1", "SMTP_TIMEOUT": "5s",
	}})
	return srv, sink
}

const mgrSlowRecipients = 60

// mgrStartSlowRun starts a send as the owner and waits until the first message is out.
func mgrStartSlowRun(t *testing.T, owner *browser, sink *testutil.SMTPServer, path string) {
	t.Helper()
	r := owner.post(path+"/send", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, fmt.Sprintf("Sending started: %d recipients.", mgrSlowRecipients)) {
		t.Fatalf("send now: %d %.400s", r.StatusCode, r.Body)
	}
	sink.WaitFor(t, 1, 20*time.Second)
}

// mgrWaitStopped polls the progress until nothing is pending and some deliveries were cancelled.
func mgrWaitStopped(t *testing.T, b *browser, sink *testutil.SMTPServer, path string) {
	t.Helper()
	var last string
	testutil.Eventually(t, 30*time.Second, "the run to stop", func() bool {
		last = b.get(path+"/progress", "HX-Request", "true").Body
		return mgrCount(mgrPendingRE, last) == 0 && mgrCount(mgrCancelledRE, last) > 0
	})
	sent, cancelled := mgrCount(mgrSentRE, last), mgrCount(mgrCancelledRE, last)
	if sent+cancelled != mgrSlowRecipients || sent >= mgrSlowRecipients/2 {
		t.Fatalf("stopped run: sent %d, cancelled %d of %d", sent, cancelled, mgrSlowRecipients)
	}
	if strings.Contains(last, "hx-trigger") {
		t.Fatal("a stopped run's progress still polls")
	}
	n := sink.Count()
	time.Sleep(1500 * time.Millisecond)
	if sink.Count() != n || n != sent {
		t.Fatalf("messages kept going out after the stop: %d, then %d (sent %d)", n, sink.Count(), sent)
	}
}

func TestBlockingTheOwnerStopsTheirRunningMailing(t *testing.T) {
	srv, sink := mgrSlowServer(t)
	owner := account(t, srv, "owner@example.com", false)
	m := account(t, srv, "boss@example.com", true)
	id := mailingFor(t, srv, "owner@example.com", mgrSlowRecipients)
	path := "/mailings/" + itoa(id)
	mgrStartSlowRun(t, owner, sink, path)
	if p := m.get(path+"/progress", "HX-Request", "true").Body; mgrCount(mgrPendingRE, p) == 0 {
		t.Fatal("the run was not going when the owner was blocked")
	}
	m.get("/manager/users")
	if r := m.post("/manager/users/"+itoa(userID(t, srv, "owner@example.com"))+"/block", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", r.StatusCode)
	}
	mgrWaitStopped(t, m, sink, path)
	if !strings.Contains(srv.Logs.String(), "user blocked") {
		t.Fatal("no log event for the block")
	}
}

func TestDisableMailingStopsItsRunAndRefusesSendingUntilEnabled(t *testing.T) {
	srv, sink := mgrSlowServer(t)
	owner := account(t, srv, "owner@example.com", false)
	m := account(t, srv, "boss@example.com", true)
	id := mailingFor(t, srv, "owner@example.com", mgrSlowRecipients)
	path := "/mailings/" + itoa(id)
	mgrStartSlowRun(t, owner, sink, path)
	run, err := srv.App.Store.LatestRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}

	page := m.get(path)
	if strings.Contains(page.Body, "badge badge-disabled") {
		t.Fatal("Disabled badge before disabling")
	}
	r := m.post(path+"/disable", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("disable: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	page = m.get(path)
	if !strings.Contains(page.Body, "is disabled.") {
		t.Fatal("no flash after disabling")
	}
	mgrWaitStopped(t, m, sink, path)

	page = m.get(path)
	if !strings.Contains(page.Body, `<span class="badge badge-disabled">Disabled</span>`) || !strings.Contains(page.Body, `action="`+path+`/enable"`) {
		t.Fatalf("manager's page after disabling lacks the badge or Enable")
	}
	own := owner.get(path)
	if !strings.Contains(own.Body, `<span class="badge badge-disabled">Disabled</span>`) || !strings.Contains(own.Body, "A manager has disabled this mailing.") {
		t.Fatal("owner's page does not show the mailing disabled")
	}
	if strings.Contains(own.Body, "/disable") || strings.Contains(own.Body, "/enable") {
		t.Fatal("the owner is offered the manager's control")
	}
	// Send now is refused.
	if r := owner.post(path+"/send", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send disabled: %d", r.StatusCode)
	}
	if !strings.Contains(owner.get(path).Body, "A manager has disabled this mailing.") {
		t.Fatal("no refusal shown")
	}
	if latest, _ := srv.App.Store.LatestRun(context.Background(), id); latest.ID != run.ID {
		t.Fatal("a run started for a disabled mailing")
	}
	if !strings.Contains(srv.Logs.String(), "mailing disabled") {
		t.Fatal("no log event for the disable")
	}

	// Enable (HTMX: the server redirects the page) restores sending.
	r = m.post(path+"/enable", nil, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != path {
		t.Fatalf("enable: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	if page := m.get(path); strings.Contains(page.Body, "badge badge-disabled") || !strings.Contains(page.Body, `action="`+path+`/disable"`) {
		t.Fatal("enabled mailing still shows Disabled")
	}
	sink.SetMode(testutil.Reject550) // the new run need not deliver anything
	if r := owner.post(path+"/send", nil, "HX-Request", "true"); !strings.Contains(r.Body, "Sending started") {
		t.Fatalf("send after enabling: %d %.300s", r.StatusCode, r.Body)
	}
	if latest, _ := srv.App.Store.LatestRun(context.Background(), id); latest.ID == run.ID {
		t.Fatal("no run started after enabling")
	}
	m.post(path+"/disable", nil) // stop the new run before cleanup
}

var mgrAuditRowRE = regexp.MustCompile(`(?s)<tr id="audit-\d+" data-action="([a-z_]+)">(.*?)</tr>`)

func TestAuditLogRecordsEveryManagerAction(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	m := account(t, srv, "boss@example.com", true)
	account(t, srv, "victim@example.com", false)
	vid := userID(t, srv, "victim@example.com")
	id := mailingFor(t, srv, "victim@example.com", 2)
	mpath := "/mailings/" + itoa(id)

	if r := m.get("/manager/audit"); !strings.Contains(r.Body, "No manager actions yet.") {
		t.Fatal("empty audit log not shown as empty")
	}
	for _, p := range []string{"/manager/users/" + itoa(vid) + "/block", "/manager/users/" + itoa(vid) + "/unblock", mpath + "/disable", mpath + "/enable"} {
		if r := m.post(p, nil); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", p, r.StatusCode)
		}
	}
	page := m.get("/manager/audit")
	rows := mgrAuditRowRE.FindAllStringSubmatch(page.Body, -1)
	want := []struct{ action, label, target string }{
		{"enable_mailing", "Enabled a mailing", `href="` + mpath + `">News for {{.Name}}</a>`},
		{"disable_mailing", "Disabled a mailing", `href="` + mpath + `">News for {{.Name}}</a>`},
		{"unblock_user", "Unblocked a user", ">victim@example.com</a>"},
		{"block_user", "Blocked a user", ">victim@example.com</a>"},
	}
	if len(rows) != len(want) {
		t.Fatalf("audit rows = %d, want %d:\n%s", len(rows), len(want), page.Body)
	}
	for i, w := range want {
		if rows[i][1] != w.action {
			t.Errorf("row %d is %s, want %s (newest first)", i, rows[i][1], w.action)
		}
		for _, s := range []string{"boss@example.com", w.label, w.target, "2026-01-05 09:00"} {
			if !strings.Contains(rows[i][2], s) {
				t.Errorf("row %d (%s) lacks %q: %s", i, w.action, s, rows[i][2])
			}
		}
	}
	// The filter shows one action; HTMX gets the table alone.
	f := m.get("/manager/audit?status=block_user", "HX-Request", "true")
	if got := mgrAuditRowRE.FindAllStringSubmatch(f.Body, -1); len(got) != 1 || got[0][1] != "block_user" || strings.Contains(f.Body, "<html") {
		t.Fatalf("filtered audit: %d rows", len(got))
	}
	// Russian.
	m.post("/lang", url.Values{"lang": {"ru"}, "next": {"/"}})
	if ru := m.get("/manager/audit"); !strings.Contains(ru.Body, "Журнал действий") || !strings.Contains(ru.Body, "Блокировка пользователя") {
		t.Fatal("audit log not translated")
	}
}

func TestAuditLogPagesNewestFirst(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	m := account(t, srv, "boss@example.com", true)
	mid := userID(t, srv, "boss@example.com")
	ctx := context.Background()
	for i := 1; i <= 30; i++ {
		if err := srv.App.Store.Audit(ctx, mid, mailing.AuditDisableMailing, mailing.AuditTargetMailing, int64(i), fmt.Sprintf("subject %02d", i)); err != nil {
			t.Fatal(err)
		}
		srv.Clock.Advance(time.Minute)
	}
	first := m.get("/manager/audit")
	rows := mgrAuditRowRE.FindAllStringSubmatch(first.Body, -1)
	if len(rows) != 25 || !strings.Contains(rows[0][2], "subject 30") || !strings.Contains(rows[24][2], "subject 06") {
		t.Fatalf("first page: %d rows", len(rows))
	}
	next := regexp.MustCompile(`href="(/manager/audit\?after=[^"]+)"`).FindStringSubmatch(first.Body)
	if next == nil {
		t.Fatal("no Next link")
	}
	second := m.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	rows = mgrAuditRowRE.FindAllStringSubmatch(second.Body, -1)
	if len(rows) != 5 || !strings.Contains(rows[0][2], "subject 05") || !strings.Contains(rows[4][2], "subject 01") {
		t.Fatalf("second page: %d rows", len(rows))
	}
}

var mgrUserRowRE = regexp.MustCompile(`(?s)<tr id="user-(\d+)" data-status="([a-z]+)">(.*?)</tr>`)

type mgrListedUser struct {
	status, row string
	mailings    int
}

func mgrListedUsers(t *testing.T, body string) map[string]mgrListedUser {
	t.Helper()
	out := map[string]mgrListedUser{}
	emailRE := regexp.MustCompile(`<td[^>]*>\s*([^<\s]+@example\.com)`)
	countRE := regexp.MustCompile(`class="mailings-count">(\d+)<`)
	for _, m := range mgrUserRowRE.FindAllStringSubmatch(body, -1) {
		e := emailRE.FindStringSubmatch(m[3])
		c := countRE.FindStringSubmatch(m[3])
		if e == nil || c == nil {
			t.Fatalf("unreadable row: %s", m[3])
		}
		n, _ := strconv.Atoi(c[1])
		out[e[1]] = mgrListedUser{status: m[2], row: m[3], mailings: n}
	}
	return out
}

func mgrKeys(m map[string]mgrListedUser) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestManagerUsersListCountsMailingsAndFilters(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ctx := context.Background()
	st := srv.App.Store
	m := account(t, srv, "boss@example.com", true)
	account(t, srv, "alice@example.com", false)
	account(t, srv, "bob@example.com", false)
	account(t, srv, "blocked@example.com", false)
	if err := st.CreateUser(ctx, &mailing.User{Email: "pending@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	// alice owns three mailings, bob one, the others none.
	mailingFor(t, srv, "alice@example.com", 2)
	alice := userID(t, srv, "alice@example.com")
	for i := 0; i < 2; i++ {
		msg := &mailing.Message{OwnerID: alice, Subject: "More " + itoa(int64(i)), Body: "Hi"}
		msg.Validate()
		if err := st.CreateMessage(ctx, msg); err != nil {
			t.Fatal(err)
		}
		now := srv.Clock.Now()
		ml := &mailing.Mailing{OwnerID: alice, MessageID: msg.ID, StartAt: now, EndAt: now.Add(time.Hour), Period: mailing.PeriodNone}
		if err := st.SaveMailing(ctx, ml, mailing.Recipients{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	mailingFor(t, srv, "bob@example.com", 1)
	m.get("/manager/users")
	if r := m.post("/manager/users/"+itoa(userID(t, srv, "blocked@example.com"))+"/block", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", r.StatusCode)
	}

	page := m.get("/manager/users")
	all := mgrListedUsers(t, page.Body)
	want := map[string]mgrListedUser{
		"alice@example.com":   {status: "active", mailings: 3},
		"bob@example.com":     {status: "active", mailings: 1},
		"blocked@example.com": {status: "blocked", mailings: 0},
		"pending@example.com": {status: "unconfirmed", mailings: 0},
		"boss@example.com":    {status: "active", mailings: 0},
	}
	if len(all) != len(want) {
		t.Fatalf("listed %v", mgrKeys(all))
	}
	for email, w := range want {
		got := all[email]
		if got.status != w.status || got.mailings != w.mailings {
			t.Errorf("%s: status %q mailings %d, want %q %d", email, got.status, got.mailings, w.status, w.mailings)
		}
	}
	if !strings.Contains(all["boss@example.com"].row, "Manager") || !strings.Contains(all["alice@example.com"].row, "User") ||
		!strings.Contains(all["alice@example.com"].row, "2026-01-05 09:00") {
		t.Error("role or sign-up date missing from rows")
	}

	filters := map[string][]string{
		"?status=blocked":                 {"blocked@example.com"},
		"?status=unconfirmed":             {"pending@example.com"},
		"?status=active":                  {"alice@example.com", "bob@example.com", "boss@example.com"},
		"?role=manager":                   {"boss@example.com"},
		"?role=user&status=active":        {"alice@example.com", "bob@example.com"},
		"?q=B":                            {"blocked@example.com", "bob@example.com", "boss@example.com"},
		"?q=bo&role=user":                 {"bob@example.com"},
		"?q=%25":                          {},
		"?status=nonsense&q=alice%40exam": {"alice@example.com"},
	}
	for q, emails := range filters {
		got := mgrListedUsers(t, m.get("/manager/users"+q, "HX-Request", "true").Body)
		if len(got) != len(emails) {
			t.Errorf("%s: listed %v, want %v", q, mgrKeys(got), emails)
			continue
		}
		for _, e := range emails {
			if _, ok := got[e]; !ok {
				t.Errorf("%s: %s missing (got %v)", q, e, mgrKeys(got))
			}
		}
	}

	// A timezone of the manager's own shows sign-up dates in it.
	mu, _ := st.UserByEmail(ctx, "boss@example.com")
	if err := st.SetProfile(ctx, mu.ID, "en", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	if got := mgrListedUsers(t, m.get("/manager/users?q=alice").Body); !strings.Contains(got["alice@example.com"].row, "2026-01-05 12:00") {
		t.Errorf("sign-up date not in the manager's zone: %s", got["alice@example.com"].row)
	}
}

func TestManagerUsersListPagesKeepingFilters(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ctx := context.Background()
	m := account(t, srv, "boss@example.com", true)
	for i := 0; i < 30; i++ {
		if err := srv.App.Store.CreateUser(ctx, &mailing.User{Email: fmt.Sprintf("u%02d@example.com", i), PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	first := m.get("/manager/users?status=unconfirmed&role=user")
	got := mgrListedUsers(t, first.Body)
	if len(got) != 25 {
		t.Fatalf("first page: %d rows", len(got))
	}
	next := regexp.MustCompile(`href="(/manager/users\?[^"]*after=[^"]+)"`).FindStringSubmatch(first.Body)
	if next == nil {
		t.Fatal("no Next link")
	}
	link := strings.ReplaceAll(next[1], "&amp;", "&")
	if !strings.Contains(link, "role=user") || !strings.Contains(link, "status=unconfirmed") {
		t.Fatalf("Next link drops the filters: %s", link)
	}
	second := mgrListedUsers(t, m.get(link).Body)
	if len(second) != 5 {
		t.Fatalf("second page: %d rows", len(second))
	}
	for e := range second {
		if _, dup := got[e]; dup {
			t.Fatalf("%s on both pages", e)
		}
	}
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

func TestClientsCarryTagsAndAreTaggedInBulk(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "owner@example.com", false)
	for _, c := range []url.Values{
		{"email": {"ann@example.com"}, "full_name": {"Ann"}, "tags": {"VIP, news"}},
		{"email": {"bob@example.com"}, "full_name": {"Bob"}, "tags": {"vip"}},
		{"email": {"cid@example.com"}, "full_name": {"Cid"}},
	} {
		if r := a.post("/clients/new", c); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %v: %d %.500s", c, r.StatusCode, r.Body)
		}
	}
	if r := a.post("/clients/new", url.Values{"email": {"long@example.com"}, "tags": {strings.Repeat("x", 51)}}); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, "at most 50 characters") {
		t.Fatalf("a tag too long: %d", r.StatusCode)
	}

	list := a.get("/clients")
	if !strings.Contains(list.Body, `<option value="VIP">VIP (2)</option>`) || !strings.Contains(list.Body, `<option value="news">news (1)</option>`) {
		t.Fatalf("the tag filter does not list tags with counts: %.3000s", list.Body)
	}
	vip := a.get("/clients?tag=vip", "HX-Request", "true")
	if !strings.Contains(vip.Body, "ann@example.com") || !strings.Contains(vip.Body, "bob@example.com") || strings.Contains(vip.Body, "cid@example.com") {
		t.Fatalf("filter by tag: %.2000s", vip.Body)
	}

	// Tag the ticked ones; then all the list shows for a search; then untag.
	cid := createdIDOf(t, srv, "owner@example.com", "cid@example.com")
	r := a.post("/clients/tags", url.Values{"tag": {"Spring"}, "scope": {"selected"}, "action": {"add"}, "ids": {itoa(cid)}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk tag: %d", r.StatusCode)
	}
	if l := a.get("/clients?tag=spring"); !strings.Contains(l.Body, "Tag “Spring” added to 1 clients.") || !strings.Contains(l.Body, "cid@example.com") {
		t.Fatalf("after tagging the ticked client: %.2000s", l.Body)
	}
	a.post("/clients/tags", url.Values{"tag": {"spring"}, "scope": {"all"}, "action": {"add"}, "q": {"b"}})
	if l := a.get("/clients?tag=Spring", "HX-Request", "true"); !strings.Contains(l.Body, "bob@example.com") || strings.Contains(l.Body, "ann@example.com") {
		t.Fatalf("after tagging the search's clients: %.2000s", l.Body)
	}
	a.post("/clients/tags", url.Values{"tag": {"SPRING"}, "scope": {"all"}, "action": {"remove"}, "filter_tag": {"vip"}})
	if l := a.get("/clients?tag=spring", "HX-Request", "true"); !strings.Contains(l.Body, "cid@example.com") || strings.Contains(l.Body, "bob@example.com") {
		t.Fatalf("after untagging the vip clients: %.2000s", l.Body)
	}
	if r := a.post("/clients/tags", url.Values{"tag": {"x"}, "scope": {"selected"}, "action": {"add"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("tagging nobody: %d", r.StatusCode)
	} else if l := a.get("/clients"); !strings.Contains(l.Body, "Tick the clients to tag first") {
		t.Fatal("tagging with nothing ticked says nothing")
	}

	// Another user's bulk tagging reaches none of these clients.
	b := account(t, srv, "other@example.com", false)
	b.post("/clients/tags", url.Values{"tag": {"hijack"}, "scope": {"selected"}, "action": {"add"}, "ids": {itoa(cid)}})
	if l := a.get("/clients/" + itoa(cid)); strings.Contains(l.Body, "hijack") {
		t.Fatal("another user tagged the owner's client")
	}

	// The export carries the tags; an import sets them.
	exp := a.get("/clients/export.csv")
	if !strings.Contains(exp.Body, "email,full_name,comment,tags") || !strings.Contains(exp.Body, `ann@example.com,Ann,,"news, VIP"`) {
		t.Fatalf("export: %s", exp.Body)
	}
	preview := a.upload("/clients/import", "clients.csv", []byte("email,full_name,comment,tags\ndan@example.com,Dan,,\"vip, imported\"\n"), true)
	token := previewToken(t, preview)
	if r := a.post("/clients/import/commit", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("import commit: %d", r.StatusCode)
	}
	if l := a.get("/clients?tag=imported", "HX-Request", "true"); !strings.Contains(l.Body, "dan@example.com") {
		t.Fatalf("imported tags: %.1500s", l.Body)
	}
}

func TestAMailingToATagReachesTheClientsTaggedSince(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	a := account(t, srv, "owner@example.com", false)
	a.post("/clients/new", url.Values{"email": {"ann@example.com"}, "tags": {"weekly"}})
	a.post("/clients/new", url.Values{"email": {"bob@example.com"}})
	a.post("/messages/new", url.Values{"subject": {"Weekly"}, "body": {"Hello {{.Name}}"}})
	msgID := messageIDBySubject(t, srv, "owner@example.com", "weekly")
	now := srv.Clock.Now()
	r := a.post("/mailings/new", url.Values{"message_id": {itoa(msgID)}, "tags": {"Weekly"}, "period": {"weekly"},
		"start_at": {now.Add(time.Hour).Format("2006-01-02T15:04")}, "end_at": {now.Add(60 * 24 * time.Hour).Format("2006-01-02T15:04")}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("mailing to a tag: %d %.1000s", r.StatusCode, r.Body)
	}
	id := createdID(t, a.get("/mailings").Body, "mailings")
	page := a.get("/mailings/" + id)
	if !strings.Contains(page.Body, "Clients tagged") || !strings.Contains(page.Body, ">weekly</a>") || !strings.Contains(page.Body, "1 now") {
		t.Fatalf("the mailing page does not show its audience: %.3000s", page.Body)
	}
	a.post("/mailings/"+id+"/send", nil)
	sink.WaitFor(t, 1, 20*time.Second)

	// Bob is tagged after the mailing was made: the next run reaches him too.
	a.post("/clients/tags", url.Values{"tag": {"weekly"}, "scope": {"all"}, "action": {"add"}, "q": {"bob"}})
	testutil.Eventually(t, 20*time.Second, "the first run to finish", func() bool {
		return strings.Contains(a.get("/mailings/"+id+"/progress", "HX-Request", "true").Body, `data-count="pending">0<`)
	})
	a.post("/mailings/"+id+"/send", nil)
	got := sink.WaitFor(t, 3, 20*time.Second)
	if got[1].To[0]+got[2].To[0] != "ann@example.combob@example.com" && got[1].To[0]+got[2].To[0] != "bob@example.comann@example.com" {
		t.Fatalf("second run went to %v %v", got[1].To, got[2].To)
	}
}

func TestTheSuppressionListIsKeptByHandAndSkippedByRuns(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	a := account(t, srv, "owner@example.com", false)
	mgr := account(t, srv, "boss@example.com", true)
	id := mailingFor(t, srv, "owner@example.com", 3)
	ctx := context.Background()
	ids, err := srv.App.Store.MailingRecipientIDs(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := srv.App.Store.UserByEmail(ctx, "owner@example.com")
	first, err := srv.App.Store.ClientByID(ctx, mailing.Scope{UserID: u.ID}, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := a.post("/suppressions/new", url.Values{"email": {strings.ToUpper(first.Email)}, "detail": {"asked by phone"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("add by hand: %d %.500s", r.StatusCode, r.Body)
	}
	if r := a.post("/suppressions/new", url.Values{"email": {"not an address"}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("add a bad address: %d", r.StatusCode)
	}
	a.upload("/suppressions/import", "list.csv", []byte("gone1@example.com\nnot-an-address\ngone2@example.com\n"), true)
	list := a.get("/suppressions")
	if !strings.Contains(list.Body, "2 addresses added; 1 lines were not addresses.") || !strings.Contains(list.Body, first.Email) ||
		!strings.Contains(list.Body, "Added by hand") {
		t.Fatalf("suppressions page: %.3000s", list.Body)
	}
	// A manager sees it, with its owner, and may not remove it.
	ml := mgr.get("/suppressions")
	if !strings.Contains(ml.Body, first.Email) || !strings.Contains(ml.Body, "owner@example.com") || strings.Contains(ml.Body, "/delete") {
		t.Fatalf("manager's view: %.2000s", ml.Body)
	}

	a.post("/mailings/"+itoa(id)+"/send", nil)
	got := sink.WaitFor(t, 2, 20*time.Second)
	for _, m := range got {
		if m.To[0] == first.Email {
			t.Fatal("a suppressed address was mailed")
		}
	}
	testutil.Eventually(t, 20*time.Second, "the run to show the suppressed recipient", func() bool {
		p := a.get("/mailings/"+itoa(id)+"/progress", "HX-Request", "true").Body
		return strings.Contains(p, `data-count="suppressed">1<`) && strings.Contains(p, `data-count="sent">2<`)
	})

	// Removing a complaint asks first, and says why.
	if _, err := srv.App.Store.Suppress(ctx, []mailing.Suppression{{OwnerID: u.ID, Email: "angry@example.com", Reason: mailing.SuppressComplaint}}); err != nil {
		t.Fatal(err)
	}
	page, _ := srv.App.Store.ListSuppressions(ctx, mailing.Scope{UserID: u.ID}, mailing.ListParams{Q: "angry"})
	sid := itoa(page.Items[0].ID)
	if c := a.get("/suppressions/" + sid + "/delete"); !strings.Contains(c.Body, "complained about your mail") {
		t.Fatalf("removing a complaint does not warn: %.1500s", c.Body)
	}
	if r := a.post("/suppressions/"+sid+"/delete", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.StatusCode)
	}
	if l := a.get("/suppressions"); strings.Contains(l.Body, `id="suppression-`+sid+`"`) || !strings.Contains(l.Body, "angry@example.com is no longer suppressed.") {
		t.Fatal("the removed address is still listed")
	}
}

func createdIDOf(t *testing.T, srv *testutil.Server, owner, email string) int64 {
	t.Helper()
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	page, err := srv.App.Store.ListClients(ctx, mailing.Scope{UserID: u.ID}, mailing.ListParams{Q: email})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("client %s: %v", email, err)
	}
	return page.Items[0].ID
}

// TestTheMailServersBouncesSuppress: a recipient the server refuses with 5.1.1 (no such
// user) is suppressed as a hard bounce as the run records it, and the next run records it
// Suppressed without mailing it; a 4.3.0 (the server's own trouble) that finally fails
// says nothing about the address and suppresses nobody.
func TestTheMailServersBouncesSuppress(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true,
		Env: map[string]string{"SMTP_URL": sink.URL(), "SEND_MAX_TRIES": "1"}})
	a := account(t, srv, "owner@example.com", false)
	id := mailingFor(t, srv, "owner@example.com", 3)
	ctx := context.Background()
	ids, err := srv.App.Store.MailingRecipientIDs(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := srv.App.Store.UserByEmail(ctx, "owner@example.com")
	email := func(i int) string {
		c, err := srv.App.Store.ClientByID(ctx, mailing.Scope{UserID: u.ID}, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		return c.Email
	}
	gone, busy, fine := email(0), email(1), email(2)
	sink.FailRecipient(gone, testutil.AtRcpt, testutil.Reject550)
	sink.FailRecipient(busy, testutil.AtRcpt, testutil.Defer451)

	a.post("/mailings/"+itoa(id)+"/send", nil)
	testutil.Eventually(t, 20*time.Second, "the first run to finish", func() bool {
		p := a.get("/mailings/"+itoa(id)+"/progress", "HX-Request", "true").Body
		return strings.Contains(p, `data-count="pending">0<`) && strings.Contains(p, `data-count="failed">2<`)
	})
	list, err := srv.App.Store.ListSuppressions(ctx, mailing.Scope{UserID: u.ID}, mailing.ListParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Email != gone || list.Items[0].Reason != mailing.SuppressHardBounce ||
		!strings.Contains(list.Items[0].Detail, "5.1.1") {
		t.Fatalf("suppressions after the run: %+v, want only %s as a hard bounce", list.Items, gone)
	}
	counts, err := srv.App.Store.MailingBounces(ctx, id)
	if err != nil || counts != (mailing.BounceCounts{Hard: 1}) {
		t.Fatalf("the mailing's bounces: %+v (%v), want one hard", counts, err)
	}
	if p := a.get("/mailings/" + itoa(id)); !strings.Contains(p.Body, `id="bounces">1 hard, 0 soft bounces; 0 complaints<`) {
		t.Fatalf("the mailing page does not count the hard bounce: %.3000s", p.Body)
	}
	if p := a.get("/stats"); !strings.Contains(p.Body, `id="stat-bounces">1<`) || !strings.Contains(p.Body, `data-count="bounces">1<`) {
		t.Fatalf("/stats does not count the hard bounce: %.5000s", p.Body)
	}

	a.post("/mailings/"+itoa(id)+"/send", nil)
	testutil.Eventually(t, 20*time.Second, "the second run to record the bounced address as suppressed", func() bool {
		p := a.get("/mailings/"+itoa(id)+"/progress", "HX-Request", "true").Body
		return strings.Contains(p, `data-count="suppressed">1<`) && strings.Contains(p, `data-count="pending">0<`)
	})
	for _, m := range sink.Messages() {
		if m.To[0] == gone {
			t.Fatalf("the bounced address %s was mailed", gone)
		}
	}
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("the sink got %d messages, want %s in each run", n, fine)
	}
}

// The tag filter's counts read every tag link: they come from the cache while nothing
// changed, and every write of the owner (a new client, bulk tagging) shows at once.
func TestTagCountsComeFromCacheAndMoveWithEveryWrite(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ql := &queryLog{}
	srv.App.Store.DB.AddQueryHook(ql)
	a := account(t, srv, "tags@example.com", false)
	a.post("/clients/new", url.Values{"email": {"ann@example.com"}, "tags": {"vip"}})
	counting := func() int {
		n := 0
		for _, q := range ql.take() {
			if strings.Contains(q, "ct.tag_id = t.id") {
				n++
			}
		}
		return n
	}
	ql.take()
	if l := a.get("/clients"); !strings.Contains(l.Body, `<option value="vip">vip (1)</option>`) {
		t.Fatalf("first list: %.2000s", l.Body)
	}
	if counting() != 1 {
		t.Fatal("the first list did not count the tags: the test cannot tell")
	}
	a.get("/clients")
	a.get("/clients?sort=email")
	if n := counting(); n != 0 {
		t.Fatalf("unchanged data counted the tags %d more times", n)
	}
	a.post("/clients/new", url.Values{"email": {"bob@example.com"}, "tags": {"VIP"}})
	if l := a.get("/clients"); !strings.Contains(l.Body, `<option value="vip">vip (2)</option>`) {
		t.Fatalf("after a new client: %.2000s", l.Body)
	}
	a.post("/clients/tags", url.Values{"tag": {"vip"}, "scope": {"all"}, "action": {"remove"}, "q": {"bob"}})
	if l := a.get("/clients"); !strings.Contains(l.Body, `<option value="vip">vip (1)</option>`) {
		t.Fatalf("after untagging: %.2000s", l.Body)
	}
}

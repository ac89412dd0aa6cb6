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

	"mailer/app/testutil"
)

type apiClientJSON struct {
	ID       int64    `json:"id"`
	OwnerID  int64    `json:"owner_id"`
	Email    string   `json:"email"`
	FullName string   `json:"full_name"`
	Comment  string   `json:"comment"`
	Tags     []string `json:"tags"`
}

type apiPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func apiServer(t *testing.T, env map[string]string) (*testutil.Server, *testutil.SMTPServer) {
	t.Helper()
	sink := testutil.StartSMTP(t)
	if env == nil {
		env = map[string]string{}
	}
	env["SMTP_URL"] = sink.URL()
	return testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: env}), sink
}

func id(v int64) string { return strconv.FormatInt(v, 10) }

// TestAPITokenLifecycle: a token works at once, a read-only one reads but never writes,
// revoking one or blocking its owner stops it on the next request, and no cookie stands in
// for a token.
func TestAPITokenLifecycle(t *testing.T) {
	srv, _ := apiServer(t, nil)
	ctx := context.Background()
	rw := newAPIUser(t, srv, apiToken(t, srv, "dev@example.com", false, false))
	ro := newAPIUser(t, srv, apiToken(t, srv, "dev@example.com", false, true))

	r := rw.call("POST", "/api/v1/clients", map[string]any{"email": "ann@example.com", "full_name": "Ann"}, 201)
	var cl apiClientJSON
	r.json(t, &cl)
	ro.call("GET", "/api/v1/clients/"+id(cl.ID), nil, 200)
	p := ro.call("POST", "/api/v1/clients", map[string]any{"email": "bob@example.com"}, 403).problem(t)
	if !strings.Contains(p.Detail, "read-only") {
		t.Errorf("read-only refusal: %+v", p)
	}
	ro.call("PATCH", "/api/v1/clients/"+id(cl.ID), map[string]any{"full_name": "X"}, 403)
	ro.call("DELETE", "/api/v1/clients/"+id(cl.ID), nil, 403)

	// Last use is recorded.
	u, _ := srv.App.Store.UserByEmail(ctx, "dev@example.com")
	tokens, err := srv.App.Store.ListAPITokens(ctx, u.ID)
	if err != nil || len(tokens) != 2 {
		t.Fatalf("tokens: %v %v", tokens, err)
	}
	for _, tok := range tokens {
		if tok.LastUsedAt == nil || tok.Hash == "" || strings.HasPrefix(tok.Hash, "mlr_") || len(tok.Prefix) != 12 {
			t.Errorf("token row %+v: want last use, a hash and a 12-character prefix", tok)
		}
	}

	// Anonymous, malformed and unknown tokens; a session cookie is no token.
	for _, tok := range []string{"", "nonsense", "mlr_" + strings.Repeat("A", 43)} {
		r := newAPIUser(t, srv, tok).call("GET", "/api/v1/clients", nil, 401)
		r.problem(t)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", r.Header)
		}
	}
	b := account(t, srv, "web@example.com", false)
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/clients", nil)
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a signed-in browser without a token: %v %v", resp.StatusCode, err)
	}

	// Revoked: the next request fails.
	if _, err := srv.App.Store.RevokeAPIToken(ctx, u.ID, tokens[0].ID); err != nil {
		t.Fatal(err)
	}
	stopped, kept := ro, rw
	if tokens[0].ReadOnly == false {
		stopped, kept = rw, ro
	}
	stopped.call("GET", "/api/v1/clients", nil, 401)
	kept.call("GET", "/api/v1/clients", nil, 200)

	// Blocked owner: every token stops at once; unblocked, it works again.
	if err := srv.App.Store.SetBlocked(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	kept.call("GET", "/api/v1/clients", nil, 401)
	if err := srv.App.Store.SetBlocked(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	kept.call("GET", "/api/v1/clients", nil, 200)
}

// TestAPIClients: create, duplicate, get, patch, list with q, tag and cursor paging,
// delete; another owner's id is 404; a manager reads it and may not change it.
func TestAPIClients(t *testing.T) {
	srv, _ := apiServer(t, nil)
	owner := newAPIUser(t, srv, apiToken(t, srv, "owner@example.com", false, false))
	other := newAPIUser(t, srv, apiToken(t, srv, "other@example.com", false, false))
	mgr := newAPIUser(t, srv, apiToken(t, srv, "boss@example.com", true, false))

	var ann apiClientJSON
	r := owner.call("POST", "/api/v1/clients", map[string]any{"email": " Ann@Example.com ", "full_name": "Ann", "tags": []string{"vip", "news"}}, 201)
	r.json(t, &ann)
	if ann.Email != "ann@example.com" || len(ann.Tags) != 2 || r.Header.Get("Location") != "/api/v1/clients/"+id(ann.ID) {
		t.Fatalf("created %+v, Location %q", ann, r.Header.Get("Location"))
	}
	if f := owner.call("POST", "/api/v1/clients", map[string]any{"email": "ann@example.com"}, 409).fields(t); f["email"] != "email_taken" {
		t.Errorf("duplicate: %v", f)
	}
	// The same rules as the form: a bad email, a two-line name.
	f := owner.call("POST", "/api/v1/clients", map[string]any{"email": "not an email", "full_name": "a\nb"}, 422).fields(t)
	if f["email"] != "email" || f["full_name"] != "one_line" {
		t.Errorf("invalid client: %v", f)
	}

	var got apiClientJSON
	owner.call("PATCH", "/api/v1/clients/"+id(ann.ID), map[string]any{"comment": "from the shop"}, 200).json(t, &got)
	if got.Comment != "from the shop" || got.FullName != "Ann" || len(got.Tags) != 2 {
		t.Errorf("patch kept the other fields? %+v", got)
	}
	owner.call("PATCH", "/api/v1/clients/"+id(ann.ID), map[string]any{"tags": []string{}}, 200).json(t, &got)
	if len(got.Tags) != 0 {
		t.Errorf("tags [] clears: %+v", got)
	}

	for i := 0; i < 5; i++ {
		owner.call("POST", "/api/v1/clients", map[string]any{"email": fmt.Sprintf("b%d@example.com", i), "tags": []string{"batch"}}, 201)
	}
	// Cursor paging visits every client once.
	seen, after := map[string]bool{}, ""
	for pages := 0; ; pages++ {
		var pg apiPage[apiClientJSON]
		owner.call("GET", "/api/v1/clients?limit=2&after="+after, nil, 200).json(t, &pg)
		for _, c := range pg.Items {
			if seen[c.Email] {
				t.Fatalf("%s on two pages", c.Email)
			}
			seen[c.Email] = true
		}
		if pg.NextCursor == nil {
			break
		}
		after = *pg.NextCursor
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 6 {
		t.Errorf("paged through %d clients, want 6", len(seen))
	}
	var pg apiPage[apiClientJSON]
	owner.call("GET", "/api/v1/clients?tag=batch&limit=100", nil, 200).json(t, &pg)
	if len(pg.Items) != 5 {
		t.Errorf("tag filter: %d", len(pg.Items))
	}
	owner.call("GET", "/api/v1/clients?q=ann", nil, 200).json(t, &pg)
	if len(pg.Items) != 1 || pg.Items[0].ID != ann.ID {
		t.Errorf("q=ann: %+v", pg.Items)
	}

	// Scope: another user sees none of it; a manager reads and may not write.
	other.call("GET", "/api/v1/clients/"+id(ann.ID), nil, 404).problem(t)
	other.call("PATCH", "/api/v1/clients/"+id(ann.ID), map[string]any{"comment": "x"}, 404)
	other.call("DELETE", "/api/v1/clients/"+id(ann.ID), nil, 404)
	other.call("GET", "/api/v1/clients", nil, 200).json(t, &pg)
	if len(pg.Items) != 0 {
		t.Errorf("another user lists %d clients", len(pg.Items))
	}
	mgr.call("GET", "/api/v1/clients/"+id(ann.ID), nil, 200)
	mgr.call("PATCH", "/api/v1/clients/"+id(ann.ID), map[string]any{"comment": "x"}, 403)
	mgr.call("DELETE", "/api/v1/clients/"+id(ann.ID), nil, 403)

	owner.call("DELETE", "/api/v1/clients/"+id(ann.ID), nil, 204)
	owner.call("GET", "/api/v1/clients/"+id(ann.ID), nil, 404)
	owner.call("GET", "/api/v1/clients/999999", nil, 404)
}

// TestAPIBulkUpsert10000: 10,000 clients in one request, then the same again with changes
// (updated, never duplicated); one bad item refuses the whole request; 10,001 are refused.
func TestAPIBulkUpsert10000(t *testing.T) {
	srv, _ := apiServer(t, nil)
	owner := newAPIUser(t, srv, apiToken(t, srv, "bulk@example.com", false, false))
	ctx := context.Background()
	u, _ := srv.App.Store.UserByEmail(ctx, "bulk@example.com")
	items := make([]map[string]any, 10000)
	for i := range items {
		items[i] = map[string]any{"email": fmt.Sprintf("c%05d@example.com", i), "full_name": "Client " + strconv.Itoa(i)}
	}
	var res struct{ Created, Updated int }
	owner.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": items}, 200).json(t, &res)
	if res.Created != 10000 || res.Updated != 0 {
		t.Fatalf("first bulk: %+v", res)
	}
	items[0]["full_name"], items[0]["tags"] = "Renamed", []string{"moved"}
	owner.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": items[:100]}, 200).json(t, &res)
	if res.Created != 0 || res.Updated != 100 {
		t.Fatalf("second bulk: %+v", res)
	}
	if n, _ := srv.App.Store.CountClients(ctx, u.ID); n != 10000 {
		t.Fatalf("%d clients after two bulks, want 10000", n)
	}

	// One bad item among new ones: nothing is written, the item's field is named.
	bad := []map[string]any{{"email": "new1@example.com"}, {"email": "broken"}, {"email": "new2@example.com"}}
	f := owner.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": bad}, 422).fields(t)
	if f["clients[1].email"] != "email" {
		t.Errorf("bad item: %v", f)
	}
	dup := []map[string]any{{"email": "twice@example.com"}, {"email": "TWICE@example.com"}}
	if f := owner.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": dup}, 422).fields(t); f["clients[1].email"] == "" {
		t.Errorf("repeated address: %v", f)
	}
	over := make([]map[string]any, 10001)
	for i := range over {
		over[i] = map[string]any{"email": fmt.Sprintf("o%05d@example.com", i)}
	}
	if f := owner.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": over}, 422).fields(t); f["clients"] != "too_many" {
		t.Errorf("10,001 items: %v", f)
	}
	if n, _ := srv.App.Store.CountClients(ctx, u.ID); n != 10000 {
		t.Fatalf("%d clients after refused bulks, want 10000", n)
	}
}

// TestAPIBadInput: unknown fields, wrong types, malformed JSON, an oversized body and
// invalid cursors get clear problem documents, and nothing is written.
func TestAPIBadInput(t *testing.T) {
	srv, _ := apiServer(t, nil)
	a := newAPIUser(t, srv, apiToken(t, srv, "bad@example.com", false, false))
	ctx := context.Background()
	u, _ := srv.App.Store.UserByEmail(ctx, "bad@example.com")

	p := a.call("POST", "/api/v1/clients", []byte(`{"email":"a@example.com","fullname":"typo"}`), 400).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "fullname" || p.Errors[0].Code != "unknown_field" || !strings.Contains(p.Detail, "fullname") {
		t.Errorf("unknown field: %+v", p)
	}
	if f := a.call("POST", "/api/v1/clients", []byte(`{"email":42}`), 400).fields(t); f["email"] != "type" {
		t.Errorf("wrong type: %v", f)
	}
	for _, body := range []string{`{"email":`, `[]`, ``, `{"email":"a@example.com"} {}`, `"x"`} {
		a.call("POST", "/api/v1/clients", []byte(body), 400).problem(t)
	}
	big := `{"email":"a@example.com","comment":"` + strings.Repeat("x", 1<<20) + `"}`
	if p := a.call("POST", "/api/v1/clients", []byte(big), 413).problem(t); !strings.Contains(p.Detail, "1 MiB") {
		t.Errorf("413: %+v", p)
	}
	for _, q := range []string{"after=garbage", "after=eyJ2IjoxfQ", "limit=0", "limit=1000", "limit=x"} {
		a.call("GET", "/api/v1/clients?"+q, nil, 400).problem(t)
	}
	a.call("GET", "/api/v1/mailings/1/attempts?status=maybe", nil, 404) // not theirs: 404 before the filter
	a.call("GET", "/api/v1/stats?from=yesterday", nil, 400).problem(t)
	a.call("GET", "/api/v1/nothing-here", nil, 404).problem(t)
	if n, _ := srv.App.Store.CountClients(ctx, u.ID); n != 0 {
		t.Fatalf("%d clients written by bad requests", n)
	}
}

// TestAPIRateLimit: past RATE_LIMIT_API a token gets 429 with Retry-After; another token
// is counted apart.
func TestAPIRateLimit(t *testing.T) {
	srv, _ := apiServer(t, map[string]string{"RATE_LIMIT_API": "3/1m"})
	a := newAPIUser(t, srv, apiToken(t, srv, "busy@example.com", false, false))
	for i := 0; i < 3; i++ {
		a.call("GET", "/api/v1/tags", nil, 200)
	}
	r := a.call("GET", "/api/v1/tags", nil, 429)
	r.problem(t)
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	newAPIUser(t, srv, apiToken(t, srv, "busy@example.com", false, false)).call("GET", "/api/v1/tags", nil, 200)
}

type apiRunJSON struct {
	ID        int64 `json:"id"`
	MailingID int64 `json:"mailing_id"`
	Total     int   `json:"total"`
	Progress  struct {
		Total, Sent, Failed, Pending, Suppressed int
		Done                                     bool
	} `json:"progress"`
}

// TestAPIMailingFlow is the README's story: a message, clients, a mailing to a tag, send
// (202 with the run), poll the run until done, read the attempts by status with cursor
// paging, the statistics, the tags and the suppressions.
func TestAPIMailingFlow(t *testing.T) {
	srv, sink := apiServer(t, nil)
	a := newAPIUser(t, srv, apiToken(t, srv, "shop@example.com", false, false))
	other := newAPIUser(t, srv, apiToken(t, srv, "rival@example.com", false, false))
	mgr := newAPIUser(t, srv, apiToken(t, srv, "chief@example.com", true, false))

	var msg struct {
		ID     int64  `json:"id"`
		Format string `json:"format"`
	}
	a.call("POST", "/api/v1/messages", map[string]any{"subject": "Hello {{.Name}}", "body": "Hi **{{.Name}}**", "format": "markdown"}, 201).json(t, &msg)
	if f := a.call("POST", "/api/v1/messages", map[string]any{"subject": "x", "body": "{{.Nope"}, 422).fields(t); f["body"] == "" {
		t.Errorf("template error: %v", f)
	}
	a.call("PATCH", "/api/v1/messages/"+id(msg.ID), map[string]any{"subject": "Hello again {{.Name}}"}, 200)
	other.call("GET", "/api/v1/messages/"+id(msg.ID), nil, 404)

	var bulk struct{ Created int }
	a.call("POST", "/api/v1/clients/bulk", map[string]any{"clients": []map[string]any{
		{"email": "x1@example.com", "full_name": "X1", "tags": []string{"news"}},
		{"email": "x2@example.com", "full_name": "X2", "tags": []string{"news"}},
		{"email": "x3@example.com", "full_name": "X3", "tags": []string{"news"}},
		{"email": "y1@example.com", "full_name": "Y1"},
	}}, 200).json(t, &bulk)
	a.call("POST", "/api/v1/suppressions", map[string]any{"email": "x3@example.com", "detail": "asked by phone"}, 201)
	a.call("POST", "/api/v1/suppressions", map[string]any{"email": "x3@example.com"}, 200)

	now := srv.Clock.Now()
	in := map[string]any{"message_id": msg.ID, "tags": []string{"news"}, "period": "none",
		"start_at": now.Add(-time.Minute).Format(time.RFC3339), "end_at": now.Add(48 * time.Hour).Format(time.RFC3339)}
	var ml struct {
		ID     int64    `json:"id"`
		Tags   []string `json:"tags"`
		Status string   `json:"status"`
	}
	a.call("POST", "/api/v1/mailings", in, 201).json(t, &ml)
	if ml.Status != "created" || len(ml.Tags) != 1 {
		t.Fatalf("mailing %+v", ml)
	}
	// Another user's message is "not yours" on its field, as on the form.
	var rivalMsg struct{ ID int64 }
	other.call("POST", "/api/v1/messages", map[string]any{"subject": "s", "body": "b"}, 201).json(t, &rivalMsg)
	bad := map[string]any{"message_id": rivalMsg.ID, "all_clients": true, "start_at": "2026-01-01T00:00:00Z", "end_at": "tomorrow"}
	if f := a.call("POST", "/api/v1/mailings", bad, 422).fields(t); f["end_at"] != "datetime" {
		t.Errorf("bad mailing: %v", f)
	}
	bad["end_at"] = "2026-02-01T00:00:00Z"
	if f := a.call("POST", "/api/v1/mailings", bad, 422).fields(t); f["message_id"] != "not_yours" {
		t.Errorf("another's message: %v", f)
	}
	other.call("POST", "/api/v1/mailings/"+id(ml.ID)+"/send", nil, 404)
	mgr.call("POST", "/api/v1/mailings/"+id(ml.ID)+"/send", nil, 403)

	var run apiRunJSON
	r := a.call("POST", "/api/v1/mailings/"+id(ml.ID)+"/send", nil, 202)
	r.json(t, &run)
	if run.Total != 2 || run.Progress.Suppressed != 1 || run.MailingID != ml.ID || r.Header.Get("Location") != "/api/v1/runs/"+id(run.ID) {
		t.Fatalf("run %+v at %q", run, r.Header.Get("Location"))
	}
	testutil.Eventually(t, 20*time.Second, "the run to finish", func() bool {
		a.call("GET", "/api/v1/runs/"+id(run.ID), nil, 200).json(t, &run)
		return run.Progress.Done
	})
	if run.Progress.Sent != 2 || run.Progress.Suppressed != 1 {
		t.Fatalf("progress %+v", run.Progress)
	}
	sink.WaitFor(t, 2, 10*time.Second)
	a.call("POST", "/api/v1/mailings/"+id(ml.ID)+"/send", nil, 202)
	other.call("GET", "/api/v1/runs/"+id(run.ID), nil, 404)
	var runs apiPage[apiRunJSON]
	mgr.call("GET", "/api/v1/mailings/"+id(ml.ID)+"/runs", nil, 200).json(t, &runs)
	if len(runs.Items) != 2 || runs.Items[1].ID != run.ID {
		t.Fatalf("runs %+v", runs.Items)
	}
	testutil.Eventually(t, 20*time.Second, "the second run to finish", func() bool {
		a.call("GET", "/api/v1/runs/"+id(runs.Items[0].ID), nil, 200).json(t, &run)
		return run.Progress.Done
	})

	// Attempts: four successes, one at a time through the cursor; no failures.
	type attempt struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Email  string `json:"email"`
	}
	n, after := 0, ""
	for {
		var pg apiPage[attempt]
		a.call("GET", "/api/v1/mailings/"+id(ml.ID)+"/attempts?status=success&limit=1&after="+after, nil, 200).json(t, &pg)
		n += len(pg.Items)
		if pg.NextCursor == nil {
			break
		}
		after = *pg.NextCursor
	}
	if n != 4 {
		t.Errorf("%d successful attempts, want 4", n)
	}
	var fails apiPage[attempt]
	a.call("GET", "/api/v1/mailings/"+id(ml.ID)+"/attempts?status=failure", nil, 200).json(t, &fails)
	if len(fails.Items) != 0 {
		t.Errorf("failures: %+v", fails.Items)
	}
	a.call("GET", "/api/v1/mailings/"+id(ml.ID)+"/attempts?status=maybe", nil, 400)

	var st struct {
		Success, Sent int
		Days          []struct{ Day string }
	}
	a.call("GET", "/api/v1/stats", nil, 200).json(t, &st)
	if st.Success != 4 || st.Sent != 4 || len(st.Days) != 30 {
		t.Errorf("stats %+v", st)
	}
	var tags apiPage[struct {
		Name    string `json:"name"`
		Clients int    `json:"clients"`
	}]
	a.call("GET", "/api/v1/tags", nil, 200).json(t, &tags)
	if len(tags.Items) != 1 || tags.Items[0].Name != "news" || tags.Items[0].Clients != 3 {
		t.Errorf("tags %+v", tags.Items)
	}
	var sups apiPage[struct {
		ID     int64  `json:"id"`
		Reason string `json:"reason"`
	}]
	a.call("GET", "/api/v1/suppressions?reason=manual", nil, 200).json(t, &sups)
	if len(sups.Items) != 1 {
		t.Fatalf("suppressions %+v", sups.Items)
	}
	other.call("DELETE", "/api/v1/suppressions/"+id(sups.Items[0].ID), nil, 404)
	a.call("DELETE", "/api/v1/suppressions/"+id(sups.Items[0].ID), nil, 204)

	// A message a mailing sends cannot be deleted; the mailing can, then the message.
	a.call("DELETE", "/api/v1/messages/"+id(msg.ID), nil, 409)
	a.call("PATCH", "/api/v1/mailings/"+id(ml.ID), map[string]any{"period": "weekly"}, 200)
	a.call("PATCH", "/api/v1/mailings/"+id(ml.ID), map[string]any{"period": "hourly"}, 422)
	a.call("DELETE", "/api/v1/mailings/"+id(ml.ID), nil, 204)
	a.call("DELETE", "/api/v1/messages/"+id(msg.ID), nil, 204)
}

var tokenValueRE = regexp.MustCompile(`<code id="token-value">(mlr_[A-Za-z0-9_-]{43})</code>`)

// TestAccountTokensPage: a token made on /account/tokens is shown once, works, is listed
// by its prefix with its access and last use, and stops when revoked there.
func TestAccountTokensPage(t *testing.T) {
	srv, _ := apiServer(t, nil)
	b := account(t, srv, "page@example.com", false)
	r := b.post("/account/tokens", url.Values{"name": {""}})
	if r.StatusCode != 422 {
		t.Fatalf("nameless token: %d", r.StatusCode)
	}
	r = b.post("/account/tokens", url.Values{"name": {"Shop form"}, "read_only": {"1"}})
	m := tokenValueRE.FindStringSubmatch(r.Body)
	if r.StatusCode != 200 || m == nil {
		t.Fatalf("create token: %d %.2000s", r.StatusCode, r.Body)
	}
	value := m[1]
	a := newAPIUser(t, srv, value)
	a.call("GET", "/api/v1/clients", nil, 200)
	a.call("POST", "/api/v1/clients", map[string]any{"email": "x@example.com"}, 403)

	page := b.get("/account/tokens")
	if strings.Contains(page.Body, value) || !strings.Contains(page.Body, value[:12]) || !strings.Contains(page.Body, "Shop form") ||
		!strings.Contains(page.Body, "Read-only") || strings.Contains(page.Body, "Never") {
		t.Fatalf("the list shows the value, or misses its prefix, access or last use:\n%s", page.Body)
	}
	ctx := context.Background()
	u, _ := srv.App.Store.UserByEmail(ctx, "page@example.com")
	tokens, _ := srv.App.Store.ListAPITokens(ctx, u.ID)
	// Another user cannot revoke it.
	if r := account(t, srv, "else@example.com", false).post("/account/tokens/"+id(tokens[0].ID)+"/revoke", nil); r.StatusCode != 404 {
		t.Fatalf("another user's revoke: %d", r.StatusCode)
	}
	a.call("GET", "/api/v1/clients", nil, 200)
	if r := b.post("/account/tokens/"+id(tokens[0].ID)+"/revoke", nil); r.StatusCode != 303 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	a.call("GET", "/api/v1/clients", nil, 401)
	if page := b.get("/account/tokens"); !strings.Contains(page.Body, "Revoked") {
		t.Fatalf("revoked token not marked:\n%s", page.Body)
	}
}

// TestAPIDocs: the document is served as JSON and the reference page lists every
// operation and the problem types a problem document's "type" points at.
func TestAPIDocs(t *testing.T) {
	srv, _ := apiServer(t, nil)
	doc, _ := apiSpec(t)
	resp, err := http.Get(srv.URL + "/api/openapi.json")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %v %v", resp, err)
	}
	resp.Body.Close()
	page := newBrowser(t, srv).get("/api/docs")
	if page.StatusCode != 200 {
		t.Fatalf("docs: %d", page.StatusCode)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			if !strings.Contains(page.Body, `id="`+op.OperationID+`"`) || !strings.Contains(page.Body, method+" "+path) {
				t.Errorf("the reference page misses %s %s", method, path)
			}
		}
	}
	for _, code := range []string{"400", "401", "403", "404", "409", "413", "422", "429"} {
		if !strings.Contains(page.Body, `id="problem-`+code+`"`) {
			t.Errorf("no problem-%s anchor", code)
		}
	}
	if n < 25 {
		t.Errorf("only %d operations in the document", n)
	}
}

// TestAPITransactionalSend: one message to one address now, through the engine to a real
// SMTP server, recorded in the ledger under the message's transactional run; a suppressed
// address is recorded and not sent; the hidden mailing is in no list and the message can
// still be deleted.
func TestAPITransactionalSend(t *testing.T) {
	srv, sink := apiServer(t, nil)
	a := newAPIUser(t, srv, apiToken(t, srv, "shop@example.com", false, false))
	other := newAPIUser(t, srv, apiToken(t, srv, "rival@example.com", false, false))
	var msg struct{ ID int64 }
	a.call("POST", "/api/v1/messages", map[string]any{"subject": "Welcome, {{.Name}}", "body": "Your account {{.Email}} is ready."}, 201).json(t, &msg)
	path := "/api/v1/messages/" + id(msg.ID) + "/send"

	type delivery struct {
		ID       int64  `json:"id"`
		RunID    int64  `json:"run_id"`
		State    string `json:"state"`
		Reason   string `json:"reason"`
		Attempts []struct {
			Status   string `json:"status"`
			Response string `json:"response"`
		} `json:"attempts"`
	}
	var d delivery
	r := a.call("POST", path, map[string]any{"email": "New.User@Example.com", "name": "Nina"}, 202)
	r.json(t, &d)
	if d.State != "pending" || r.Header.Get("Location") != "/api/v1/deliveries/"+id(d.ID) {
		t.Fatalf("delivery %+v at %q", d, r.Header.Get("Location"))
	}
	got := sink.WaitFor(t, 1, 10*time.Second)[0]
	if got.To[0] != "new.user@example.com" || got.Subject != "Welcome, Nina" {
		t.Fatalf("mail to %v subject %q", got.To, got.Subject)
	}
	testutil.Eventually(t, 10*time.Second, "the delivery to be recorded as sent", func() bool {
		a.call("GET", "/api/v1/deliveries/"+id(d.ID), nil, 200).json(t, &d)
		return d.State == "sent"
	})
	if len(d.Attempts) != 1 || d.Attempts[0].Status != "success" {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	var run struct {
		Kind     string `json:"kind"`
		Total    int    `json:"total"`
		Progress struct{ Sent int }
	}
	a.call("GET", "/api/v1/runs/"+id(d.RunID), nil, 200).json(t, &run)
	if run.Kind != "transactional" || run.Total != 1 || run.Progress.Sent != 1 {
		t.Fatalf("run %+v", run)
	}

	// The second send goes under the same run; a suppressed address is never sent.
	var d2 delivery
	a.call("POST", path, map[string]any{"email": "second@example.com"}, 202).json(t, &d2)
	a.call("POST", "/api/v1/suppressions", map[string]any{"email": "gone@example.com"}, 201)
	var d3 delivery
	a.call("POST", path, map[string]any{"email": "gone@example.com"}, 202).json(t, &d3)
	if d2.RunID != d.RunID || d3.State != "suppressed" || d3.Reason != "manual" {
		t.Fatalf("second %+v, suppressed %+v", d2, d3)
	}
	sink.WaitFor(t, 2, 10*time.Second)
	testutil.Eventually(t, 10*time.Second, "the second delivery", func() bool {
		a.call("GET", "/api/v1/deliveries/"+id(d2.ID), nil, 200).json(t, &d2)
		return d2.State == "sent"
	})
	if n := len(sink.Messages()); n != 2 {
		t.Errorf("%d mails reached the server, want 2 (the suppressed address is not sent)", n)
	}

	// Bad input, scope.
	if f := a.call("POST", path, map[string]any{"email": "nope"}, 422).fields(t); f["email"] != "email" {
		t.Errorf("bad address: %v", f)
	}
	a.call("POST", path, map[string]any{"email": "x@example.com", "data": map[string]any{}}, 400)
	other.call("POST", path, map[string]any{"email": "x@example.com"}, 404)
	other.call("GET", "/api/v1/deliveries/"+id(d.ID), nil, 404)

	// The hidden mailing is in no list; the message is deleted with its sends.
	var ml apiPage[struct{ ID int64 }]
	a.call("GET", "/api/v1/mailings", nil, 200).json(t, &ml)
	if len(ml.Items) != 0 {
		t.Errorf("the transactional mailing is listed: %+v", ml.Items)
	}
	a.call("DELETE", "/api/v1/messages/"+id(msg.ID), nil, 204)
	a.call("GET", "/api/v1/deliveries/"+id(d.ID), nil, 404)
}

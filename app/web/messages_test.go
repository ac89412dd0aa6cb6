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

func TestMessageCRUDShowsTheBodyAsWrittenAndExplainsPlaceholders(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)

	if r := a.get("/messages"); r.StatusCode != 200 || !strings.Contains(r.Body, "No messages yet") || !strings.Contains(r.Body, `href="/messages/new"`) {
		t.Fatalf("empty list does not say what to do: %d %.500s", r.StatusCode, r.Body)
	}
	if r := a.get("/messages/new"); r.StatusCode != 200 || !strings.Contains(r.Body, `name="subject"`) || !strings.Contains(r.Body, `name="body"`) {
		t.Fatalf("new form: %d", r.StatusCode)
	}
	body := "Hello {{.Name}},\n\n  indented line\n<b>not bold</b>"
	r := a.post("/messages/new", url.Values{"subject": {"  Spring news for {{.Name}} "}, "body": {body}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/messages" {
		t.Fatalf("create: %d %q %.300s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	list := a.get("/messages")
	if !strings.Contains(list.Body, "Spring news for {{.Name}}") || !strings.Contains(list.Body, "Message “Spring news for {{.Name}}” added.") {
		t.Fatalf("list after create: %.800s", list.Body)
	}
	id := createdID(t, list.Body, "messages")
	if !strings.Contains(list.Body, "/messages/"+id+"/edit") || !strings.Contains(list.Body, "/messages/"+id+"/delete") {
		t.Fatal("the owner is not offered edit and delete in the list")
	}

	view := a.get("/messages/" + id)
	if view.StatusCode != 200 || !strings.Contains(view.Body, "<pre") ||
		!strings.Contains(view.Body, "Hello {{.Name}},\n\n  indented line\n&lt;b&gt;not bold&lt;/b&gt;") {
		t.Fatalf("view does not show the body preformatted and escaped: %.1500s", view.Body)
	}
	if !strings.Contains(view.Body, "{{.Name}}, {{.Email}} and {{.UnsubscribeURL}} are replaced") {
		t.Fatal("view does not explain the placeholders")
	}
	if !strings.Contains(view.Body, "/messages/"+id+"/edit") || !strings.Contains(view.Body, "/messages/"+id+"/delete") {
		t.Fatal("the owner is not offered edit and delete on the view")
	}

	if r := a.get("/messages/" + id + "/edit"); r.StatusCode != 200 || !strings.Contains(r.Body, "Spring news for {{.Name}}") {
		t.Fatalf("edit form: %d", r.StatusCode)
	}
	r = a.post("/messages/"+id+"/edit", url.Values{"subject": {"Summer news"}, "body": {"New body"}}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Header.Get("HX-Redirect") != "/messages/"+id {
		t.Fatalf("htmx edit: %d %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
	if r := a.get("/messages/" + id); !strings.Contains(r.Body, "Summer news") || !strings.Contains(r.Body, "New body") || strings.Contains(r.Body, "Spring news") {
		t.Fatal("edit not saved")
	}

	if r := a.get("/messages/" + id + "/delete"); r.StatusCode != 200 || !strings.Contains(r.Body, "Delete the message “Summer news”?") {
		t.Fatalf("delete confirmation: %d", r.StatusCode)
	}
	r = a.post("/messages/"+id+"/delete", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "deleted") || strings.Contains(r.Body, "<tr") || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx delete: %d %q", r.StatusCode, r.Body)
	}
	if r := a.get("/messages/" + id); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted message still there: %d", r.StatusCode)
	}

	// Without JavaScript: the confirmation page posts and goes back to the list.
	a.post("/messages/new", url.Values{"subject": {"Plain"}, "body": {"b"}})
	id = createdID(t, a.get("/messages").Body, "messages")
	if r := a.post("/messages/"+id+"/delete", nil); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/messages" {
		t.Fatalf("plain delete: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := a.get("/messages"); !strings.Contains(r.Body, "Message “Plain” deleted.") || !strings.Contains(r.Body, "No messages yet") {
		t.Fatalf("list after plain delete: %.800s", r.Body)
	}
}

func TestMessageSubjectWithALineBreakIsRejectedNotStripped(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "lines@example.com", false)

	for _, subject := range []string{"Hello\r\nBcc: victim@example.com", "Hello\nWorld", "Hello\r"} {
		r := a.post("/messages/new", url.Values{"subject": {subject}, "body": {"text"}}, "HX-Request", "true")
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Must be a single line.") ||
			strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `aria-invalid="true"`) {
			t.Fatalf("htmx subject %q: %d %.500s", subject, r.StatusCode, r.Body)
		}
		r = a.post("/messages/new", url.Values{"subject": {subject}, "body": {"text"}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Must be a single line.") || !strings.Contains(r.Body, "<html") {
			t.Fatalf("plain subject %q: %d %.500s", subject, r.StatusCode, r.Body)
		}
	}
	if r := a.get("/messages"); !strings.Contains(r.Body, "No messages yet") {
		t.Fatalf("a subject with a line break was saved (stripped?): %.800s", r.Body)
	}

	// Editing is held to the same rule and leaves the message as it was.
	a.post("/messages/new", url.Values{"subject": {"Good"}, "body": {"text"}})
	id := createdID(t, a.get("/messages").Body, "messages")
	r := a.post("/messages/"+id+"/edit", url.Values{"subject": {"Good\nBcc: x@example.com"}, "body": {"text"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Must be a single line.") {
		t.Fatalf("edit with a line break: %d", r.StatusCode)
	}
	if r := a.get("/messages/" + id); strings.Contains(r.Body, "Bcc") {
		t.Fatal("the edit with a line break was saved")
	}
}

func TestMessageWithoutSubjectOrBodyIsRejectedInPlace(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "empty@example.com", false)

	r := a.post("/messages/new", url.Values{"subject": {"   "}, "body": {" \n "}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Count(r.Body, "This field is required.") != 2 ||
		strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `<form`) {
		t.Fatalf("htmx empty: %d %.800s", r.StatusCode, r.Body)
	}
	r = a.post("/messages/new", url.Values{"subject": {"Only a subject"}, "body": {""}})
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Count(r.Body, "This field is required.") != 1 ||
		!strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `value="Only a subject"`) {
		t.Fatalf("plain empty body: %d %.800s", r.StatusCode, r.Body)
	}
	if r := a.get("/messages"); !strings.Contains(r.Body, "No messages yet") {
		t.Fatal("an invalid message was saved")
	}
}

func TestMessagesOfAnotherUserAre404OnEveryRoute(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "owner@example.com", false)
	a.post("/messages/new", url.Values{"subject": {"Secret plans"}, "body": {"text"}})
	id := createdID(t, a.get("/messages").Body, "messages")

	b := account(t, srv, "other@example.com", false)
	if r := b.get("/messages"); strings.Contains(r.Body, "Secret plans") {
		t.Fatal("another user's list shows the message")
	}
	if r := b.get("/messages?q=secret"); strings.Contains(r.Body, "Secret plans") {
		t.Fatal("another user's search finds the message")
	}
	for _, path := range []string{"/messages/" + id, "/messages/" + id + "/edit", "/messages/" + id + "/delete"} {
		if r := b.get(path); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s by another user: %d, want 404", path, r.StatusCode)
		}
	}
	for _, path := range []string{"/messages/" + id + "/edit", "/messages/" + id + "/delete"} {
		if r := b.post(path, url.Values{"subject": {"Hacked"}, "body": {"x"}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s by another user: %d, want 404", path, r.StatusCode)
		}
	}
	if r := a.get("/messages/" + id); r.StatusCode != 200 || !strings.Contains(r.Body, "Secret plans") {
		t.Fatal("the message changed or went away")
	}
}

func TestManagerSeesEveryonesMessagesReadOnly(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "owner@example.com", false)
	a.post("/messages/new", url.Values{"subject": {"Team update"}, "body": {"text"}})
	id := createdID(t, a.get("/messages").Body, "messages")

	m := account(t, srv, "boss@example.com", true)
	r := m.get("/messages")
	if !strings.Contains(r.Body, "Team update") || !strings.Contains(r.Body, "owner@example.com") || !strings.Contains(r.Body, ">Owner<") {
		t.Fatalf("manager does not see the message with its owner: %.800s", r.Body)
	}
	if strings.Contains(r.Body, "/messages/"+id+"/edit") || strings.Contains(r.Body, "/messages/"+id+"/delete") {
		t.Fatal("manager is offered edit or delete controls in the list")
	}
	v := m.get("/messages/" + id)
	if v.StatusCode != 200 || !strings.Contains(v.Body, "owner@example.com") {
		t.Fatalf("manager view: %d", v.StatusCode)
	}
	if strings.Contains(v.Body, "/messages/"+id+"/edit") || strings.Contains(v.Body, "/messages/"+id+"/delete") {
		t.Fatal("manager is offered edit or delete controls on the view")
	}
	for _, path := range []string{"/messages/" + id + "/edit", "/messages/" + id + "/delete"} {
		if r := m.get(path); r.StatusCode != http.StatusForbidden {
			t.Errorf("manager GET %s: %d, want 403", path, r.StatusCode)
		}
		if r := m.post(path, url.Values{"subject": {"Changed"}, "body": {"x"}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("manager POST %s: %d, want 403", path, r.StatusCode)
		}
	}
	if r := a.get("/messages/" + id); r.StatusCode != 200 || !strings.Contains(r.Body, "Team update") {
		t.Fatal("the message changed or went away")
	}
}

func TestMessageSearchMatchesSubjectPrefixAndSorts(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "search@example.com", false)
	for _, s := range []string{"Weekly news", "News flash", "Monthly report"} {
		if r := a.post("/messages/new", url.Values{"subject": {s}, "body": {"b"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %q: %d", s, r.StatusCode)
		}
	}
	a.get("/messages") // shows (and so clears) the "added" flashes, which name every subject

	r := a.get("/messages?q=NEWS", "HX-Request", "true")
	if strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="list"`) {
		t.Fatalf("search partial: %.300s", r.Body)
	}
	if !strings.Contains(r.Body, "News flash") || strings.Contains(r.Body, "Weekly news") || strings.Contains(r.Body, "Monthly report") {
		t.Fatalf("search is not a subject prefix match: %.1000s", r.Body)
	}
	if r := a.get("/messages?q=zzz"); !strings.Contains(r.Body, "Nothing matches") || strings.Contains(r.Body, "News flash") {
		t.Fatal("search does not filter")
	}

	r = a.get("/messages?sort=subject")
	i, j, k := strings.Index(r.Body, "Monthly report"), strings.Index(r.Body, "News flash"), strings.Index(r.Body, "Weekly news")
	if i < 0 || !(i < j && j < k) {
		t.Fatalf("sort by subject: positions %d %d %d", i, j, k)
	}
	r = a.get("/messages?sort=subject&desc=1")
	i, j, k = strings.Index(r.Body, "Monthly report"), strings.Index(r.Body, "News flash"), strings.Index(r.Body, "Weekly news")
	if k < 0 || !(k < j && j < i) {
		t.Fatalf("sort by subject descending: positions %d %d %d", i, j, k)
	}
}

func TestMessageUsedByAMailingCannotBeDeleted(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "sender@example.com", false)
	ctx := context.Background()
	user, err := srv.App.Store.UserByEmail(ctx, "sender@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a.post("/messages/new", url.Values{"subject": {"In use"}, "body": {"b"}})
	id := createdID(t, a.get("/messages").Body, "messages")
	if r := a.post("/clients/new", url.Values{"email": {"rcpt@example.com"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create client: %d", r.StatusCode)
	}
	msg, err := srv.App.Store.MessageByID(ctx, mailing.Scope{UserID: user.ID}, mustID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour)
	ml := &mailing.Mailing{OwnerID: user.ID, MessageID: msg.ID, StartAt: start, EndAt: start.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := srv.App.Store.SaveMailing(ctx, ml, mailing.Recipients{All: true}); err != nil {
		t.Fatal(err)
	}

	r := a.post("/messages/"+id+"/delete", nil, "HX-Request", "true")
	if r.StatusCode != http.StatusConflict || r.Header.Get("HX-Retarget") != "#flashes" ||
		!strings.Contains(r.Body, "a mailing uses it") || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx delete of a message in use: %d %q %.300s", r.StatusCode, r.Header.Get("HX-Retarget"), r.Body)
	}
	r = a.post("/messages/"+id+"/delete", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/messages/"+id {
		t.Fatalf("plain delete of a message in use: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	v := a.get("/messages/" + id)
	if v.StatusCode != 200 || !strings.Contains(v.Body, "a mailing uses it") || !strings.Contains(v.Body, "In use") {
		t.Fatalf("after refused delete: %d %.800s", v.StatusCode, v.Body)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not an id: %q", s)
		}
		n = n*10 + int64(r-'0')
	}
	return n
}

func TestMessagePreviewRendersSampleData(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "preview@example.com", false)
	r := a.post("/messages/new", url.Values{"subject": {"Hi {{.Name}}"}, "body": {"Dear {{.Name}},\nyour address is {{.Email}}.\n<b>x</b>"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.300s", r.StatusCode, r.Body)
	}
	id := createdID(t, a.get("/messages").Body, "messages")
	v := a.get("/messages/" + id)
	if v.StatusCode != 200 {
		t.Fatalf("view: %d", v.StatusCode)
	}
	i := strings.Index(v.Body, `id="preview"`)
	if i < 0 {
		t.Fatalf("view has no preview section: %.1500s", v.Body)
	}
	preview := v.Body[i:]
	if end := strings.Index(preview, "</section>"); end >= 0 {
		preview = preview[:end]
	}
	for _, want := range []string{"Hi Ann Example", "Dear Ann Example,\nyour address is ann@example.com.\n&lt;b&gt;x&lt;/b&gt;"} {
		if !strings.Contains(preview, want) {
			t.Errorf("preview lacks %q:\n%s", want, preview)
		}
	}
	if strings.Contains(preview, "{{.Name}}") {
		t.Errorf("preview shows the placeholder unrendered:\n%s", preview)
	}
	// The page still shows the message as written.
	if !strings.Contains(v.Body, "Hi {{.Name}}") {
		t.Error("the view lost the subject as written")
	}
}

func TestMessagePreviewOfABrokenLegacyTemplateShowsTheError(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "legacy@example.com", false)
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, "legacy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Stored directly, as a row from before templates were checked: Validate would refuse it.
	msg := &mailing.Message{OwnerID: u.ID, Subject: "Legacy", SubjectLC: "legacy", Body: "Hello {{.Nope}}"}
	if err := srv.App.Store.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	v := a.get("/messages/" + strconvFormat(msg.ID))
	if v.StatusCode != 200 || !strings.Contains(v.Body, `id="preview"`) {
		t.Fatalf("view of a broken template: %d %.1000s", v.StatusCode, v.Body)
	}
	if !strings.Contains(v.Body, "cannot be rendered") || !strings.Contains(v.Body, "Nope") {
		t.Fatalf("preview does not show the template error: %.2000s", v.Body)
	}
}

func TestMessageWithAnInvalidTemplateIsRefusedInPlace(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "tpl@example.com", false)
	// The error names the line it is on (all of these are on the first).
	const wantMsg = "Template error on line 1:"
	for _, body := range []string{"Hello {{.Nope}}", "Hello {{.Name", "{{range}}"} {
		r := a.post("/messages/new", url.Values{"subject": {"Template"}, "body": {body}}, "HX-Request", "true")
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, wantMsg) ||
			!strings.Contains(r.Body, `id="e-body"`) || strings.Contains(r.Body, "<html") {
			t.Fatalf("htmx body %q: %d %.800s", body, r.StatusCode, r.Body)
		}
		r = a.post("/messages/new", url.Values{"subject": {"Template"}, "body": {body}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, wantMsg) || !strings.Contains(r.Body, "<html") {
			t.Fatalf("plain body %q: %d %.800s", body, r.StatusCode, r.Body)
		}
	}
	r := a.post("/messages/new", url.Values{"subject": {"Hi {{.Nope}}"}, "body": {"fine"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, wantMsg) {
		t.Fatalf("htmx subject with a bad field: %d %.800s", r.StatusCode, r.Body)
	}
	if r := a.get("/messages"); !strings.Contains(r.Body, "No messages yet") {
		t.Fatalf("a message with an invalid template was saved: %.800s", r.Body)
	}

	// Editing is held to the same rule and leaves the message as it was.
	a.post("/messages/new", url.Values{"subject": {"Good"}, "body": {"Hi {{.Name}}"}})
	id := createdID(t, a.get("/messages").Body, "messages")
	r = a.post("/messages/"+id+"/edit", url.Values{"subject": {"Good"}, "body": {"Hi {{.Name"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, wantMsg) || !strings.Contains(r.Body, `id="e-body"`) {
		t.Fatalf("edit with an invalid template: %d %.800s", r.StatusCode, r.Body)
	}
	if v := a.get("/messages/" + id); !strings.Contains(v.Body, "Hi Ann Example") {
		t.Fatal("the refused edit changed the message")
	}
}

// The live preview changes size as the user types and is refreshed by the change event a
// click on Save fires: it sits below the form's buttons (inside the form, whose fields it
// renders), so it never moves Save between the press and the release of a click. Above
// them it did, and the browser test lost its click on Save.
func TestTheLivePreviewIsBelowTheSaveButton(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	body := a.get("/messages/new").Body
	save, preview := strings.Index(body, `<button type="submit">`), strings.Index(body, `id="live-preview"`)
	if save < 0 || preview < 0 || save > preview || strings.Contains(body[save:preview], "</form>") {
		t.Fatalf("Save at %d, the live preview at %d: want the preview after Save, in the same form", save, preview)
	}
}

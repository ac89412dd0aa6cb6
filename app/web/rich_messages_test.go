package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// messageID finds the id of the message with subject in the owner's list.
func messageIDBySubject(t *testing.T, srv *testutil.Server, owner, subject string) int64 {
	t.Helper()
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	page, err := srv.App.Store.ListMessages(ctx, mailing.Scope{UserID: u.ID}, mailing.ListParams{Q: subject, Limit: 10})
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("message %q of %s: %v", subject, owner, err)
	}
	return page.Items[0].ID
}

var iframeTag = regexp.MustCompile(`<iframe[^>]*>`)

func TestAMarkdownMessageInTheDefaultLayoutPreviewsInASandboxedFrame(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	other := account(t, srv, "other@example.com", false)
	mgr := account(t, srv, "boss@example.com", true)

	r := a.post("/messages/new", url.Values{"subject": {"Spring for {{.Name}}"}, "format": {"markdown"}, "layout_id": {"default"},
		"body": {"# Hello {{.Name}}\n\nOur **spring** news.\n\n<script>parent.document.title='pwned'</script>\n"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.600s", r.StatusCode, r.Body)
	}
	id := messageIDBySubject(t, srv, "writer@example.com", "spring for")
	msg, err := srv.App.Store.MessageByID(context.Background(), mailing.Scope{All: true}, id)
	if err != nil || msg.Format != mailing.FormatMarkdown || msg.LayoutID == nil {
		t.Fatalf("saved message: %+v %v", msg, err)
	}
	if l := a.get("/layouts"); !strings.Contains(l.Body, ">Default</a>") {
		t.Fatalf("choosing the default layout saved no copy of it: %.800s", l.Body)
	}

	path := "/messages/" + itoa(id)
	page := a.get(path)
	frames := iframeTag.FindAllString(page.Body, -1)
	if page.StatusCode != 200 || len(frames) != 2 {
		t.Fatalf("message page: %d, frames %q", page.StatusCode, frames)
	}
	for _, f := range frames {
		if !strings.Contains(f, `sandbox=""`) || strings.Contains(f, "allow-") || !strings.Contains(f, `src="`+path+`/preview"`) {
			t.Fatalf("preview frame %s is not sandboxed without allowances", f)
		}
	}
	if !strings.Contains(page.Body, `id="preview-subject">Spring for Ann Example<`) || !strings.Contains(page.Body, "Hello Ann Example") {
		t.Fatalf("the preview lacks the subject or the text part: %.2000s", page.Body)
	}
	if strings.Contains(page.Body, "<script>parent.document") {
		t.Fatal("the body's script stands in the app's page")
	}

	html := a.get(path + "/preview")
	csp := html.Header.Get("Content-Security-Policy")
	if html.StatusCode != 200 || !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Fatalf("preview HTML: %d CSP %q", html.StatusCode, csp)
	}
	if !strings.Contains(html.Body, "<h1") || !strings.Contains(html.Body, "Hello Ann Example</h1>") || !strings.Contains(html.Body, `role="presentation"`) {
		t.Fatalf("preview HTML is not the message in the default layout: %.1500s", html.Body)
	}
	if r := other.get(path + "/preview"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's preview: %d", r.StatusCode)
	}
	if r := mgr.get(path + "/preview"); r.StatusCode != 200 || r.Header.Get("Content-Security-Policy") != csp {
		t.Fatalf("a manager's preview: %d %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
}

func TestATemplateErrorOnTheFormNamesItsLine(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	r := a.post("/messages/new", url.Values{"subject": {"Hi"}, "format": {"markdown"}, "body": {"# Title\n\nfine\n\nHello {{.Nmae}}\n"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Template error on line 5") || !strings.Contains(r.Body, "Nmae") {
		t.Fatalf("bad template: %d %.1500s", r.StatusCode, r.Body)
	}
	a.post("/lang", url.Values{"lang": {"ru"}, "next": {"/"}})
	r = a.post("/messages/new", url.Values{"subject": {"Hi"}, "format": {"html"}, "body": {"<p>\n{{.Name</p>"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Ошибка шаблона в строке 2") {
		t.Fatalf("bad template in Russian: %d %.1500s", r.StatusCode, r.Body)
	}
}

func TestALiveDraftPreviewIsItsAuthorsAlone(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	other := account(t, srv, "other@example.com", false)
	r := a.post("/messages/preview", url.Values{"subject": {"Draft {{.Name}}"}, "format": {"html"}, "body": {"<p>Draft for <b>{{.Name}}</b></p>"}},
		"HX-Request", "true")
	m := regexp.MustCompile(`src="(/messages/preview/[A-Za-z0-9_-]{43})"`).FindStringSubmatch(r.Body)
	if r.StatusCode != 200 || m == nil || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Draft Ann Example") {
		t.Fatalf("draft preview: %d %.1500s", r.StatusCode, r.Body)
	}
	if got := a.get(m[1]); got.StatusCode != 200 || !strings.Contains(got.Body, "Draft for <b>Ann Example</b>") ||
		!strings.HasPrefix(got.Header.Get("Content-Security-Policy"), "sandbox;") {
		t.Fatalf("the author's draft HTML: %d %q %.500s", got.StatusCode, got.Header.Get("Content-Security-Policy"), got.Body)
	}
	if got := other.get(m[1]); got.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's view of the draft: %d", got.StatusCode)
	}
	// An error is shown in the preview, in place of the mail.
	r = a.post("/messages/preview", url.Values{"subject": {"x"}, "format": {"html"}, "body": {"a\n{{.Nope}}"}}, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "line 2") || strings.Contains(r.Body, "<iframe") {
		t.Fatalf("preview of a broken draft: %d %.800s", r.StatusCode, r.Body)
	}
}

func TestATestSendReachesOnlyTheUserAndLeavesNoRun(t *testing.T) {
	srv, sink := smtpServer(t, map[string]string{"RATE_LIMIT_TEST_SEND": "2/1h"})
	a := account(t, srv, "writer@example.com", false)
	id := mailingFor(t, srv, "writer@example.com", 3)
	ml, err := srv.App.Store.MailingByID(context.Background(), mailing.Scope{All: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	path := "/messages/" + itoa(ml.MessageID)
	if r := a.post(path+"/edit", url.Values{"subject": {"News for {{.Name}}"}, "format": {"markdown"},
		"body": {"Hello **{{.Name}}**, at {{.Email}}"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %.500s", r.StatusCode, r.Body)
	}
	r := a.post(path+"/test", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("test send: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	got := sink.WaitFor(t, 1, 10*time.Second)[0]
	if len(got.To) != 1 || got.To[0] != "writer@example.com" || got.Subject != "[Test] News for Ann Example" ||
		got.ContentType != "multipart/alternative" || !strings.Contains(got.HTML, "<strong>Ann Example</strong>") ||
		!strings.Contains(got.Text, "Hello Ann Example, at writer@example.com") {
		t.Fatalf("test mail: to %v subject %q type %q\nhtml %s\ntext %s", got.To, got.Subject, got.ContentType, got.HTML, got.Text)
	}
	if v := a.get(path); !strings.Contains(v.Body, "A test was sent to writer@example.com.") {
		t.Fatal("no flash after the test send")
	}
	if _, err := srv.App.Store.LatestRun(context.Background(), id); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("a test send made a run: %v", err)
	}
	st, err := srv.App.Store.Stats(context.Background(), mailing.StatsFilter{Scope: mailing.Scope{All: true},
		From: srv.Clock.Now().AddDate(0, 0, -1), To: srv.Clock.Now().AddDate(0, 0, 1)})
	if err != nil || st.Success+st.Failure != 0 {
		t.Fatalf("a test send counted in statistics: %+v %v", st, err)
	}

	// Rate-limited: the second is sent, the third refused with a message.
	a.post(path+"/test", nil)
	a.post(path+"/test", nil)
	if v := a.get(path); !strings.Contains(v.Body, "Too many attempts") {
		t.Fatalf("the third test send was not refused: %.1500s", v.Body)
	}
	if n := sink.Count(); n != 2 {
		t.Fatalf("sink got %d test mails, want 2", n)
	}
	other := account(t, srv, "other@example.com", false)
	if r := other.post(path+"/test", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's test send: %d", r.StatusCode)
	}
}

func TestALayoutAMessageUsesStays(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	if r := a.post("/layouts/new", url.Values{"name": {"Plain frame"}, "html": {"<html><body><main>{{.Content}}</main></body></html>"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create layout: %d %.800s", r.StatusCode, r.Body)
	}
	list := a.get("/layouts")
	lid := createdID(t, list.Body, "layouts")
	if r := a.post("/layouts/new", url.Values{"name": {"Broken"}, "html": {"<p>no slot</p>"}}); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, "exactly once") {
		t.Fatalf("a layout without {{.Content}}: %d", r.StatusCode)
	}
	if r := a.post("/messages/new", url.Values{"subject": {"Framed"}, "format": {"html"}, "layout_id": {lid}, "body": {"<p>Hi {{.Name}}</p>"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("message in the layout: %d %.800s", r.StatusCode, r.Body)
	}
	r := a.post("/layouts/"+lid+"/delete", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/layouts/"+lid {
		t.Fatalf("delete of a used layout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if v := a.get("/layouts/" + lid); v.StatusCode != 200 || !strings.Contains(v.Body, "a message uses it") {
		t.Fatalf("after the refused delete: %d %.800s", v.StatusCode, v.Body)
	}
	if p := a.get("/layouts/" + lid + "/preview"); p.StatusCode != 200 || !strings.Contains(p.Body, "<main><h1>A sample headline</h1>") {
		t.Fatalf("layout preview: %d %.800s", p.StatusCode, p.Body)
	}
}

func TestHTMLPastGmailsClipSavesWithAWarning(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "writer@example.com", false)
	big := "<p>" + strings.Repeat("Lorem ipsum dolor sit amet. ", 4000) + "</p>"
	if r := a.post("/messages/new", url.Values{"subject": {"Big"}, "format": {"html"}, "body": {big}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	if l := a.get("/messages"); !strings.Contains(l.Body, "over 102 KB") {
		t.Fatal("no warning for HTML past 102 KiB")
	}
	huge := strings.Repeat("x", mailing.MaxBody+1)
	if r := a.post("/messages/new", url.Values{"subject": {"Huge"}, "format": {"html"}, "body": {huge}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a body over 512 KiB: %d", r.StatusCode)
	}
}

func TestRecipientsGetStyledHTMLWithAReadableTextPart(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL(), "MAIL_FROM": "ACME News <news@acme.example>"}})
	a := account(t, srv, "sender@example.com", false)
	if r := a.post("/clients/new", url.Values{"email": {"ann@example.com"}, "full_name": {"<b>Ann</b>"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("client: %d", r.StatusCode)
	}
	if r := a.post("/messages/new", url.Values{"subject": {"Spring for {{.Name}}"}, "format": {"markdown"}, "layout_id": {"default"},
		"body": {"# Hello {{.Name}}\n\nRead [the programme](https://acme.example/spring).\n"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("message: %d %.500s", r.StatusCode, r.Body)
	}
	msgID := messageIDBySubject(t, srv, "sender@example.com", "spring")
	now := srv.Clock.Now()
	if r := a.post("/mailings/new", url.Values{"message_id": {itoa(msgID)}, "all_clients": {"1"}, "period": {"none"},
		"start_at": {now.Add(24 * time.Hour).Format("2006-01-02T15:04")}, "end_at": {now.Add(48 * time.Hour).Format("2006-01-02T15:04")}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("mailing: %d %.800s", r.StatusCode, r.Body)
	}
	id := createdID(t, a.get("/mailings").Body, "mailings")
	if r := a.post("/mailings/"+id+"/send", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", r.StatusCode)
	}
	got := sink.WaitFor(t, 1, 20*time.Second)[0]
	if got.ContentType != "multipart/alternative" || got.Subject != "Spring for <b>Ann</b>" {
		t.Fatalf("mail type %q subject %q", got.ContentType, got.Subject)
	}
	for _, want := range []string{"Hello &lt;b&gt;Ann&lt;/b&gt;</h1>", `role="presentation"`, "ACME News", "style=\"", "/unsubscribe/"} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, got.HTML)
		}
	}
	if strings.Contains(got.HTML, "<b>Ann</b>") {
		t.Error("the name arrived as markup")
	}
	for _, want := range []string{"Hello <b>Ann</b>", "Read the programme (https://acme.example/spring).", "Unsubscribe (http"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, got.Text)
		}
	}
	if strings.Contains(got.Text, "<h1") || strings.Contains(got.Text, "<td") {
		t.Errorf("markup in the text part:\n%s", got.Text)
	}
}

package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"mailer/app/testutil"
)

// upload posts a multipart form with content as the file field (none when filename is
// empty) and the CSRF token unless withCSRF is false.
func (b *browser) upload(path, filename string, content []byte, withCSRF bool) response {
	b.t.Helper()
	if b.csrf == "" {
		b.get("/login")
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if withCSRF {
		mw.WriteField("_csrf", b.csrf) //nolint:errcheck // in-memory buffer
	}
	if filename != "" {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			b.t.Fatal(err)
		}
		fw.Write(content) //nolint:errcheck // in-memory buffer
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// previewToken returns the import token a preview page carries.
func previewToken(t *testing.T, r response) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no import token in preview (%d): %.1500s", r.StatusCode, r.Body)
	}
	return m[1]
}

// importCSV uploads content, checks the preview and commits it.
func importCSV(t *testing.T, b *browser, content string) response {
	t.Helper()
	r := b.upload("/clients/import", "clients.csv", []byte(content), true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %.1500s", r.StatusCode, r.Body)
	}
	c := b.post("/clients/import/commit", url.Values{"token": {previewToken(t, r)}})
	if c.StatusCode != http.StatusSeeOther || c.Header.Get("Location") != "/clients" {
		t.Fatalf("commit: %d %s %.500s", c.StatusCode, c.Header.Get("Location"), c.Body)
	}
	return r
}

// count returns the number a preview shows in the summary cell with id.
func count(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `">(\d+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s count in %.1500s", id, body)
	}
	return m[1]
}

// previewLine returns the table row of one file line in a preview.
func previewLine(t *testing.T, body string, line int) string {
	t.Helper()
	start := strings.Index(body, fmt.Sprintf(`<tr id="line-%d">`, line))
	if start < 0 {
		t.Fatalf("no line %d in preview", line)
	}
	rest := body[start:]
	return html.UnescapeString(rest[:strings.Index(rest, "</tr>")])
}

// exported downloads the user's clients as sorted (email, name, comment) triples; the
// tags column is the audience tests' business.
func exported(t *testing.T, b *browser) (string, [][]string) {
	t.Helper()
	r := b.get("/clients/export.csv")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("export: %d %.300s", r.StatusCode, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("export Content-Type = %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="clients.csv"` {
		t.Errorf("export Content-Disposition = %q", cd)
	}
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, r.Body)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "email,full_name,comment,tags" {
		t.Fatalf("export header: %q", recs)
	}
	rows := recs[1:]
	for i := range rows {
		rows[i] = rows[i][:3]
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	return r.Body, rows
}

func TestCSVImportPreviewShowsErrorsPerLineThenCommits(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "importer@example.com", false)
	if r := a.post("/clients/new", url.Values{"email": {"existing@example.com"}, "full_name": {"Old Name"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	if r := a.get("/clients/import"); r.StatusCode != 200 || !strings.Contains(r.Body, `enctype="multipart/form-data"`) ||
		!strings.Contains(r.Body, `name="file"`) || !strings.Contains(r.Body, "10 MB") {
		t.Fatalf("import page: %d %.1500s", r.StatusCode, r.Body)
	}

	file := "email,full_name,comment\n" +
		"New1@Example.com,New One,c1\n" +
		"bad email,X,\n" +
		"\n" +
		"existing@example.com,Existing New,c2\n" +
		"new1@example.com,Dup,\n" +
		"\"quoted@example.com\",\"Petrov, Ivan\",\"multi\nline\"\n"
	r := a.upload("/clients/import", "clients.csv", []byte(file), true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %.1500s", r.StatusCode, r.Body)
	}
	for id, want := range map[string]string{"import-valid": "3", "import-create": "2", "import-update": "1", "import-invalid": "2"} {
		if got := count(t, r.Body, id); got != want {
			t.Errorf("%s = %s, want %s", id, got, want)
		}
	}
	if l := previewLine(t, r.Body, 3); !strings.Contains(l, "bad email") || !strings.Contains(l, `class="field-error"`) ||
		!strings.Contains(l, "Enter a valid email address.") {
		t.Errorf("line 3: %s", l)
	}
	if l := previewLine(t, r.Body, 6); !strings.Contains(l, "already on an earlier line") {
		t.Errorf("line 6 (duplicate): %s", l)
	}
	if l := previewLine(t, r.Body, 2); strings.Contains(l, "field-error") || !strings.Contains(l, "new1@example.com") {
		t.Errorf("line 2: %s", l)
	}
	if !strings.Contains(r.Body, "Import 3 clients") {
		t.Errorf("no commit button: %.1500s", r.Body)
	}
	// Nothing is saved by the preview.
	if _, rows := exported(t, a); len(rows) != 1 {
		t.Fatalf("preview saved clients: %v", rows)
	}

	c := a.post("/clients/import/commit", url.Values{"token": {previewToken(t, r)}})
	if c.StatusCode != http.StatusSeeOther || c.Header.Get("Location") != "/clients" {
		t.Fatalf("commit: %d %.500s", c.StatusCode, c.Body)
	}
	list := a.get("/clients")
	if !strings.Contains(list.Body, "Import finished: 2 created, 1 updated.") {
		t.Errorf("no flash: %.1500s", list.Body)
	}
	_, rows := exported(t, a)
	want := [][]string{
		{"existing@example.com", "Existing New", "c2"},
		{"new1@example.com", "New One", "c1"},
		{"quoted@example.com", "Petrov, Ivan", "multi\nline"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("clients after import:\n%q\nwant\n%q", rows, want)
	}

	// The token is good once.
	again := a.post("/clients/import/commit", url.Values{"token": {previewToken(t, r)}})
	if again.StatusCode != http.StatusGone || !strings.Contains(again.Body, "Upload the file again") {
		t.Fatalf("second commit: %d %.500s", again.StatusCode, again.Body)
	}
}

func TestCSVReimportWithChangedNameUpdates(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "reimport@example.com", false)
	importCSV(t, a, "a@example.com;Anna;one\nb@example.com;Boris;two\n")
	if r := a.get("/clients"); !strings.Contains(r.Body, "Import finished: 2 created, 0 updated.") {
		t.Fatalf("first import flash: %.1000s", r.Body)
	}
	p := importCSV(t, a, "a@example.com;Anna Karenina;one\nB@example.com;Boris;two\n")
	if count(t, p.Body, "import-update") != "2" || count(t, p.Body, "import-create") != "0" {
		t.Errorf("re-import preview counts wrong: %.1500s", p.Body)
	}
	if r := a.get("/clients"); !strings.Contains(r.Body, "Import finished: 0 created, 2 updated.") {
		t.Fatalf("second import flash: %.1000s", r.Body)
	}
	_, rows := exported(t, a)
	want := [][]string{{"a@example.com", "Anna Karenina", "one"}, {"b@example.com", "Boris", "two"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("after re-import: %q", rows)
	}
	if r := a.get("/clients?q=anna+k"); !strings.Contains(r.Body, "a@example.com") {
		t.Fatal("the updated name is not searchable")
	}
}

func TestCSVExportImportRoundTrip(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "source@example.com", false)
	for _, cl := range []url.Values{
		{"email": {"plain@example.com"}, "full_name": {"Plain"}},
		{"email": {"comma@example.com"}, "full_name": {"Petrov, Ivan"}, "comment": {`says "hi", often`}},
		{"email": {"newline@example.com"}, "full_name": {"Анна Иванова"}, "comment": {"line one\nline two; three"}},
		{"email": {"empty@example.com"}},
	} {
		if r := a.post("/clients/new", cl); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %v: %d", cl, r.StatusCode)
		}
	}
	body, rows := exported(t, a)
	if !strings.HasPrefix(body, "email,full_name,comment,tags\n") || len(rows) != 4 {
		t.Fatalf("export: %q", body)
	}

	// Another user's and a manager's exports hold their own clients only.
	b := account(t, srv, "target@example.com", false)
	if _, r := exported(t, b); len(r) != 0 {
		t.Fatalf("another user's export: %q", r)
	}
	m := account(t, srv, "boss@example.com", true)
	m.post("/clients/new", url.Values{"email": {"mine@example.com"}})
	if _, r := exported(t, m); len(r) != 1 || r[0][0] != "mine@example.com" {
		t.Fatalf("manager's export: %q", r)
	}

	importCSV(t, b, body)
	if _, got := exported(t, b); fmt.Sprint(got) != fmt.Sprint(rows) {
		t.Fatalf("round trip:\n%q\nwant\n%q", got, rows)
	}
	if _, again := exported(t, a); fmt.Sprint(again) != fmt.Sprint(rows) {
		t.Fatal("the source changed")
	}
}

func TestCSVImportOver10MBGivesAClearMessageAndSavesNothing(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "big@example.com", false)
	var big bytes.Buffer
	for i := 0; big.Len() <= 10_000_000; i++ {
		fmt.Fprintf(&big, "user%07d@example.com,Name %d,comment\n", i, i)
	}
	r := a.upload("/clients/import", "big.csv", big.Bytes(), true)
	if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "The file is larger than 10 MB") ||
		!strings.Contains(r.Body, `name="file"`) || tokenRE.MatchString(r.Body) {
		t.Fatalf("over 10 MB: %d %.1500s", r.StatusCode, r.Body)
	}
	// A body over the route's 10 MiB is refused by limitBody before any handler runs: that
	// is the generic error page (error.too_large), not the import form.
	for big.Len() <= 10<<20 {
		big.WriteString("filler@example.com,filler,filler\n")
	}
	r = a.upload("/clients/import", "bigger.csv", big.Bytes(), true)
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("over 10 MiB: %d %.500s", r.StatusCode, r.Body)
	}
	if _, rows := exported(t, a); len(rows) != 0 {
		t.Fatalf("saved %d clients", len(rows))
	}
	keys, err := srv.App.Redis.Client.Keys(context.Background(), "mailer:import:*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("import keys left: %v %v", keys, err)
	}
}

func TestCSVImportFormErrors(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "forms@example.com", false)
	a.get("/clients/import")
	for _, tt := range []struct {
		name, filename, content, want string
	}{
		{"no file", "", "", "Choose a CSV file to upload."},
		{"empty file", "empty.csv", "", "The file is empty."},
		{"header only", "h.csv", "email,full_name,comment\n\n", "The file has no clients in it."},
		{"bad quotes", "q.csv", "a@example.com,A\nb@example.com,\"broken\n", "Line 2 is not valid CSV"},
		{"not utf-8", "cp1251.csv", "a@example.com,\xcf\xe5\xf2\xf0\n", "Line 1 is not UTF-8 text"},
	} {
		r := a.upload("/clients/import", tt.filename, []byte(tt.content), true)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), tt.want) ||
			!strings.Contains(r.Body, `enctype="multipart/form-data"`) {
			t.Errorf("%s: %d %.1500s", tt.name, r.StatusCode, r.Body)
		}
	}
	// A file with no valid line previews its errors but offers nothing to import.
	r := a.upload("/clients/import", "bad.csv", []byte("nope\nalso nope\n"), true)
	if r.StatusCode != http.StatusOK || tokenRE.MatchString(r.Body) || !strings.Contains(r.Body, "nothing to import") ||
		count(t, r.Body, "import-invalid") != "2" {
		t.Fatalf("all invalid: %d %.1500s", r.StatusCode, r.Body)
	}
}

func TestCSVImportUnknownOrForeignTokenAsksToUploadAgain(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "tok@example.com", false)
	for _, tok := range []string{"", "nonsense", strings.Repeat("A", 43), "../../x"} {
		r := a.post("/clients/import/commit", url.Values{"token": {tok}})
		if r.StatusCode != http.StatusGone || !strings.Contains(r.Body, "expired or has already been imported. Upload the file again.") {
			t.Errorf("token %q: %d %.800s", tok, r.StatusCode, r.Body)
		}
	}
	// A token is scoped to the user who uploaded.
	up := a.upload("/clients/import", "c.csv", []byte("x@example.com\n"), true)
	tok := previewToken(t, up)
	b := account(t, srv, "thief@example.com", false)
	if r := b.post("/clients/import/commit", url.Values{"token": {tok}}); r.StatusCode != http.StatusGone {
		t.Fatalf("another user's token: %d", r.StatusCode)
	}
	if _, rows := exported(t, b); len(rows) != 0 {
		t.Fatal("another user's token imported")
	}
	if r := a.post("/clients/import/commit", url.Values{"token": {tok}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's token after a foreign try: %d", r.StatusCode)
	}
}

func TestCSVImportNeedsCSRFToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "csrf@example.com", false)
	if r := a.upload("/clients/import", "c.csv", []byte("x@example.com\n"), false); r.StatusCode != http.StatusForbidden {
		t.Fatalf("upload without CSRF: %d", r.StatusCode)
	}
	up := a.upload("/clients/import", "c.csv", []byte("x@example.com\n"), true)
	tok := previewToken(t, up)
	if r := a.postRaw("/clients/import/commit", url.Values{"token": {tok}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("commit without CSRF: %d", r.StatusCode)
	}
	if r := a.postRaw("/clients/import/commit", url.Values{"token": {tok}, "_csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("commit with a wrong CSRF token: %d", r.StatusCode)
	}
}

// A refused request must not have run its handler. This fails while handleError (errors.go)
// calls securityHeaders, whose c.Next() resumes the handler chain after the refusing
// middleware: the commit then runs, saves the clients and burns the token behind a 403.
func TestCSVImportRefusedForCSRFSavesNothing(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "csrf2@example.com", false)
	up := a.upload("/clients/import", "c.csv", []byte("x@example.com\n"), true)
	tok := previewToken(t, up)
	if r := a.postRaw("/clients/import/commit", url.Values{"token": {tok}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("commit without CSRF: %d", r.StatusCode)
	}
	if _, rows := exported(t, a); len(rows) != 0 {
		t.Fatalf("a commit refused for CSRF saved clients: %q", rows)
	}
	if r := a.post("/clients/import/commit", url.Values{"token": {tok}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("commit with CSRF after a refused one: %d", r.StatusCode)
	}
}

func TestCSVExportNeedsSignIn(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	r := newBrowser(t, srv).get("/clients/export.csv")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous export: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

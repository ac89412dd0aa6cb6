package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/testutil"
)

// queryLog records the SQL the server runs, to tell whether a request touched the data.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (q *queryLog) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context { return ctx }
func (q *queryLog) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	q.mu.Lock()
	q.queries = append(q.queries, e.Query)
	q.mu.Unlock()
}

func (q *queryLog) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.queries
	q.queries = nil
	return out
}

func touching(queries []string, table string) int {
	n := 0
	for _, s := range queries {
		if strings.Contains(s, table) {
			n++
		}
	}
	return n
}

func TestUnchangedPageIs304WithoutItsQueries(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ql := &queryLog{}
	srv.App.Store.DB.AddQueryHook(ql)
	a := account(t, srv, "etag@example.com", false)
	mailingFor(t, srv, "etag@example.com", 3)

	ql.take()
	first := a.get("/")
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || etag == "" || !strings.Contains(first.Body, `id="count-mailings">1<`) {
		t.Fatalf("home: %d etag %q", first.StatusCode, etag)
	}
	if touching(ql.take(), "mailings") == 0 {
		t.Fatal("the full render ran no mailings query: the test cannot tell")
	}
	again := a.get("/", "If-None-Match", etag)
	if again.StatusCode != http.StatusNotModified || again.Body != "" {
		t.Fatalf("unchanged home: %d, want 304", again.StatusCode)
	}
	if n := touching(ql.take(), "mailings"); n != 0 {
		t.Fatalf("a 304 ran %d of the page's queries", n)
	}

	// A change to the user's data: a new ETag and the new figure.
	mailingFor(t, srv, "etag@example.com", 1)
	if r := a.get("/", "If-None-Match", etag); r.StatusCode != 200 || !strings.Contains(r.Body, `id="count-mailings">2<`) {
		t.Fatalf("after a change: %d", r.StatusCode)
	}
	// A change through the site bumps the version by itself.
	etag = a.get("/").Header.Get("ETag")
	a.post("/clients/new", url.Values{"email": {"new@example.com"}})
	if r := a.get("/", "If-None-Match", etag); r.StatusCode != 200 {
		t.Fatalf("after creating a client: %d, want 200", r.StatusCode)
	}
	// Another language is another page.
	etag = a.get("/").Header.Get("ETag")
	a.post("/lang", url.Values{"lang": {"ru"}, "next": {"/"}})
	if r := a.get("/", "If-None-Match", etag); r.StatusCode != 200 || !strings.Contains(r.Body, `lang="ru"`) {
		t.Fatalf("after a language switch: %d", r.StatusCode)
	}
	// A new session (new CSRF token) is another page.
	etag = a.get("/").Header.Get("ETag")
	b := newBrowser(t, srv)
	b.post("/login", url.Values{"email": {"etag@example.com"}, "password": {pw}})
	if r := b.get("/", "If-None-Match", etag); r.StatusCode != 200 {
		t.Fatalf("after signing in again: %d, want 200", r.StatusCode)
	}
	// The clock turning over changes pages whose statuses depend on it.
	etag = a.get("/").Header.Get("ETag")
	srv.Clock.Advance(2 * time.Minute)
	if r := a.get("/", "If-None-Match", etag); r.StatusCode != 200 {
		t.Fatalf("after the clock moved: %d, want 200", r.StatusCode)
	}
}

func TestHomeFiguresComeFromCacheAndAreNeverStale(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	a := account(t, srv, "cache@example.com", false)
	id := mailingFor(t, srv, "cache@example.com", 2)
	a.get("/")
	hits, _ := srv.App.Cache.Stats()
	if r := a.get("/"); !strings.Contains(r.Body, `id="count-running">0<`) {
		t.Fatal("running before sending")
	}
	if h, _ := srv.App.Cache.Stats(); h != hits+1 {
		t.Fatalf("second read: %d hits, want %d (served from the cache)", h, hits+1)
	}
	// Sending records attempts, which bump the owner's version: the figure moves at once.
	a.post("/mailings/"+itoa(id)+"/send", nil)
	sink.WaitFor(t, 2, 10*time.Second)
	testutil.Eventually(t, 10*time.Second, "the running figure", func() bool {
		return strings.Contains(a.get("/").Body, `id="count-running">1<`)
	})
	// Write, then read: the user's own new mailing is counted on the very next page.
	a.post("/messages/new", url.Values{"subject": {"S"}, "body": {"B"}})
	before := a.get("/").Body
	if !strings.Contains(before, `id="count-mailings">1<`) {
		t.Fatalf("mailings before: %.200s", before)
	}
	a.post("/clients/"+"0"+"/delete", nil) // a failed write still moves nothing wrong
	mailingFor(t, srv, "cache@example.com", 1)
	a.post("/lang", url.Values{"lang": {"en"}, "next": {"/"}}) // any write of the user bumps
	if r := a.get("/"); !strings.Contains(r.Body, `id="count-mailings">2<`) {
		t.Fatal("a stale figure after the user's own write")
	}
}

package web_test

import (
	"context"
	"github.com/hibiken/asynq"
	"net/http"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

func TestQueueMonitorIsForManagersAndChecksOrigin(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true})
	if r := newBrowser(t, srv).get("/manager/queues"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous: %d, want a redirect to sign in", r.StatusCode)
	}
	if r := account(t, srv, "user@example.com", false).get("/manager/queues"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("user: %d, want 403", r.StatusCode)
	}
	m := account(t, srv, "boss@example.com", true)
	r := m.get("/manager/queues")
	if r.StatusCode != 200 || !strings.Contains(strings.ToLower(r.Body), "asynq") {
		t.Fatalf("manager: %d %.200s", r.StatusCode, r.Body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'unsafe-inline'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("monitor CSP = %q", csp)
	}
	if csp := m.get("/").Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Fatal("the relaxed CSP leaked to other pages")
	}
	if r := m.get("/manager/queues/api/queues"); r.StatusCode != 200 {
		t.Fatalf("monitor API: %d", r.StatusCode)
	}
	// A task makes the default queue exist (a run id that does not exist is skipped).
	if err := srv.App.Queue.EnqueueRun(context.Background(), 999999, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Its API's unsafe requests need this site's Origin instead of the form token.
	pause := func(origin string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/manager/queues/api/queues/default:pause", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return m.do(req).StatusCode
	}
	if code := pause("http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d, want 403", code)
	}
	if code := pause(""); code != http.StatusForbidden {
		t.Fatalf("no origin: %d, want 403", code)
	}
	// The monitor is read-only: pausing a queue stops everyone's sending, which is beyond a
	// manager's oversight (finding 5: it answered 204 and paused the queue).
	if code := pause(srv.URL); code < 400 {
		t.Fatalf("same origin: %d, want the pause refused", code)
	}
	info, err := asynq.NewInspector(srv.App.Redis.ConnOpt()).GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if info.Paused {
		t.Fatal("a manager paused the default queue")
	}
}

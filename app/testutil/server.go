package testutil

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"mailer/app"
	"mailer/app/config"
	"mailer/app/mail"
	"mailer/app/tasks"
)

// Server is a real Mailer listening on a free port of 127.0.0.1.
type Server struct {
	URL   string
	App   *app.App
	Clock *Clock
	Logs  *LogBuffer
}

// ServerOptions change the server a test starts.
type ServerOptions struct {
	// Env overrides configuration variables (BASE_URL and ADDR are set by StartServer).
	Env map[string]string
	// Mail replaces the sender chosen from the configuration.
	Mail mail.Sender
	// Worker also runs the Asynq worker in the process.
	Worker bool
	// Redis replaces the test's own Redis (to make it fail on purpose, say).
	Redis *tasks.Redis
}

// Config loads a configuration for tests: a temporary DATA_DIR and a fixed secret key,
// with env applied over the defaults.
func Config(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	vars := map[string]string{
		"DATA_DIR":   t.TempDir(),
		"SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
		"LOG_LEVEL":  "debug",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// StartServer runs Mailer on a database and Redis of the test's own and stops it at cleanup.
func StartServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	env := map[string]string{"BASE_URL": url, "ADDR": ln.Addr().String()}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg := Config(t, env)
	clock := NewClock()
	log, logs := Logger(t)
	if opts.Redis == nil {
		opts.Redis = Redis(t)
	}
	a, err := app.Open(context.Background(), cfg, log, app.Options{
		Clock: clock,
		Store: DB(t, clock),
		Redis: opts.Redis,
		Mail:  opts.Mail,
	})
	if err != nil {
		ln.Close()
		t.Fatalf("open app: %v", err)
	}
	if opts.Worker {
		if err := a.StartWorker(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s")
		}
		a.Close()
	})
	return &Server{URL: url, App: a, Clock: clock, Logs: logs}
}

// Client returns an HTTP client with a cookie jar that does not follow redirects, so tests
// see each response as the browser would receive it.
func (s *Server) Client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CSRFToken extracts the token from a page's <meta name="csrf-token">.
func CSRFToken(html string) string {
	const marker = `name="csrf-token" content="`
	i := strings.Index(html, marker)
	if i < 0 {
		return ""
	}
	rest := html[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

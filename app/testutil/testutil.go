// Package testutil is the contract every Mailer test uses to reach real parts: a database
// (a temporary SQLite file, or a PostgreSQL schema of its own when TEST_DATABASE_URL is set),
// Redis (embedded, or a database number of its own when TEST_REDIS_URL is set), a clock the
// test moves, a running server on a free port, and headless Chromium.
//
// REQUIRE_SERVICES=1 makes a missing PostgreSQL or Redis a failure instead of a fallback;
// REQUIRE_BROWSER=1 does the same for Chromium. CI sets both.
package testutil

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"
)

// Clock is a clock the test controls. It starts at a fixed instant so results do not depend
// on the day the test runs.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to 2026-01-05 09:00 UTC (a Monday).
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// RequireServices reports whether a test must fail rather than skip or fall back when a
// real service is not configured.
func RequireServices() bool { return os.Getenv("REQUIRE_SERVICES") == "1" }

// RequireBrowser reports whether browser tests must fail rather than skip.
func RequireBrowser() bool { return os.Getenv("REQUIRE_BROWSER") == "1" }

// LogBuffer collects log output for assertions and prints it when the test fails.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level logger whose output is kept in the returned buffer and shown
// when the test fails.
func Logger(t testing.TB) (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log output:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

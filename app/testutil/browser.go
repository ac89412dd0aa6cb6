package testutil

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumPaths: Debian's real binary first; the /usr/bin wrapper prints a harmless error.
var chromiumPaths = []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}

// Browser starts headless Chromium for the test and returns a context for chromedp.Run.
// Without Chromium the test is skipped, or fails under REQUIRE_BROWSER=1.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := ""
	for _, p := range chromiumPaths {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if RequireBrowser() {
			t.Fatal("REQUIRE_BROWSER=1 but Chromium is not installed (apt-get install chromium)")
		}
		t.Skip("Chromium is not installed; set REQUIRE_BROWSER=1 to make this a failure")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// No timeout on this context: cancelling the first chromedp context kills the browser.
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

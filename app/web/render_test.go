package web

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/config"
	"mailer/app/i18n"
)

// newBareServer builds a Server whose app has only the page middleware and the given
// handler, to test render without a database.
func newBareServer(t *testing.T, h func(s *Server, c *fiber.Ctx) error) *fiber.App {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		if k == "SECRET_KEY" {
			return "render-test-secret-0123456789abcdefghij"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load(config.Languages)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Deps: Deps{Config: cfg, Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	s.app = fiber.New(fiber.Config{ErrorHandler: s.handleError})
	s.app.Use(s.pageState)
	s.app.All("/x", func(c *fiber.Ctx) error { return h(s, c) })
	return s.app
}

func TestFlashReachesHTMXPartialOutOfBand(t *testing.T) {
	app := newBareServer(t, func(srv *Server, c *fiber.Ctx) error {
		srv.flash(c, "success", "flash.language_changed")
		return srv.render(c, View{Title: "t", Content: templ.Raw("<p>full</p>"), Partial: templ.Raw("<form>part</form>")})
	})
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("HX-Request", "true")
	resp, err := app.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	b := string(body)
	if strings.Contains(b, "<html") || !strings.Contains(b, "<form>part</form>") {
		t.Fatalf("want the partial alone, got %s", b)
	}
	if !strings.Contains(b, `id="flashes"`) || !strings.Contains(b, `hx-swap-oob="true"`) || !strings.Contains(b, "Language changed.") {
		t.Fatalf("flash not swapped out of band: %s", b)
	}
	if resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), cookieFlash+"=") &&
		!strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") && !strings.Contains(resp.Header.Get("Set-Cookie"), "max-age=-1") {
		t.Fatalf("a shown flash must not be kept for the next page: %s", resp.Header.Get("Set-Cookie"))
	}
}

func TestFlashSurvivesRedirectAndShowsOnce(t *testing.T) {
	app := newBareServer(t, func(srv *Server, c *fiber.Ctx) error {
		if c.Method() == "POST" {
			srv.flash(c, "success", "flash.language_changed")
			return c.Redirect("/x", fiber.StatusSeeOther)
		}
		return srv.render(c, View{Title: "t", Content: templ.Raw("<p>full</p>")})
	})
	resp, err := app.Test(httptest.NewRequest("POST", "/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	var flashCookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieFlash {
			flashCookie = ck.Value
		}
	}
	if flashCookie == "" {
		t.Fatal("redirect did not keep the flash")
	}
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Cookie", cookieFlash+"="+flashCookie)
	resp, _ = app.Test(req)
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "Language changed.") {
		t.Fatalf("flash not shown after redirect: %s", body)
	}
	cleared := false
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieFlash && ck.Value == "" {
			cleared = true
		}
	}
	if !cleared {
		t.Fatal("flash cookie not cleared once shown")
	}
	// A tampered cookie shows nothing.
	req = httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Cookie", cookieFlash+"="+flashCookie+"x")
	resp, _ = app.Test(req)
	body, _ = io.ReadAll(resp.Body)
	if strings.Contains(string(body), "Language changed.") {
		t.Fatal("a tampered flash cookie was trusted")
	}
}

func TestLocalPathRefusesOtherSites(t *testing.T) {
	for next, want := range map[string]string{
		"/mailings?page=2":      "/mailings?page=2",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"":                      "/",
		"javascript:alert(1)":   "/",
	} {
		if got := localPath(next, "/"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}

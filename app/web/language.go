package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// switchLanguage remembers the chosen language in a cookie and returns to the page the user was on.
func (s *Server) switchLanguage(c *fiber.Ctx) error {
	lang := c.FormValue("lang")
	if !s.Catalog.Supported(lang) {
		return fiber.ErrBadRequest
	}
	s.setCookie(c, cookieLang, lang, 365*24*time.Hour)
	return c.Redirect(localPath(c.FormValue("next"), "/"), fiber.StatusSeeOther)
}

// localPath returns next when it is a path on this site, else fallback, so a crafted link
// cannot send a user elsewhere after an action. No control character is let through:
// browsers drop tabs and line breaks anywhere in a URL ("/\t/evil.example" goes to
// //evil.example), and none may stand in the Location header (NUL or DEL did, FuzzLocalPath).
func localPath(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsFunc(next, isControl) {
		return fallback
	}
	return next
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

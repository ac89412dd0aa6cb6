package web

import (
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
	return s.redirect(c, localPath(c.FormValue("next"), "/"))
}

package web

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"

	"github.com/gofiber/fiber/v2"

	"mailer/views/viewctx"
)

// CSRF: a random seed in an HttpOnly cookie, and a token that is its HMAC under SECRET_KEY.
// No server-side state, so any web process can check a token another one issued.
func validSeed(seed string) bool {
	b, err := base64.RawURLEncoding.DecodeString(seed)
	return err == nil && len(b) == 32
}

func (s *Server) newCSRFSeed(c *fiber.Ctx) string {
	buf := make([]byte, 32)
	rand.Read(buf)
	seed := base64.RawURLEncoding.EncodeToString(buf)
	s.setCookie(c, cookieCSRF, seed, 0)
	c.Request().Header.SetCookie(cookieCSRF, seed)
	if p, ok := c.Locals(localPage).(*viewctx.Page); ok {
		p.CSRF = s.csrfToken(seed)
	}
	return seed
}

func (s *Server) csrfToken(seed string) string { return s.sign("csrf|" + seed) }

// checkCSRF refuses every unsafe request without the token, as a form field or the header
// HTMX sends.
func (s *Server) checkCSRF(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if isUnsubscribePath(c.Path()) {
		return c.Next() // checked by its signed token instead
	}
	if isSubscribePath(c.Path()) {
		return c.Next() // public forms posted from other sites: see isSubscribePath
	}
	if isQueuesPath(c.Path()) {
		if !s.sameOrigin(c) {
			return errCSRF
		}
		return c.Next()
	}
	token := c.Get("X-CSRF-Token")
	if token == "" {
		token = c.FormValue("_csrf")
	}
	want := page(c).CSRF
	if token == "" || !hmac.Equal([]byte(token), []byte(want)) {
		return errCSRF
	}
	return c.Next()
}

var errCSRF = fiber.NewError(fiber.StatusForbidden, "csrf")

package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Cookie names. The session cookie arrives with accounts; these serve anonymous pages too.
const (
	cookieSession = "mailer_session"
	cookieLang    = "mailer_lang"
	cookieCSRF    = "mailer_csrf"
	cookieFlash   = "mailer_flash"
)

// setCookie writes a cookie with the defaults every Mailer cookie shares; maxAge 0 means
// for the browser session.
func (s *Server) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration) {
	ck := &fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
		Secure:   s.Config.Secure(),
	}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge.Seconds())
	}
	c.Cookie(ck)
}

func (s *Server) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(1, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: s.Config.Secure()})
}

// sign is an HMAC of payload under SECRET_KEY: what the browser keeps (flashes, the CSRF
// token, the OAuth state) comes back unchanged or not at all.
func (s *Server) sign(payload string) string {
	m := hmac.New(sha256.New, s.Config.SecretKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

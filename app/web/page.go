package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/i18n"
	"mailer/views/viewctx"
)

// Cookie names. The session cookie arrives with accounts; these serve anonymous pages too.
const (
	cookieLang  = "mailer_lang"
	cookieCSRF  = "mailer_csrf"
	cookieFlash = "mailer_flash"

	localPage     = "page"
	localNewFlash = "flash_new"
	localRendered = "flash_rendered"
)

// pageState prepares what every page needs: the language, the CSRF token and pending flashes.
// After the handler it keeps flashes that were not shown for the next page.
func (s *Server) pageState(c *fiber.Ctx) error {
	u := s.loadUser(c)
	chosen := c.Cookies(cookieLang)
	if chosen == "" && u != nil {
		chosen = u.Language
	}
	lang := s.Catalog.Negotiate(chosen, c.Get(fiber.HeaderAcceptLanguage), s.Config.DefaultLanguage)

	csrfSeed := c.Cookies(cookieCSRF)
	if !validSeed(csrfSeed) {
		csrfSeed = s.newCSRFSeed(c)
	}
	p := &viewctx.Page{
		Lang:      lang,
		Languages: s.catalogLanguages(),
		CSRF:      s.csrfToken(csrfSeed),
		RequestID: requestIDOf(c),
		Path:      string(c.Request().URI().RequestURI()),
		ShowNav:   true,
		User:      viewUser(u),
		TZ:        s.Config.DefaultTimezone,
	}
	if u != nil && u.Timezone != "" {
		if loc, err := time.LoadLocation(u.Timezone); err == nil {
			p.TZ = loc
		}
	}
	var stored []viewctx.Flash
	if v := c.Cookies(cookieFlash); v != "" {
		stored = s.readFlashes(v)
	}
	p.Flashes = stored
	c.Locals(localPage, p)
	c.SetUserContext(viewctx.With(i18n.WithLocalizer(c.UserContext(), s.Catalog.For(lang)), p))

	err := c.Next()

	// Flashes shown on this response are done; those not shown (a redirect) wait in a cookie.
	if rendered, _ := c.Locals(localRendered).(bool); rendered {
		if len(stored) > 0 {
			s.clearCookie(c, cookieFlash)
		}
	} else if len(p.Flashes) > len(stored) {
		s.setCookie(c, cookieFlash, s.signFlashes(p.Flashes), 0)
	}
	return err
}

func (s *Server) catalogLanguages() []string { return []string{"en", "ru"} }

func page(c *fiber.Ctx) *viewctx.Page {
	if p, ok := c.Locals(localPage).(*viewctx.Page); ok {
		return p
	}
	return &viewctx.Page{Lang: "en"}
}

// t translates in the request's language.
func (s *Server) t(c *fiber.Ctx, id string, data ...any) string {
	return i18n.T(c.UserContext(), id, data...)
}

// flash queues a message for the next page the user sees: this response if it renders, the
// next one after a redirect.
func (s *Server) flash(c *fiber.Ctx, kind, msgID string, data ...any) {
	p := page(c)
	p.Flashes = append(p.Flashes, viewctx.Flash{Kind: kind, Text: s.t(c, msgID, data...)})
}

func (s *Server) sign(payload string) string {
	m := hmac.New(sha256.New, s.Config.SecretKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) signFlashes(f []viewctx.Flash) string {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.sign("flash|"+payload)
}

func (s *Server) readFlashes(v string) []viewctx.Flash {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign("flash|"+payload))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var f []viewctx.Flash
	if json.Unmarshal(b, &f) != nil || len(f) > 10 {
		return nil
	}
	return f
}

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

func withLanguage(ctx context.Context, l *i18n.Localizer) context.Context {
	return i18n.WithLocalizer(ctx, l)
}

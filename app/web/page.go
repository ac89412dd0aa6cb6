package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/i18n"
	"mailer/views/viewctx"
)

const (
	localPage     = "page"
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

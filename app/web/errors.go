package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/i18n"
	"mailer/app/mailing"
	"mailer/views/pages"
	"mailer/views/viewctx"
)

// handleError is the single place where an error becomes an HTTP status and a page. Details
// of unexpected errors go to the log with the request id; the user sees the id only.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if isAPIPath(c.Path()) {
		return s.apiProblem(c, err) // JSON problem documents, never a page
	}
	status, msgID := fiber.StatusInternalServerError, "error.internal"
	var fe *fiber.Error
	switch {
	case errors.Is(err, errCSRF):
		status, msgID = fiber.StatusForbidden, "error.csrf"
	case errors.As(err, &fe):
		status = fe.Code
		msgID = statusMessage(fe.Code)
	default:
		switch mailing.ErrorCode(err) {
		case mailing.ENOTFOUND:
			status, msgID = fiber.StatusNotFound, "error.not_found"
		case mailing.EFORBIDDEN:
			status, msgID = fiber.StatusForbidden, "error.forbidden"
		case mailing.EINVALID, mailing.ECONFLICT:
			status, msgID = fiber.StatusUnprocessableEntity, "error.bad_request"
		case mailing.ERATELIMIT:
			status, msgID = fiber.StatusTooManyRequests, "error.rate_limited"
		case mailing.EUNAUTHORIZED:
			return s.redirect(c, "/login")
		}
	}
	if status >= 500 {
		s.Log.Error("request failed", "request_id", requestIDOf(c), "method", c.Method(),
			"path", loggablePath(c), "err", err)
	}
	c.Response().Reset()
	c.Set("X-Request-ID", requestIDOf(c))
	setSecurityHeaders(c)
	s.ensurePageState(c)
	// HTMX does not swap error responses into the target: a partial shows the message in
	// the flash region instead.
	return s.render(c, View{
		Title:    s.t(c, msgID),
		Content:  pages.Error(status, s.t(c, msgID)),
		Partial:  pages.ErrorFlash(s.t(c, msgID)),
		Status:   status,
		Retarget: "#flashes",
		Reswap:   "innerHTML",
	})
}

func statusMessage(code int) string {
	switch code {
	case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
		return "error.not_found"
	case fiber.StatusForbidden:
		return "error.forbidden"
	case fiber.StatusRequestEntityTooLarge:
		return "error.too_large"
	case fiber.StatusTooManyRequests:
		return "error.rate_limited"
	case fiber.StatusServiceUnavailable:
		return "error.unavailable"
	}
	if code >= 400 && code < 500 {
		return "error.bad_request"
	}
	return "error.internal"
}

func (s *Server) notFound(c *fiber.Ctx) error { return fiber.ErrNotFound }

// ensurePageState gives an error raised before pageState ran (an oversized body, say) a
// language and a request id, so its page is translated like any other.
func (s *Server) ensurePageState(c *fiber.Ctx) {
	if _, ok := c.Locals(localPage).(*viewctx.Page); ok {
		return
	}
	lang := s.Catalog.Negotiate(c.Cookies(cookieLang), c.Get(fiber.HeaderAcceptLanguage), s.Config.DefaultLanguage)
	p := &viewctx.Page{Lang: lang, Languages: s.catalogLanguages(), RequestID: requestIDOf(c), Path: "/"}
	c.Locals(localPage, p)
	c.SetUserContext(viewctx.With(i18n.WithLocalizer(c.UserContext(), s.Catalog.For(lang)), p))
}

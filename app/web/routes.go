package web

import (
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"mailer/static"
)

// routes is the whole HTTP surface of Mailer, on one screen.
func (s *Server) routes() {
	app := s.app
	app.Use(s.recoverPanics, s.requestID, s.logRequests, securityHeaders, s.limitBody(bodyLimit))

	// Fingerprinted assets: no session, no CSRF, cached for a year.
	app.Get("/static/*", adaptor.HTTPHandler(static.Handler()))
	app.Get("/healthz", s.healthz)

	app.Use(s.pageState, s.checkCSRF, pageETag)

	app.Get("/", s.home)
	app.Post("/lang", s.switchLanguage)

	app.Use(s.notFound)
}

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

	// Accounts.
	app.Get("/register", s.registerPage)
	app.Post("/register", s.register)
	app.Get("/confirm/:token", s.confirm)
	app.Get("/login", s.loginPage)
	app.Post("/login", s.login)
	app.Post("/logout", s.logout)
	app.Get("/password/reset", s.resetRequestPage)
	app.Post("/password/reset", s.resetRequest)
	app.Get("/password/reset/:token", s.resetPage)
	app.Post("/password/reset/:token", s.reset)
	app.Get("/account/password", s.requireUser, s.changePasswordPage)
	app.Post("/account/password", s.requireUser, s.changePassword)
	app.Get("/auth/:provider", s.oauthStart)
	app.Get("/auth/:provider/callback", s.oauthCallback)

	// Clients. Reads are scoped by owner (everyone's for managers); writes to one's own only.
	clients := app.Group("/clients", s.requireUser)
	clients.Get("/", s.clientsList)
	clients.Get("/new", s.clientNew)
	clients.Post("/new", s.clientCreate)
	clients.Get("/:id<int>", s.clientView)
	clients.Get("/:id<int>/edit", s.clientEdit)
	clients.Post("/:id<int>/edit", s.clientUpdate)
	clients.Get("/:id<int>/delete", s.clientDeleteConfirm)
	clients.Post("/:id<int>/delete", s.clientDelete)

	app.Use(s.notFound)
}

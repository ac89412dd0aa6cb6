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
	// Prometheus metrics: for managers, or for a scraper holding METRICS_TOKEN.
	app.Get("/metrics", s.pageStateLite, s.metrics)

	app.Use(s.pageState, s.checkCSRF, s.bumpOnWrite, s.pageETag)

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

	// One-click unsubscribe (RFC 8058): no session, a signed token instead of CSRF.
	app.Get("/unsubscribe/:token", s.unsubscribePage)
	app.Post("/unsubscribe/:token", s.unsubscribe)

	// Clients. Reads are scoped by owner (everyone's for managers); writes to one's own only.
	clients := app.Group("/clients", s.requireUser)
	clients.Get("/", s.clientsList)
	clients.Get("/import", s.clientsImportPage)
	clients.Post("/import", s.clientsImport)
	clients.Post("/import/commit", s.clientsImportCommit)
	clients.Get("/export.csv", s.clientsExport)
	clients.Get("/new", s.clientNew)
	clients.Post("/new", s.clientCreate)
	clients.Get("/:id<int>", s.clientView)
	clients.Get("/:id<int>/edit", s.clientEdit)
	clients.Post("/:id<int>/edit", s.clientUpdate)
	clients.Get("/:id<int>/delete", s.clientDeleteConfirm)
	clients.Post("/:id<int>/delete", s.clientDelete)

	messages := app.Group("/messages", s.requireUser)
	messages.Get("/", s.messagesList)
	messages.Get("/new", s.messageNew)
	messages.Post("/new", s.messageCreate)
	messages.Get("/:id<int>", s.messageView)
	messages.Get("/:id<int>/edit", s.messageEdit)
	messages.Post("/:id<int>/edit", s.messageUpdate)
	messages.Get("/:id<int>/delete", s.messageDeleteConfirm)
	messages.Post("/:id<int>/delete", s.messageDelete)

	mailings := app.Group("/mailings", s.requireUser)
	mailings.Get("/", s.mailingsList)
	mailings.Get("/new", s.mailingNew)
	mailings.Post("/new", s.mailingCreate)
	mailings.Get("/recipients", s.mailingRecipientSearch)
	mailings.Get("/:id<int>", s.mailingView)
	mailings.Get("/:id<int>/edit", s.mailingEdit)
	mailings.Post("/:id<int>/edit", s.mailingUpdate)
	mailings.Get("/:id<int>/delete", s.mailingDeleteConfirm)
	mailings.Post("/:id<int>/delete", s.mailingDelete)
	mailings.Post("/:id<int>/send", s.mailingSend)
	mailings.Post("/:id<int>/resend", s.mailingResend)
	mailings.Get("/:id<int>/progress", s.mailingProgress)
	mailings.Get("/:id<int>/attempts", s.mailingAttempts)

	// Statistics: one's own, or for a manager the service's or a chosen user's.
	app.Get("/stats", s.requireUser, s.statsPage)

	// Manager powers.
	app.Get("/manager/users", s.requireManager, s.managerUsers)
	app.Post("/manager/users/:id<int>/block", s.requireManager, s.managerBlock)
	app.Post("/manager/users/:id<int>/unblock", s.requireManager, s.managerUnblock)
	app.Get("/manager/audit", s.requireManager, s.managerAudit)
	app.Post("/mailings/:id<int>/disable", s.requireManager, s.mailingDisable)
	app.Post("/mailings/:id<int>/enable", s.requireManager, s.mailingEnable)

	monitor := s.queueMonitor()
	app.All(queuesPath, s.requireManager, monitor)
	app.All(queuesPath+"/*", s.requireManager, monitor)

	app.Get("/account", s.requireUser, s.profilePage)
	app.Post("/account", s.requireUser, s.profileUpdate)

	app.Use(s.notFound)
}

package web

import (
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"mailer/static"
)

// routes is the whole HTTP surface of Mailer, on one screen.
func (s *Server) routes() {
	app := s.app
	app.Use(s.recoverPanics, s.requestID, s.logRequests, securityHeaders, s.strictTransport, s.limitBody(bodyLimit), s.rejectBadText)

	// Fingerprinted assets: no session, no CSRF, cached for a year.
	app.Get("/static/*", adaptor.HTTPHandler(static.Handler()))
	app.Get("/healthz", s.healthz)
	// Prometheus metrics: for managers, or for a scraper holding METRICS_TOKEN.
	app.Get("/metrics", s.pageStateLite, s.metrics)

	// The JSON API (api.go): bearer tokens, no session, no CSRF, so it comes before them.
	s.apiRoutes(app)
	// Bounce webhooks: called by providers, so outside sessions and CSRF; each request is
	// authenticated by the provider's signature or credentials and rate limited per IP.
	app.Post("/webhooks/bounces", s.bounceWebhook)
	app.Post("/webhooks/bounces/:provider", s.bounceWebhook) // ses, postmark, sendgrid, mailgun

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
	// Public subscribe forms (subscribe.go): posted from the owners' own sites, so without
	// CSRF tokens; confirmed by a signed emailed link whose page asks before it adds anyone.
	app.Get("/subscribe/confirm/:token", s.subscribeConfirmPage)
	app.Post("/subscribe/confirm/:token", s.subscribeConfirm)
	app.Get("/subscribe/:key", s.subscribePage)
	app.Post("/subscribe/:key", s.subscribe)

	// Clients, messages and mailings: reads are scoped by owner (everyone's for managers),
	// writes to one's own only. Each is served by the entity handlers (entity.go).
	cl, msg, ml, lay := s.clients(), s.messages(), s.mailings(), s.layouts()
	clients := app.Group("/clients", s.requireUser)
	clients.Get("/", cl.index)
	clients.Get("/import", s.clientsImportPage)
	clients.Post("/import", s.clientsImport)
	clients.Post("/import/commit", s.clientsImportCommit)
	clients.Get("/export.csv", s.clientsExport)
	clients.Post("/tags", s.clientsTag)
	clients.Get("/new", cl.newForm)
	clients.Post("/new", cl.create)
	clients.Get("/:id<int>", cl.show)
	clients.Get("/:id<int>/edit", cl.editForm)
	clients.Post("/:id<int>/edit", cl.update)
	clients.Get("/:id<int>/delete", cl.confirmDelete)
	clients.Post("/:id<int>/delete", cl.delete)

	messages := app.Group("/messages", s.requireUser)
	messages.Get("/", msg.index)
	messages.Get("/new", msg.newForm)
	messages.Post("/new", msg.create)
	messages.Get("/:id<int>", msg.show)
	messages.Get("/:id<int>/edit", msg.editForm)
	messages.Post("/:id<int>/edit", msg.update)
	messages.Get("/:id<int>/delete", msg.confirmDelete)
	messages.Post("/:id<int>/delete", msg.delete)
	// Previews: the HTML part in sandboxed frames (preview.go); a test send to oneself.
	messages.Get("/:id<int>/preview", s.messageHTML)
	messages.Post("/preview", s.messageDraftPreview)
	messages.Get("/preview/:token", s.messageDraftHTML)
	messages.Post("/:id<int>/test", s.messageTest)

	// Suppressions: added by hand (or a CSV), by unsubscribes and by bounces; removed by hand.
	sup := s.suppressions()
	suppressions := app.Group("/suppressions", s.requireUser)
	suppressions.Get("/", sup.index)
	suppressions.Get("/new", sup.newForm)
	suppressions.Post("/new", sup.create)
	suppressions.Post("/import", s.suppressionsImport)
	suppressions.Get("/:id<int>", sup.show)
	suppressions.Get("/:id<int>/delete", sup.confirmDelete)
	suppressions.Post("/:id<int>/delete", sup.delete)

	layouts := app.Group("/layouts", s.requireUser)
	layouts.Get("/", lay.index)
	layouts.Get("/new", lay.newForm)
	layouts.Post("/new", lay.create)
	layouts.Get("/:id<int>", lay.show)
	layouts.Get("/:id<int>/edit", lay.editForm)
	layouts.Post("/:id<int>/edit", lay.update)
	layouts.Get("/:id<int>/delete", lay.confirmDelete)
	layouts.Post("/:id<int>/delete", lay.delete)
	layouts.Get("/:id<int>/preview", s.layoutHTML)

	mailings := app.Group("/mailings", s.requireUser)
	mailings.Get("/", ml.index)
	mailings.Get("/new", ml.newForm)
	mailings.Post("/new", ml.create)
	mailings.Get("/recipients", s.mailingRecipientSearch)
	mailings.Get("/:id<int>", ml.show)
	mailings.Get("/:id<int>/edit", ml.editForm)
	mailings.Post("/:id<int>/edit", ml.update)
	mailings.Get("/:id<int>/delete", ml.confirmDelete)
	mailings.Post("/:id<int>/delete", ml.delete)
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
	// API tokens (account_tokens.go); the API itself is in api.go.
	app.Get("/account/tokens", s.requireUser, s.tokensPage)
	app.Post("/account/tokens", s.requireUser, s.tokenCreate)
	app.Post("/account/tokens/:id<int>/revoke", s.requireUser, s.tokenRevoke)
	// The user's public subscribe form: on or off, its tag, a new key.
	app.Post("/account/subscribe", s.requireUser, s.subscribeUpdate)
	app.Post("/account/subscribe/key", s.requireUser, s.subscribeNewKey)

	app.Use(s.notFound)
}

// Package web is Mailer's HTTP face: Fiber serving templ components, enhanced with HTMX.
// Every route is registered in routes.go; handlers parse, call a service and render, and
// whether a response is a full page or an HTMX partial is decided in render.go alone.
package web

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynqmon"

	"mailer/app/auth"
	"mailer/app/bounce"
	"mailer/app/cache"
	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/metrics"
	"mailer/app/sending"
	"mailer/app/tasks"
)

// Store is the database as the web layer sees it: the narrow interfaces its handlers
// declare beside them (clientStore in clients.go, …), which *store.Store implements.
type Store interface {
	clientStore
	clientsCSVStore
	messageStore
	layoutStore
	suppressionStore
	mailingStore
	sendStore
	managerStore
	homeStore
	listCountStore
	statsStore
	profileStore
	unsubscribeStore
	apiStore
	tokenStore
	subscribeStore
	pinger
}

// Deps are everything the web layer needs, passed in explicitly.
type Deps struct {
	Config  config.Config
	Store   Store
	Redis   *tasks.Redis
	Catalog *i18n.Catalog
	Mail    mail.Sender
	Clock   mailing.Clock
	Log     *slog.Logger

	Auth      *auth.Service
	Providers *auth.Providers
	Limiter   *auth.Limiter
	Engine    *sending.Engine
	// Bounces checks and records bounce webhooks; nil (or unconfigured) answers 404.
	Bounces  *bounce.Webhooks
	Versions *cache.Versions
	Cache    *cache.Cache
	// Metrics is served on /metrics and observes HTTP latency; nil disables both.
	Metrics *metrics.Metrics
}

// Server is the Fiber application with its dependencies.
type Server struct {
	Deps
	app    *fiber.App
	queues *asynqmon.HTTPHandler
}

// Request bodies are capped here; routes that take uploads raise their own limit.
const (
	bodyLimit       = 1 << 20
	uploadBodyLimit = 10 << 20
)

// New builds the server and registers every route.
func New(d Deps) *Server {
	s := &Server{Deps: d}
	s.app = fiber.New(fiber.Config{
		// Values from Params/FormValue are otherwise reused after the handler returns.
		Immutable:             true,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Fiber's limit is global: it is set to the largest upload and each route is held
		// to its own limit by the limitBody middleware.
		BodyLimit:    uploadBodyLimit + 64<<10,
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  120 * time.Second,
		// Only a proxy the operator runs may name the client's address: trusting the header
		// by default would let anyone dodge per-IP rate limits.
		ProxyHeader: d.Config.ProxyHeader,
	})
	s.routes()
	return s
}

// App exposes the Fiber app for tests that use app.Test.
func (s *Server) App() *fiber.App { return s.app }

// Serve answers on ln until ctx ends, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		err := s.app.ShutdownWithTimeout(10 * time.Second)
		if s.queues != nil {
			s.queues.Close()
		}
		return err
	}
}

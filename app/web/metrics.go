package web

import (
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// pageStateLite resolves the session for routes served before the page middleware (no
// language, CSRF or flashes): only who is asking.
func (s *Server) pageStateLite(c *fiber.Ctx) error {
	s.loadUser(c)
	return c.Next()
}

// metrics serves Prometheus metrics to a scraper holding METRICS_TOKEN as a bearer token,
// or to a signed-in manager. Anyone else gets 401 (no or a wrong token) or 403 (signed in,
// not a manager); the answers are plain text, for machines.
func (s *Server) metrics(c *fiber.Ctx) error {
	if s.Metrics == nil {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !s.metricsBearerOK(c) {
		u := currentUser(c)
		if u == nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="mailer metrics"`)
			return c.Status(fiber.StatusUnauthorized).SendString("401 unauthorized: send Authorization: Bearer <METRICS_TOKEN>, or sign in as a manager\n")
		}
		if !u.IsManager() {
			return c.Status(fiber.StatusForbidden).SendString("403 forbidden: metrics are for managers\n")
		}
	}
	return adaptor.HTTPHandler(s.Metrics.Handler())(c)
}

// metricsBearerOK reports whether the request carries the configured token. Without a
// configured token no bearer is accepted.
func (s *Server) metricsBearerOK(c *fiber.Ctx) bool {
	want := s.Config.MetricsToken
	if want == "" {
		return false
	}
	scheme, got, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}

// metricsRoute is the route label of a request: the pattern of the route that answered
// (/mailings/:id<int>, never /mailings/42), or "none" when the request ended in middleware
// before any route took it (not found, refused as too large or by the CSRF check).
func metricsRoute(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || len(r.Handlers) == 0 || (r.Method == "USE" && (r.Path == "/" || r.Path == "")) {
		return "none"
	}
	return r.Path
}

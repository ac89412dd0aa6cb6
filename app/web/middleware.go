package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

const localRequestID = "request_id"

// requestID gives every request an id that the log and the error page both show.
func (s *Server) requestID(c *fiber.Ctx) error {
	buf := make([]byte, 8)
	rand.Read(buf)
	id := hex.EncodeToString(buf)
	c.Locals(localRequestID, id)
	c.Set("X-Request-ID", id)
	return c.Next()
}

func requestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// logRequests writes one line per request. It logs the route pattern rather than the path
// where the path carries a secret (confirmation and reset tokens), and never the query.
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler set the status before the line is written.
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	attrs := []any{
		"method", c.Method(),
		"path", loggablePath(c),
		"status", c.Response().StatusCode(),
		"latency_ms", float64(time.Since(start).Microseconds()) / 1000,
		"request_id", requestIDOf(c),
	}
	if uid, ok := c.Locals(localUserID).(int64); ok && uid != 0 {
		attrs = append(attrs, "user_id", uid)
	}
	// By route pattern, never the path: an id in the path would make a series per id.
	s.Metrics.HTTPRequest(c.Method(), metricsRoute(c), c.Response().StatusCode(), time.Since(start))
	level := slog.LevelInfo
	if c.Response().StatusCode() >= 500 {
		level = slog.LevelError
	}
	s.Log.Log(c.UserContext(), level, "request", attrs...)
	return nil
}

const localUserID = "user_id"

func loggablePath(c *fiber.Ctx) string {
	route := c.Route().Path
	if strings.Contains(route, ":token") {
		return route
	}
	return c.Path()
}

// recoverPanics turns a panic into a 500 whose stack goes to the log, never to the user.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.Log.Error("panic", "request_id", requestIDOf(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// securityHeaders applies to every response. The CSP allows no inline script: all page
// glue lives in static/js/app.js.
// strictTransport tells browsers to come back over HTTPS only (HSTS, a year) when the site
// is served over HTTPS, as BASE_URL says; over plain HTTP the header would be ignored, and
// on a development machine it would pin localhost to HTTPS.
func (s *Server) strictTransport(c *fiber.Ctx) error {
	if s.Config.Secure() {
		c.Locals(localHSTS, true) // for setSecurityHeaders, after an error reset the response
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
	return c.Next()
}

const (
	localHSTS = "hsts"
	hstsValue = "max-age=31536000; includeSubDomains"
)

func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders sets the headers securityHeaders promises; the error handler calls it
// too, after a failed request reset the response.
func setSecurityHeaders(c *fiber.Ctx) {
	if isQueuesPath(c.Path()) {
		// asynqmon's page boots from an inline script and inline styles.
		c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "+
			"img-src 'self' data:; font-src 'self' data:; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
	} else {
		c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
	}
	c.Set("X-Frame-Options", "DENY")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	if on, _ := c.Locals(localHSTS).(bool); on {
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
}

// limitBody holds a request to max bytes; Fiber's own limit is global and set higher.
func (s *Server) limitBody(max int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if len(c.Request().Body()) > max || c.Request().Header.ContentLength() > max {
			// Middleware runs before routing, so the upload route is recognised by its path.
			if (c.Path() == "/clients/import" || c.Path() == "/suppressions/import") && max < uploadBodyLimit &&
				len(c.Request().Body()) <= uploadBodyLimit && c.Request().Header.ContentLength() <= uploadBodyLimit {
				return c.Next()
			}
			return fiber.ErrRequestEntityTooLarge
		}
		return c.Next()
	}
}

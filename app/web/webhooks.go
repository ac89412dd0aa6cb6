package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/bounce"
)

// bounceWebhook serves POST /webhooks/bounces (Mailer's own JSON, provider "generic") and
// /webhooks/bounces/{ses,postmark,sendgrid,mailgun}. These requests come from providers,
// not browsers: no session, no CSRF token — each is authenticated by its provider's
// signature or credentials instead (bounce.Webhooks), and rate limited per IP.
func (s *Server) bounceWebhook(c *fiber.Ctx) error {
	provider := c.Params("provider", bounce.Generic)
	if !s.Bounces.Enabled(provider) {
		return fiber.ErrNotFound
	}
	if err := s.Limiter.Allow(c.UserContext(), "webhook", s.Config.Bounce.RateWebhook, c.IP()); err != nil {
		return webhookAnswer(c, fiber.StatusTooManyRequests, "rate limited")
	}
	out, err := s.Bounces.Handle(c.UserContext(), provider, bounce.Request{
		Body:   c.Body(),
		Header: func(name string) string { return c.Get(name) },
	})
	switch {
	case errors.Is(err, bounce.ErrForged):
		if provider == bounce.Postmark {
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="bounces"`)
		} else if provider == bounce.Generic {
			c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
		}
		return webhookAnswer(c, fiber.StatusUnauthorized, "unauthorized")
	case errors.Is(err, bounce.ErrReplay):
		return webhookAnswer(c, fiber.StatusConflict, "replayed or stale")
	case errors.Is(err, bounce.ErrMalformed):
		return webhookAnswer(c, fiber.StatusBadRequest, "malformed")
	case err != nil:
		// A database failure: the provider retries later, and the report was not kept.
		return webhookAnswer(c, fiber.StatusInternalServerError, "internal error")
	}
	return c.JSON(fiber.Map{"recorded": out.Recorded, "suppressed": out.Suppressed,
		"unmatched": out.Unmatched, "confirmed": out.Confirmed})
}

func webhookAnswer(c *fiber.Ctx, status int, msg string) error {
	return c.Status(status).JSON(fiber.Map{"error": msg})
}

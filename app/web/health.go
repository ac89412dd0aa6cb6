package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz reports whether the database and Redis answer: 200 when both do, 503 otherwise.
func (s *Server) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	res := fiber.Map{"status": "ok", "database": "ok", "redis": "ok"}
	status := fiber.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		res["database"], res["status"], status = "unavailable", "unavailable", fiber.StatusServiceUnavailable
	}
	if err := s.Redis.Ping(ctx); err != nil {
		res["redis"], res["status"], status = "unavailable", "unavailable", fiber.StatusServiceUnavailable
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(res)
}

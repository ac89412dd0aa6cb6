package web

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
)

// pinger is what the health check needs of the database.
type pinger interface {
	Ping(ctx context.Context) error
}

// healthz reports whether the database and Redis answer: 200 when both do, 503 otherwise;
// and whether the mail server is reachable, for the operator.
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
	// The mail server as the workers last saw it. It does not change the status: this
	// process is healthy, and restarting it would not bring the relay back.
	res["mail_server"] = "ok"
	if r, err := s.Store.Relay(ctx); err == nil && r.Down() && r.NextTryAt != nil {
		res["mail_server"] = fmt.Sprintf("unreachable since %s, next try at %s",
			r.DownSince.UTC().Format(time.RFC3339), r.NextTryAt.UTC().Format(time.RFC3339))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(res)
}

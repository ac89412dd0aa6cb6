package web

import "github.com/gofiber/fiber/v2"

// Placeholder until the statistics page lands (being written now).
func (s *Server) statsPage(c *fiber.Ctx) error { return fiber.ErrNotImplemented }

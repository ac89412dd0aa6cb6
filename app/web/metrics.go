package web

import "github.com/gofiber/fiber/v2"

// Placeholders until metrics land (being written now).
func (s *Server) pageStateLite(c *fiber.Ctx) error { return c.Next() }
func (s *Server) metrics(c *fiber.Ctx) error       { return fiber.ErrNotImplemented }

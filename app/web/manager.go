package web

import "github.com/gofiber/fiber/v2"

// Placeholders until the manager pages land (being written now).
func (s *Server) managerUsers(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) managerBlock(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) managerUnblock(c *fiber.Ctx) error { return fiber.ErrNotImplemented }
func (s *Server) managerAudit(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) mailingDisable(c *fiber.Ctx) error { return fiber.ErrNotImplemented }
func (s *Server) mailingEnable(c *fiber.Ctx) error  { return fiber.ErrNotImplemented }

package web

import "github.com/gofiber/fiber/v2"

// Placeholders until the messages pages land (being written now).
func (s *Server) messagesList(c *fiber.Ctx) error         { return fiber.ErrNotImplemented }
func (s *Server) messageNew(c *fiber.Ctx) error           { return fiber.ErrNotImplemented }
func (s *Server) messageCreate(c *fiber.Ctx) error        { return fiber.ErrNotImplemented }
func (s *Server) messageView(c *fiber.Ctx) error          { return fiber.ErrNotImplemented }
func (s *Server) messageEdit(c *fiber.Ctx) error          { return fiber.ErrNotImplemented }
func (s *Server) messageUpdate(c *fiber.Ctx) error        { return fiber.ErrNotImplemented }
func (s *Server) messageDeleteConfirm(c *fiber.Ctx) error { return fiber.ErrNotImplemented }
func (s *Server) messageDelete(c *fiber.Ctx) error        { return fiber.ErrNotImplemented }

package web

import "github.com/gofiber/fiber/v2"

// Placeholders until the mailings pages land (being written now).
func (s *Server) mailingsList(c *fiber.Ctx) error           { return fiber.ErrNotImplemented }
func (s *Server) mailingNew(c *fiber.Ctx) error             { return fiber.ErrNotImplemented }
func (s *Server) mailingCreate(c *fiber.Ctx) error          { return fiber.ErrNotImplemented }
func (s *Server) mailingRecipientSearch(c *fiber.Ctx) error { return fiber.ErrNotImplemented }
func (s *Server) mailingView(c *fiber.Ctx) error            { return fiber.ErrNotImplemented }
func (s *Server) mailingEdit(c *fiber.Ctx) error            { return fiber.ErrNotImplemented }
func (s *Server) mailingUpdate(c *fiber.Ctx) error          { return fiber.ErrNotImplemented }
func (s *Server) mailingDeleteConfirm(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) mailingDelete(c *fiber.Ctx) error          { return fiber.ErrNotImplemented }

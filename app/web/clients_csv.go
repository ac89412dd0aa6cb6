package web

import "github.com/gofiber/fiber/v2"

// Placeholders until CSV import/export lands (being written now).
func (s *Server) clientsImportPage(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) clientsImport(c *fiber.Ctx) error       { return fiber.ErrNotImplemented }
func (s *Server) clientsImportCommit(c *fiber.Ctx) error { return fiber.ErrNotImplemented }
func (s *Server) clientsExport(c *fiber.Ctx) error       { return fiber.ErrNotImplemented }

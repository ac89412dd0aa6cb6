package web

import "github.com/gofiber/fiber/v2"

func (s *Server) profilePage(c *fiber.Ctx) error   { return fiber.ErrNotImplemented }
func (s *Server) profileUpdate(c *fiber.Ctx) error { return fiber.ErrNotImplemented }

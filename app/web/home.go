package web

import (
	"github.com/gofiber/fiber/v2"

	"mailer/views/pages"
)

func (s *Server) home(c *fiber.Ctx) error {
	return s.render(c, View{Title: s.t(c, "nav.home"), Content: pages.Home()})
}

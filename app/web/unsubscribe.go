package web

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// unsubscribeStore is what the unsubscribe link needs of the database.
type unsubscribeStore interface {
	Unsubscribe(ctx context.Context, clientID int64) (*mailing.Client, error)
}

func (s *Server) unsubscribeClient(c *fiber.Ctx) (int64, error) {
	id, ok := mailing.ParseUnsubscribeToken(s.Config.SecretKey, c.Params("token"))
	if !ok {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// unsubscribePage shows a confirmation button; only the POST unsubscribes.
func (s *Server) unsubscribePage(c *fiber.Ctx) error {
	id, err := s.unsubscribeClient(c)
	if err != nil {
		return err
	}
	cl, err := s.Store.ClientByID(c.UserContext(), mailing.Scope{All: true}, id)
	if err != nil {
		return err
	}
	title := s.t(c, "unsubscribe.title")
	return s.render(c, View{Title: title, Content: pages.UnsubscribeConfirm(c.Params("token"), cl.Email)})
}

// unsubscribe marks the client unsubscribed from its owner's mailings. Mail clients POST
// here without cookies (RFC 8058), so the signed token stands in for the CSRF token.
func (s *Server) unsubscribe(c *fiber.Ctx) error {
	id, err := s.unsubscribeClient(c)
	if err != nil {
		return err
	}
	cl, err := s.Store.Unsubscribe(c.UserContext(), id)
	if err != nil {
		return err
	}
	s.Versions.Bump(c.UserContext(), cl.OwnerID)
	s.Log.Info("client unsubscribed", "client_id", id, "owner_id", cl.OwnerID)
	title := s.t(c, "unsubscribe.done_title")
	return s.render(c, View{Title: title, Content: pages.UnsubscribeDone(cl.Email)})
}

func isUnsubscribePath(p string) bool { return strings.HasPrefix(p, "/unsubscribe/") }

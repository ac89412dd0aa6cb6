package web

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// tokenStore is what the API tokens page needs of the database.
type tokenStore interface {
	ListAPITokens(ctx context.Context, userID int64) ([]mailing.APIToken, error)
	RevokeAPIToken(ctx context.Context, userID, id int64) (*mailing.APIToken, error)
}

func (s *Server) tokensView(c *fiber.Ctx, v pages.TokensView, status int) error {
	var err error
	if v.Tokens, err = s.Store.ListAPITokens(c.UserContext(), currentUser(c).ID); err != nil {
		return err
	}
	v.BaseURL = s.Config.BaseURL.String()
	return s.render(c, View{Title: s.t(c, "tokens.title"), Content: pages.TokensPage(v), Status: status})
}

// tokensPage lists the user's API tokens: a prefix of each, never the value.
func (s *Server) tokensPage(c *fiber.Ctx) error {
	return s.tokensView(c, pages.TokensView{}, fiber.StatusOK)
}

// tokenCreate makes a token and shows its value in this one answer; nothing can show it
// again. The answer is a page, not a redirect, so the value never sits in a flash cookie.
func (s *Server) tokenCreate(c *fiber.Ctx) error {
	v := pages.TokensView{Name: c.FormValue("name"), ReadOnly: c.FormValue("read_only") != ""}
	t, value, err := s.Auth.CreateAPIToken(c.UserContext(), currentUser(c), v.Name, v.ReadOnly)
	var invalid *mailing.Error
	if errors.As(err, &invalid) && invalid.Fields["name"] != "" {
		v.Error = s.t(c, invalid.Fields["name"])
		return s.tokensView(c, v, fiber.StatusUnprocessableEntity)
	} else if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.tokensView(c, pages.TokensView{Created: t, Value: value}, fiber.StatusOK)
}

// tokenRevoke revokes one of the user's own tokens; it stops on its next request.
func (s *Server) tokenRevoke(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	t, err := s.Store.RevokeAPIToken(c.UserContext(), currentUser(c).ID, id)
	if err != nil {
		return err
	}
	s.Log.Info("api token revoked", "user_id", t.UserID, "token_id", t.ID)
	s.flash(c, "success", "tokens.revoked_flash", map[string]any{"Name": t.Name})
	return s.redirect(c, "/account/tokens")
}

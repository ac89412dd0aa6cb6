package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/cache"
	"mailer/app/mailing"
	"mailer/views/pages"
)

// homeStore is what the home page needs of the database.
type homeStore interface {
	HomeCounts(ctx context.Context, scope mailing.Scope) (mailing.HomeCounts, error)
}

// home shows a visitor what Mailer is, and a signed-in user their figures: their own, or
// the whole service's for a manager.
func (s *Server) home(c *fiber.Ctx) error {
	u := currentUser(c)
	if u == nil {
		return s.render(c, View{Title: "Mailer", Content: pages.Landing()})
	}
	scope := readScope(c)
	counts, err := cache.Get(c.UserContext(), s.Cache, "home:"+s.Versions.Of(c.UserContext(), scope), time.Minute,
		func() (mailing.HomeCounts, error) { return s.Store.HomeCounts(c.UserContext(), scope) })
	if err != nil {
		return err
	}
	v := pages.HomeView{Mailings: counts.Mailings, Running: counts.Running, Recipients: counts.Recipients, Manager: u.IsManager(),
		Clients: counts.Clients, Messages: counts.Messages, Runs: counts.Recent}
	return s.render(c, View{Title: s.t(c, "nav.home"), Content: pages.Home(v)})
}

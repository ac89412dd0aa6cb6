package web

import (
	"context"
	"html"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/auth"
	"mailer/app/mailing"
	"mailer/views/pages"
)

// subscribeStore is what the public subscribe forms and their settings need of the database.
type subscribeStore interface {
	SubscribeForm(ctx context.Context, userID int64, newKey string) (*mailing.SubscribeForm, error)
	SubscribeFormByKey(ctx context.Context, key string) (*mailing.SubscribeForm, error)
	SaveSubscribeForm(ctx context.Context, f *mailing.SubscribeForm) error
	SetSubscribeKey(ctx context.Context, userID int64, key string) error
}

// Public subscribe forms have no session to bind a CSRF token to: the owner pastes the form
// into their own site, so its POST comes cross-site and without our cookies. They are
// outside the CSRF check on purpose. A forged POST to /subscribe/{key} can do no more than
// the visitor's own: send one confirmation email to the address typed, under the per-IP
// and per-address rate limits. Nothing is added before the link in that email is used, and
// its signed token (which only the mailbox sees) stands in for the CSRF token on the
// confirming POST, as for one-click unsubscribes.
func isSubscribePath(p string) bool { return strings.HasPrefix(p, "/subscribe/") }

// publicPage marks a page that a form owner's visitors see: no sign-in links for them.
func publicPage(c *fiber.Ctx) { page(c).ShowNav = false }

func (s *Server) subscribeView(c *fiber.Ctx, v pages.SubscribeView, err error) error {
	return s.renderForm(c, &v.FormState, err, func() (View, error) {
		return View{Title: s.t(c, "subscribe.title"), Content: pages.SubscribePage(v), Partial: pages.SubscribeForm(v)}, nil
	})
}

// subscribePage is a user's public form; 404 when it is off, has another key now, or its
// owner is blocked.
func (s *Server) subscribePage(c *fiber.Ctx) error {
	publicPage(c)
	f, err := s.Store.SubscribeFormByKey(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	return s.subscribeView(c, pages.SubscribeView{Key: f.Key}, nil)
}

// subscribe emails a confirmation link and says so, in the same words for every address.
func (s *Server) subscribe(c *fiber.Ctx) error {
	publicPage(c)
	v := pages.SubscribeView{Key: c.Params("key"), Email: c.FormValue("email"), Name: c.FormValue("name")}
	err := s.Auth.Subscribe(c.UserContext(), v.Key, v.Email, v.Name, c.IP(), page(c).Lang, c.FormValue("website") != "")
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return err
	} else if err != nil {
		return s.subscribeView(c, v, err)
	}
	email, _ := mailing.NormalizeEmail(v.Email)
	title, text := s.t(c, "subscribe.sent_title"), s.t(c, "subscribe.sent", map[string]any{"Email": email})
	return s.render(c, View{Title: title, Content: pages.SubscribeNotice(title, text), Partial: pages.Notice(title, text)})
}

// subscribeNotice answers a confirmation link with a message of its own.
func (s *Server) subscribeNotice(c *fiber.Ctx, titleID, textID string, data map[string]any, status int) error {
	title := s.t(c, titleID)
	return s.render(c, View{Title: title, Content: pages.SubscribeNotice(title, s.t(c, textID, data)), Status: status})
}

func (s *Server) subscribeLinkError(c *fiber.Ctx, err error) error {
	if err == auth.ErrLinkInvalid {
		return s.subscribeNotice(c, "auth.link_invalid_title", "subscribe.link_invalid", nil, fiber.StatusNotFound)
	}
	return err
}

// subscribeConfirmPage shows the button that confirms; opening the link adds nobody.
func (s *Server) subscribeConfirmPage(c *fiber.Ctx) error {
	publicPage(c)
	l, err := s.Auth.ReadSubscribeLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return s.subscribeLinkError(c, err)
	}
	if l.Confirmed {
		return s.subscribeNotice(c, "subscribe.already_title", "subscribe.already", map[string]any{"Email": l.Request.Email}, fiber.StatusOK)
	}
	title := s.t(c, "subscribe.confirm_title")
	return s.render(c, View{Title: title, Content: pages.SubscribeConfirm(c.Params("token"), l.Request.Email)})
}

// subscribeConfirm adds the client, once: a second press says it is done already.
func (s *Server) subscribeConfirm(c *fiber.Ctx) error {
	publicPage(c)
	l, cl, already, err := s.Auth.ConfirmSubscription(c.UserContext(), c.Params("token"), c.IP())
	if err != nil {
		return s.subscribeLinkError(c, err)
	}
	if already {
		return s.subscribeNotice(c, "subscribe.already_title", "subscribe.already", map[string]any{"Email": l.Request.Email}, fiber.StatusOK)
	}
	s.Versions.Bump(c.UserContext(), cl.OwnerID)
	return s.subscribeNotice(c, "subscribe.done_title", "subscribe.done", map[string]any{"Email": cl.Email}, fiber.StatusOK)
}

// subscribeSettings is the account page's view of the user's form, made the first time.
func (s *Server) subscribeSettings(c *fiber.Ctx) (pages.SubscribeSettings, *mailing.SubscribeForm, error) {
	f, err := s.Store.SubscribeForm(c.UserContext(), currentUser(c).ID, mailing.NewSubscribeKey())
	if err != nil {
		return pages.SubscribeSettings{}, nil, err
	}
	link := s.Config.BaseURL.String() + "/subscribe/" + f.Key
	return pages.SubscribeSettings{Link: link, Snippet: s.subscribeSnippet(c, link), Enabled: f.Enabled, Tag: f.Tag}, f, nil
}

// subscribeSnippet is the HTML an owner pastes into their site: a plain form posting to
// link, labelled in the owner's language, with the honeypot hidden by an inline style
// (the owner's page has none of our CSS).
func (s *Server) subscribeSnippet(c *fiber.Ctx, link string) string {
	t := func(id string) string { return html.EscapeString(s.t(c, id)) }
	return `<form method="post" action="` + html.EscapeString(link) + `">
  <label>` + t("field.email") + ` <input type="email" name="email" required autocomplete="email"></label>
  <label>` + t("subscribe.name") + ` <input type="text" name="name" autocomplete="name"></label>
  <div style="position:absolute;left:-10000px" aria-hidden="true"><input type="text" name="website" tabindex="-1" autocomplete="off"></div>
  <button type="submit">` + t("subscribe.submit") + `</button>
</form>`
}

// subscribeUpdate switches the user's form on or off and sets the tag its subscribers get.
func (s *Server) subscribeUpdate(c *fiber.Ctx) error {
	_, f, err := s.subscribeSettings(c)
	if err != nil {
		return err
	}
	tag, problem := mailing.ValidateSubscribeTag(c.FormValue("tag"))
	f.Enabled, f.Tag = c.FormValue("enabled") != "", tag
	if problem != "" {
		return s.profileForm(c, s.profileDefaults(c), func(v *pages.SubscribeSettings) {
			v.Enabled, v.Tag, v.TagError = f.Enabled, f.Tag, s.t(c, problem)
		}, fiber.StatusUnprocessableEntity)
	}
	if err := s.Store.SaveSubscribeForm(c.UserContext(), f); err != nil {
		return err
	}
	s.Log.Info("subscribe form saved", "user_id", f.UserID, "enabled", f.Enabled)
	s.flash(c, "success", "subscribe.saved")
	return s.redirect(c, "/account#subscribe")
}

// subscribeNewKey gives the user's form a new key: the old link, the snippets pasted with it
// and the confirmation links sent through it stop working.
func (s *Server) subscribeNewKey(c *fiber.Ctx) error {
	_, f, err := s.subscribeSettings(c)
	if err != nil {
		return err
	}
	if err := s.Store.SetSubscribeKey(c.UserContext(), f.UserID, mailing.NewSubscribeKey()); err != nil {
		return err
	}
	s.Log.Info("subscribe form key changed", "user_id", f.UserID)
	s.flash(c, "success", "subscribe.new_key_done")
	return s.redirect(c, "/account#subscribe")
}

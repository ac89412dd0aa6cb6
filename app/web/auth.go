package web

import (
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// authForm renders one of the account forms: the whole page, or for HTMX the form alone.
func (s *Server) authForm(c *fiber.Ctx, titleID string, page, form func(pages.AuthForm) templ.Component, f pages.AuthForm, err error) error {
	f.Providers = s.Providers.Names()
	return s.renderForm(c, &f.FormState, err, func() (View, error) {
		return View{Title: s.t(c, titleID), Content: page(f), Partial: form(f)}, nil
	})
}

func (s *Server) registerPage(c *fiber.Ctx) error {
	return s.authForm(c, "auth.register.title", pages.RegisterPage, pages.RegisterForm, pages.AuthForm{}, nil)
}

func (s *Server) register(c *fiber.Ctx) error {
	f := pages.AuthForm{Email: c.FormValue("email")}
	email, _ := mailing.NormalizeEmail(f.Email)
	err := s.Limiter.Allow(c.UserContext(), "register", s.Config.RateRegister, c.IP(), email)
	if err == nil {
		err = s.Auth.Register(c.UserContext(), f.Email, c.FormValue("password"), page(c).Lang)
	}
	if err != nil {
		return s.authForm(c, "auth.register.title", pages.RegisterPage, pages.RegisterForm, f, err)
	}
	// The same answer whether or not the address already had an account.
	title, text := s.t(c, "auth.register.done_title"), s.t(c, "auth.register.done", map[string]any{"Email": email})
	return s.render(c, View{Title: title, Content: pages.NoticePage(title, text), Partial: pages.Notice(title, text)})
}

func (s *Server) confirm(c *fiber.Ctx) error {
	u, err := s.Auth.Confirm(c.UserContext(), c.Params("token"))
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		title := s.t(c, "auth.link_invalid_title")
		return s.render(c, View{Title: title, Content: pages.NoticePage(title, s.t(c, "auth.link_invalid")), Status: fiber.StatusNotFound})
	} else if err != nil {
		return err
	}
	// Confirming proves the address and nothing more: the page offers sign-in, it does not
	// sign in (see Service.Confirm).
	title := s.t(c, "auth.confirmed_title")
	text := s.t(c, "auth.confirmed", map[string]any{"Email": u.Email})
	return s.render(c, View{Title: title, Content: pages.NoticePage(title, text)})
}

func (s *Server) loginPage(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return s.redirect(c, localPath(c.Query("next"), "/"))
	}
	return s.authForm(c, "auth.login.title", pages.LoginPage, pages.LoginForm, pages.AuthForm{Next: c.Query("next")}, nil)
}

func (s *Server) login(c *fiber.Ctx) error {
	f := pages.AuthForm{Email: c.FormValue("email"), Next: localPath(c.FormValue("next"), "")}
	u, err := s.Auth.SignIn(c.UserContext(), f.Email, c.FormValue("password"), c.IP())
	if err != nil {
		return s.authForm(c, "auth.login.title", pages.LoginPage, pages.LoginForm, f, err)
	}
	if err := s.signIn(c, u); err != nil {
		return err
	}
	if u.Language != "" && c.Cookies(cookieLang) == "" {
		// The account's language wins over the browser's from now on.
		s.setCookie(c, cookieLang, u.Language, 365*24*time.Hour)
	}
	return s.redirect(c, localPath(f.Next, "/"))
}

func (s *Server) logout(c *fiber.Ctx) error {
	if u := currentUser(c); u != nil {
		if err := s.Auth.EndSession(c.UserContext(), c.Cookies(cookieSession), u.ID); err != nil {
			return err
		}
	}
	s.clearCookie(c, cookieSession)
	s.newCSRFSeed(c)
	s.flash(c, "info", "auth.logged_out")
	return s.redirect(c, "/login")
}

func (s *Server) resetRequestPage(c *fiber.Ctx) error {
	return s.authForm(c, "auth.reset.title", pages.ResetRequestPage, pages.ResetRequestForm, pages.AuthForm{}, nil)
}

func (s *Server) resetRequest(c *fiber.Ctx) error {
	f := pages.AuthForm{Email: c.FormValue("email")}
	email, _ := mailing.NormalizeEmail(f.Email)
	err := s.Limiter.Allow(c.UserContext(), "reset", s.Config.RateReset, c.IP(), email)
	if err == nil {
		err = s.Auth.RequestReset(c.UserContext(), f.Email, page(c).Lang)
	}
	if err != nil {
		return s.authForm(c, "auth.reset.title", pages.ResetRequestPage, pages.ResetRequestForm, f, err)
	}
	title, text := s.t(c, "auth.reset.sent_title"), s.t(c, "auth.reset.sent", map[string]any{"Email": email})
	return s.render(c, View{Title: title, Content: pages.NoticePage(title, text), Partial: pages.Notice(title, text)})
}

func (s *Server) resetPage(c *fiber.Ctx) error {
	token := c.Params("token")
	if !s.Auth.ResetLinkValid(c.UserContext(), token) {
		title := s.t(c, "auth.link_invalid_title")
		return s.render(c, View{Title: title, Content: pages.NoticePage(title, s.t(c, "auth.link_invalid")), Status: fiber.StatusNotFound})
	}
	return s.authForm(c, "auth.reset.new_title", pages.ResetPage, pages.ResetForm, pages.AuthForm{Token: token}, nil)
}

func (s *Server) reset(c *fiber.Ctx) error {
	f := pages.AuthForm{Token: c.Params("token")}
	u, err := s.Auth.Reset(c.UserContext(), f.Token, c.FormValue("password"))
	if err != nil {
		return s.authForm(c, "auth.reset.new_title", pages.ResetPage, pages.ResetForm, f, err)
	}
	if u.Blocked() {
		s.flash(c, "success", "auth.reset.done")
		return s.redirect(c, "/login")
	}
	if err := s.signIn(c, u); err != nil {
		return err
	}
	s.flash(c, "success", "auth.reset.done")
	return s.redirect(c, "/")
}

func (s *Server) changePasswordPage(c *fiber.Ctx) error {
	return s.authForm(c, "auth.change.title", pages.ChangePasswordPage, pages.ChangePasswordForm, pages.AuthForm{}, nil)
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	err := s.Auth.ChangePassword(c.UserContext(), currentUser(c), c.Cookies(cookieSession),
		c.FormValue("current_password"), c.FormValue("password"))
	if err != nil {
		return s.authForm(c, "auth.change.title", pages.ChangePasswordPage, pages.ChangePasswordForm, pages.AuthForm{}, err)
	}
	s.flash(c, "success", "auth.change.done")
	return s.redirect(c, "/")
}

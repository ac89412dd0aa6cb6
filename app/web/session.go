package web

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"mailer/app/auth"
	"mailer/app/mailing"
	"mailer/views/viewctx"
)

const localUser = "user"

// loadUser resolves the session cookie to a user for this request. A session that no longer
// works (signed out elsewhere, expired, user blocked) is forgotten by the browser too.
func (s *Server) loadUser(c *fiber.Ctx) *mailing.User {
	cookie := c.Cookies(cookieSession)
	if cookie == "" {
		return nil
	}
	u, err := s.Auth.SessionUser(c.UserContext(), cookie)
	if err != nil {
		if mailing.ErrorCode(err) != mailing.ENOTFOUND {
			s.Log.Error("load session", "request_id", requestIDOf(c), "err", err)
		}
		s.clearCookie(c, cookieSession)
		return nil
	}
	c.Locals(localUser, u)
	c.Locals(localUserID, u.ID)
	return u
}

func viewUser(u *mailing.User) *viewctx.User {
	if u == nil {
		return nil
	}
	return &viewctx.User{ID: u.ID, Email: u.Email, Manager: u.IsManager()}
}

// currentUser is the signed-in user, or nil.
func currentUser(c *fiber.Ctx) *mailing.User {
	u, _ := c.Locals(localUser).(*mailing.User)
	return u
}

// signIn starts a session and rotates the CSRF seed: nothing an attacker planted in the
// browser before sign-in stays valid after it.
func (s *Server) signIn(c *fiber.Ctx, u *mailing.User) error {
	if old := c.Cookies(cookieSession); old != "" {
		s.Auth.EndSession(c.UserContext(), old, u.ID) //nolint:errcheck // best effort: a fresh session follows
	}
	token, err := s.Auth.StartSession(c.UserContext(), u)
	if err != nil {
		return err
	}
	s.setCookie(c, cookieSession, token, auth.SessionTTL)
	s.newCSRFSeed(c)
	return nil
}

// requireUser sends anonymous visitors to the sign-in page, coming back here afterwards.
func (s *Server) requireUser(c *fiber.Ctx) error {
	if currentUser(c) == nil {
		next := "/"
		if c.Method() == fiber.MethodGet {
			next = string(c.Request().URI().RequestURI())
		}
		return s.redirect(c, "/login?next="+url.QueryEscape(next))
	}
	if done, err := answerNotModified(c); done {
		return err
	}
	return c.Next()
}

// requireManager refuses everyone but managers.
func (s *Server) requireManager(c *fiber.Ctx) error {
	u := currentUser(c)
	if u == nil {
		return s.requireUser(c)
	}
	if !u.IsManager() {
		return fiber.ErrForbidden
	}
	if done, err := answerNotModified(c); done {
		return err
	}
	return c.Next()
}

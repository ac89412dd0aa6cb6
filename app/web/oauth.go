package web

import (
	"crypto/hmac"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/auth"
	"mailer/views/components"
	"mailer/views/pages"
)

const cookieOAuth = "mailer_oauth"

// oauthStart sends the browser to the provider. The state and goth's session ride in a
// signed, short-lived cookie, so any web process can finish the flow.
func (s *Server) oauthStart(c *fiber.Ctx) error {
	name := c.Params("provider")
	prov, ok := s.Providers.Get(name)
	if !ok {
		return fiber.ErrNotFound
	}
	state, _ := auth.NewToken()
	sess, err := prov.BeginAuth(state)
	if err != nil {
		return err
	}
	authURL, err := sess.GetAuthURL()
	if err != nil {
		return err
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(name + "\n" + state + "\n" + sess.Marshal()))
	s.setCookie(c, cookieOAuth, payload+"."+s.sign("oauth|"+payload), 10*time.Minute)
	return s.redirect(c, authURL)
}

// oauthCallback checks the state, exchanges the code and signs the provider's user in.
func (s *Server) oauthCallback(c *fiber.Ctx) error {
	name := c.Params("provider")
	prov, ok := s.Providers.Get(name)
	if !ok {
		return fiber.ErrNotFound
	}
	fail := func(msgID string) error {
		s.Log.Info("oauth sign-in failed", "provider", name, "reason", msgID)
		f := pages.AuthForm{Providers: s.Providers.Names(), FormState: components.FormState{Error: s.t(c, msgID)}}
		return s.render(c, View{Title: s.t(c, "auth.login.title"), Content: pages.LoginPage(f), Status: fiber.StatusUnauthorized})
	}
	raw := c.Cookies(cookieOAuth)
	s.clearCookie(c, cookieOAuth)
	payload, sig, _ := strings.Cut(raw, ".")
	if raw == "" || !hmac.Equal([]byte(sig), []byte(s.sign("oauth|"+payload))) {
		return fail("auth.oauth_failed")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return fail("auth.oauth_failed")
	}
	parts := strings.SplitN(string(b), "\n", 3)
	if len(parts) != 3 || parts[0] != name || c.Query("state") == "" ||
		!hmac.Equal([]byte(parts[1]), []byte(c.Query("state"))) {
		return fail("auth.oauth_failed")
	}
	sess, err := prov.UnmarshalSession(parts[2])
	if err != nil {
		return fail("auth.oauth_failed")
	}
	// Only the code: goth would honour a redirect_uri or code_verifier smuggled into the query.
	params := url.Values{"code": {c.Query("code")}}
	if _, err := sess.Authorize(prov, params); err != nil {
		s.Log.Info("oauth code exchange failed", "provider", name, "err", err)
		return fail("auth.oauth_failed")
	}
	gu, err := prov.FetchUser(sess)
	if err != nil {
		s.Log.Info("oauth user fetch failed", "provider", name, "err", err)
		return fail("auth.oauth_failed")
	}
	u, err := s.Auth.OAuthSignIn(c.UserContext(), name, gu)
	if err != nil {
		var st components.FormState
		if _, ferr := s.formError(c, &st, err); ferr == nil && st.Error != "" {
			f := pages.AuthForm{Providers: s.Providers.Names(), FormState: st}
			return s.render(c, View{Title: s.t(c, "auth.login.title"), Content: pages.LoginPage(f), Status: fiber.StatusUnauthorized})
		}
		return err
	}
	if err := s.signIn(c, u); err != nil {
		return err
	}
	return s.redirect(c, "/")
}

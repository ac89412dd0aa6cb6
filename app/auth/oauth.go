package auth

import (
	"context"
	"log/slog"
	"sort"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/google"
	"github.com/markbates/goth/providers/openidConnect"

	"mailer/app/config"
	"mailer/app/mailing"
)

// Providers are the configured OAuth / OpenID Connect providers, by the name used in URLs
// (/auth/{name}). goth is used without gothic: state and goth's session travel in our own
// signed cookie.
type Providers struct {
	byName map[string]goth.Provider
}

// Provider names in URLs and in the identities table.
const (
	ProviderGitHub = "github"
	ProviderGoogle = "google"
	ProviderOIDC   = "oidc"
)

// NewProviders builds the providers the configuration names. An OpenID Connect provider
// whose discovery document cannot be fetched is left out, with an error in the log, so an
// outage at the identity provider does not keep Mailer from starting.
func NewProviders(cfg config.Config, log *slog.Logger) *Providers {
	p := &Providers{byName: map[string]goth.Provider{}}
	cb := func(name string) string { return cfg.BaseURL.String() + "/auth/" + name + "/callback" }
	if cfg.GitHubKey != "" {
		p.byName[ProviderGitHub] = github.New(cfg.GitHubKey, cfg.GitHubSecret, cb(ProviderGitHub), "user:email")
	}
	if cfg.GoogleKey != "" {
		p.byName[ProviderGoogle] = google.New(cfg.GoogleKey, cfg.GoogleSecret, cb(ProviderGoogle), "email", "profile")
	}
	if cfg.OIDCDiscoveryURL != "" {
		oidc, err := openidConnect.New(cfg.OIDCClientID, cfg.OIDCClientSecret, cb(ProviderOIDC), cfg.OIDCDiscoveryURL,
			"openid", "email", "profile")
		if err != nil {
			log.Error("OpenID Connect provider unavailable", "discovery_url", cfg.OIDCDiscoveryURL, "err", err)
		} else {
			p.byName[ProviderOIDC] = oidc
		}
	}
	return p
}

// Get returns a configured provider.
func (p *Providers) Get(name string) (goth.Provider, bool) {
	prov, ok := p.byName[name]
	return prov, ok
}

// Names lists the configured providers in a stable order.
func (p *Providers) Names() []string {
	names := make([]string, 0, len(p.byName))
	for n := range p.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrEmailTaken refuses to attach a provider's account to an existing account with the same
// email: a provider that lets anyone claim any address would otherwise open that account.
var ErrEmailTaken = &mailing.Error{Code: mailing.ECONFLICT, Message: "auth.oauth_email_taken"}

// OAuthSignIn returns the account keyed by (provider, subject), creating a confirmed one on
// first sign-in. It never merges with an existing account by email.
func (s *Service) OAuthSignIn(ctx context.Context, provider string, gu goth.User) (*mailing.User, error) {
	if gu.UserID == "" {
		return nil, mailing.Errorf(mailing.EUNAUTHORIZED, "provider returned no subject")
	}
	u, err := s.Store.UserByIdentity(ctx, provider, gu.UserID)
	if err == nil {
		if u.Blocked() {
			return nil, ErrBlocked
		}
		return u, nil
	} else if mailing.ErrorCode(err) != mailing.ENOTFOUND {
		return nil, err
	}
	email, ok := mailing.NormalizeEmail(gu.Email)
	if !ok {
		return nil, &mailing.Error{Code: mailing.EINVALID, Message: "auth.oauth_no_email"}
	}
	u = &mailing.User{Email: email, Language: s.Config.DefaultLanguage}
	if err := s.Store.CreateUserWithIdentity(ctx, u, provider, gu.UserID); err != nil {
		if mailing.ErrorCode(err) == mailing.ECONFLICT {
			return nil, ErrEmailTaken
		}
		return nil, err
	}
	s.Log.Info("user signed up", "user_id", u.ID, "provider", provider)
	return u, nil
}

package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"

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
	// goth falls back to http.DefaultClient, which never times out: a provider that stops
	// answering would hold requests (and, for discovery, the start) forever.
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.GitHubKey != "" {
		gh := github.New(cfg.GitHubKey, cfg.GitHubSecret, cb(ProviderGitHub), "user:email")
		gh.HTTPClient = client
		p.byName[ProviderGitHub] = gh
	}
	if cfg.GoogleKey != "" {
		g := google.New(cfg.GoogleKey, cfg.GoogleSecret, cb(ProviderGoogle), "email", "profile")
		g.HTTPClient = client
		p.byName[ProviderGoogle] = g
	}
	if cfg.OIDCDiscoveryURL != "" {
		oidc, err := newOIDC(client, cfg, cb(ProviderOIDC))
		if err != nil {
			log.Error("OpenID Connect provider unavailable", "discovery_url", cfg.OIDCDiscoveryURL, "err", err)
		} else {
			p.byName[ProviderOIDC] = oidc
		}
	}
	return p
}

// newOIDC reads the discovery document with a bounded client, then builds goth's provider
// from its endpoints.
func newOIDC(client *http.Client, cfg config.Config, callback string) (*openidConnect.Provider, error) {
	resp, err := client.Get(cfg.OIDCDiscoveryURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery answered %s", resp.Status)
	}
	var d struct {
		Issuer   string `json:"issuer"`
		Auth     string `json:"authorization_endpoint"`
		Token    string `json:"token_endpoint"`
		UserInfo string `json:"userinfo_endpoint"`
		EndSess  string `json:"end_session_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	if d.Issuer == "" || d.Auth == "" || d.Token == "" {
		return nil, errors.New("discovery document lacks issuer, authorization or token endpoint")
	}
	p, err := openidConnect.NewCustomisedURL(cfg.OIDCClientID, cfg.OIDCClientSecret, callback,
		d.Auth, d.Token, d.Issuer, d.UserInfo, d.EndSess, "openid", "email", "profile")
	if err != nil {
		return nil, err
	}
	p.HTTPClient = client
	return p, nil
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
	// A provider may pass on an address it never verified; such an address is not proof.
	if v, ok := gu.RawData["email_verified"].(bool); ok && !v {
		return nil, &mailing.Error{Code: mailing.EINVALID, Message: "auth.oauth_no_email"}
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

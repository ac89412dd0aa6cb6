package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

const (
	oidcClientID     = "mailer-test-client"
	oidcClientSecret = "mailer-test-secret"
)

// fakeOIDC is an OpenID Connect provider inside the test: discovery, authorization, token
// and userinfo endpoints. The id_token it issues is a well-formed JWT with a fake signature
// (goth decodes it without checking the signature, but checks aud, iss and exp).
type fakeOIDC struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	subject    string // the user the next /authorize signs in
	email      string
	seq        int
	codes      map[string]oidcGrant // authorization code → grant, until exchanged
	tokens     map[string]oidcGrant // access token → grant
	states     []string             // state of every /authorize, in order
	redirects  []string             // redirect_uri of every /authorize
	tokenCalls int                  // successful code exchanges
}

type oidcGrant struct {
	subject, email, redirectURI string
}

func startFakeOIDC(t *testing.T) *fakeOIDC {
	f := &fakeOIDC{t: t, codes: map[string]oidcGrant{}, tokens: map[string]oidcGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /userinfo", f.userinfo)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		oidcJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// setUser chooses who signs in at the provider from now on.
func (f *fakeOIDC) setUser(subject, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subject, f.email = subject, email
}

func (f *fakeOIDC) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

// lastAuthorize returns the state and redirect_uri of the latest /authorize.
func (f *fakeOIDC) lastAuthorize() (state, redirectURI string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 {
		return "", ""
	}
	return f.states[len(f.states)-1], f.redirects[len(f.redirects)-1]
}

func (f *fakeOIDC) discoveryURL() string { return f.srv.URL + "/.well-known/openid-configuration" }

// env configures Mailer for this provider.
func (f *fakeOIDC) env() map[string]string {
	return map[string]string{
		"OIDC_DISCOVERY_URL": f.discoveryURL(),
		"OIDC_CLIENT_ID":     oidcClientID,
		"OIDC_CLIENT_SECRET": oidcClientSecret,
	}
}

func oidcJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client sees a truncated body
}

func (f *fakeOIDC) discovery(w http.ResponseWriter, r *http.Request) {
	u := f.srv.URL
	oidcJSON(w, http.StatusOK, map[string]any{
		"issuer":                                u,
		"authorization_endpoint":                u + "/authorize",
		"token_endpoint":                        u + "/token",
		"userinfo_endpoint":                     u + "/userinfo",
		"jwks_uri":                              u + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (f *fakeOIDC) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state, redirectURI := q.Get("state"), q.Get("redirect_uri")
	if q.Get("client_id") != oidcClientID || q.Get("response_type") != "code" ||
		!strings.Contains(" "+q.Get("scope")+" ", " openid ") || state == "" || redirectURI == "" {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	back, err := url.Parse(redirectURI)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.seq++
	code := fmt.Sprintf("code-%d", f.seq)
	f.codes[code] = oidcGrant{subject: f.subject, email: f.email, redirectURI: redirectURI}
	f.states = append(f.states, state)
	f.redirects = append(f.redirects, redirectURI)
	f.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", state)
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeOIDC) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oidcJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: the client id and secret are form-encoded inside Basic auth.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != oidcClientID || secret != oidcClientSecret {
		oidcJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		oidcJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	f.mu.Lock()
	code := r.PostForm.Get("code")
	g, ok := f.codes[code]
	if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") {
		f.mu.Unlock()
		oidcJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	delete(f.codes, code) // a code works once
	f.seq++
	access := fmt.Sprintf("access-%d", f.seq)
	f.tokens[access] = g
	f.tokenCalls++
	f.mu.Unlock()

	now := time.Now() // goth checks exp against the real clock, not the test's
	oidcJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token": fakeJWT(map[string]any{
			"iss":   f.srv.URL,
			"aud":   oidcClientID,
			"sub":   g.subject,
			"email": g.email,
			"exp":   now.Add(time.Hour).Unix(),
			"iat":   now.Unix(),
		}),
	})
}

func (f *fakeOIDC) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	g, known := f.tokens[tok]
	f.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oidcJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	oidcJSON(w, http.StatusOK, map[string]any{"sub": g.subject, "email": g.email, "email_verified": true})
}

// fakeJWT encodes claims as a JWT whose signature nobody checks.
func fakeJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not-a-real-signature"))
}

// oidcServer starts Mailer configured for f.
func oidcServer(t *testing.T, f *fakeOIDC) *testutil.Server {
	return testutil.StartServer(t, testutil.ServerOptions{Env: f.env()})
}

// startOIDC runs the first two legs of a sign-in by hand: /auth/oidc in b, then the
// provider's authorization endpoint. It returns the callback URL the provider sent the
// browser back to (not yet visited).
func startOIDC(t *testing.T, b *browser, f *fakeOIDC) *url.URL {
	t.Helper()
	r := b.get("/auth/oidc")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /auth/oidc: %d, want 303; %.300s", r.StatusCode, r.Body)
	}
	authURL, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authURL.String(), f.srv.URL+"/authorize?") {
		t.Fatalf("GET /auth/oidc redirects to %q, want the provider's authorization endpoint", r.Header.Get("Location"))
	}
	state := authURL.Query().Get("state")
	if state == "" {
		t.Fatalf("authorization URL has no state: %s", authURL)
	}
	if want := b.srv.URL + "/auth/oidc/callback"; authURL.Query().Get("redirect_uri") != want {
		t.Fatalf("redirect_uri = %q, want %q", authURL.Query().Get("redirect_uri"), want)
	}
	if b.cookie("mailer_oauth") == "" {
		t.Fatal("no flow cookie set by /auth/oidc")
	}

	// The provider is another site: a client of its own, no redirects followed.
	pc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := pc.Get(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider /authorize: %d, want 302", resp.StatusCode)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Scheme+"://"+cb.Host+cb.Path != b.srv.URL+"/auth/oidc/callback" {
		t.Fatalf("provider redirects to %q, want our callback", resp.Header.Get("Location"))
	}
	if cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
		t.Fatalf("callback query %q: want state %q and a code", cb.RawQuery, state)
	}
	if gotState, gotRedirect := f.lastAuthorize(); gotState != state || gotRedirect != b.srv.URL+"/auth/oidc/callback" {
		t.Fatalf("provider saw state %q, redirect_uri %q", gotState, gotRedirect)
	}
	return cb
}

// callbackWith returns u's path and query with key set to value.
func callbackWith(u *url.URL, key, value string) string {
	q := u.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	return u.Path + "?" + q.Encode()
}

// requireAnonymous checks that b has no working session.
func requireAnonymous(t *testing.T, b *browser) {
	t.Helper()
	r := b.get("/account/password")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("/account/password: %d to %q, want 303 to /login (not signed in)", r.StatusCode, r.Header.Get("Location"))
	}
}

// requireSessionOf checks that b's session belongs to email.
func requireSessionOf(t *testing.T, b *browser, email string) {
	t.Helper()
	r := b.get("/account/password")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/account/password: %d to %q, want 200 (signed in)", r.StatusCode, r.Header.Get("Location"))
	}
	if !strings.Contains(r.Body, email) {
		t.Fatalf("/account/password does not show %q: %.500s", email, r.Body)
	}
}

func usersWithEmail(t *testing.T, srv *testutil.Server, email string) int64 {
	t.Helper()
	n, err := srv.App.Store.DB.NewSelect().TableExpr("users").Where("email = ?", email).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOIDCSignInEndToEnd(t *testing.T) {
	f := startFakeOIDC(t)
	srv := oidcServer(t, f)
	ctx := context.Background()
	const sub, email = "oidc-subject-alice", "alice@example.com"
	f.setUser(sub, email)

	b := newBrowser(t, srv)
	login := b.get("/login")
	if login.StatusCode != 200 || !strings.Contains(login.Body, `href="/auth/oidc"`) || !strings.Contains(login.Body, "OpenID Connect") {
		t.Fatalf("login page has no OpenID Connect button: %d %.2000s", login.StatusCode, login.Body)
	}

	cb := startOIDC(t, b, f)
	r := b.get(cb.RequestURI())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d to %q, want 303 to /; %.500s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	if b.cookie("mailer_oauth") != "" {
		t.Error("the flow cookie outlived the callback")
	}
	if b.cookie("mailer_session") == "" {
		t.Fatal("no session cookie after the callback")
	}
	requireSessionOf(t, b, email)
	if n := f.exchanges(); n != 1 {
		t.Fatalf("code exchanged %d times, want 1", n)
	}

	first, err := srv.App.Store.UserByIdentity(ctx, "oidc", sub)
	if err != nil {
		t.Fatalf("identity not stored: %v", err)
	}
	if first.Email != email || !first.Confirmed() || first.PasswordHash != "" {
		t.Fatalf("new account: email %q, confirmed %v, has password %v", first.Email, first.Confirmed(), first.PasswordHash != "")
	}

	// Again, from another browser: the same account, no second one.
	b2 := newBrowser(t, srv)
	r = b2.get(startOIDC(t, b2, f).RequestURI())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("second callback: %d to %q; %.500s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	requireSessionOf(t, b2, email)
	again, err := srv.App.Store.UserByIdentity(ctx, "oidc", sub)
	if err != nil || again.ID != first.ID {
		t.Fatalf("second sign-in reached user %v (%v), want %d", again.ID, err, first.ID)
	}
	if n := usersWithEmail(t, srv, email); n != 1 {
		t.Fatalf("%d users with %s, want 1", n, email)
	}

	// The account is keyed by the subject: an address changed at the provider still
	// reaches it, and creates nothing.
	f.setUser(sub, "alice.new@example.com")
	b3 := newBrowser(t, srv)
	if r := b3.get(startOIDC(t, b3, f).RequestURI()); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("third callback: %d to %q; %.500s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	requireSessionOf(t, b3, email)
	if n := usersWithEmail(t, srv, "alice.new@example.com"); n != 0 {
		t.Fatalf("a second account was created for the new address")
	}
}

func TestOIDCStateMismatchRefused(t *testing.T) {
	f := startFakeOIDC(t)
	srv := oidcServer(t, f)
	f.setUser("oidc-subject-carol", "carol@example.com")

	refused := func(t *testing.T, r response) {
		t.Helper()
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("callback: %d to %q, want 401", r.StatusCode, r.Header.Get("Location"))
		}
		if !strings.Contains(r.Body, "did not work") {
			t.Fatalf("no failure message: %.1000s", r.Body)
		}
	}

	t.Run("tampered state", func(t *testing.T) {
		b := newBrowser(t, srv)
		cb := startOIDC(t, b, f)
		refused(t, b.get(callbackWith(cb, "state", "forged-"+cb.Query().Get("state"))))
		requireAnonymous(t, b)
		// The flow cookie is spent: the genuine answer cannot be replayed after a refusal.
		refused(t, b.get(cb.RequestURI()))
		requireAnonymous(t, b)
	})

	t.Run("no state", func(t *testing.T) {
		b := newBrowser(t, srv)
		cb := startOIDC(t, b, f)
		refused(t, b.get(callbackWith(cb, "state", "")))
		requireAnonymous(t, b)
	})

	t.Run("callback in a browser that did not start the flow", func(t *testing.T) {
		// Login CSRF: an attacker's own code and state sent to a victim's browser.
		attacker := newBrowser(t, srv)
		cb := startOIDC(t, attacker, f)
		victim := newBrowser(t, srv)
		refused(t, victim.get(cb.RequestURI()))
		requireAnonymous(t, victim)
	})

	if n := f.exchanges(); n != 0 {
		t.Fatalf("the code was exchanged %d times despite the refusals", n)
	}
	if _, err := srv.App.Store.UserByIdentity(context.Background(), "oidc", "oidc-subject-carol"); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("UserByIdentity after refusals: %v, want not found", err)
	}
}

func TestOIDCDoesNotMergeWithExistingEmail(t *testing.T) {
	f := startFakeOIDC(t)
	srv := oidcServer(t, f)
	ctx := context.Background()
	const email, password = "bob@example.com", "correct horse battery staple"
	owner, err := srv.App.Auth.CreateConfirmedUser(ctx, email, password, false)
	if err != nil {
		t.Fatal(err)
	}

	for i, claimed := range []string{email, "Bob@Example.COM"} {
		sub := fmt.Sprintf("oidc-subject-mallory-%d", i)
		t.Run(claimed, func(t *testing.T) {
			f.setUser(sub, claimed)
			b := newBrowser(t, srv)
			r := b.get(startOIDC(t, b, f).RequestURI())
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("callback: %d to %q, want 401", r.StatusCode, r.Header.Get("Location"))
			}
			if !strings.Contains(r.Body, "already exists") {
				t.Fatalf("no 'already exists' message: %.1000s", r.Body)
			}
			requireAnonymous(t, b)
			if _, err := srv.App.Store.UserByIdentity(ctx, "oidc", sub); mailing.ErrorCode(err) != mailing.ENOTFOUND {
				t.Fatalf("UserByIdentity: %v, want not found", err)
			}
		})
	}
	if n := usersWithEmail(t, srv, email); n != 1 {
		t.Fatalf("%d users with %s, want 1", n, email)
	}

	// The password account is untouched and still signs in.
	b := newBrowser(t, srv)
	r := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("password sign-in: %d to %q; %.500s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	requireSessionOf(t, b, email)
	u, err := srv.App.Store.UserByEmail(ctx, email)
	if err != nil || u.ID != owner.ID || u.PasswordHash != owner.PasswordHash {
		t.Fatalf("password account changed: %+v, %v", u, err)
	}
}

func TestOAuthProvidersAppearOnlyWhenConfigured(t *testing.T) {
	noProviders := func(t *testing.T, srv *testutil.Server) {
		t.Helper()
		b := newBrowser(t, srv)
		for _, page := range []string{"/login", "/register"} {
			r := b.get(page)
			if r.StatusCode != 200 || strings.Contains(r.Body, `href="/auth/`) || strings.Contains(r.Body, "OpenID Connect") {
				t.Fatalf("%s: %d, offers a provider: %.2000s", page, r.StatusCode, r.Body)
			}
		}
		for _, path := range []string{"/auth/oidc", "/auth/oidc/callback?code=x&state=y", "/auth/github", "/auth/google"} {
			if r := b.get(path); r.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: %d to %q, want 404", path, r.StatusCode, r.Header.Get("Location"))
			}
		}
	}

	t.Run("not configured", func(t *testing.T) {
		noProviders(t, testutil.StartServer(t, testutil.ServerOptions{}))
	})

	t.Run("discovery unreachable", func(t *testing.T) {
		// A port nobody listens on: Mailer starts anyway, without the provider.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String() + "/.well-known/openid-configuration"
		ln.Close()
		srv := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{
			"OIDC_DISCOVERY_URL": dead, "OIDC_CLIENT_ID": oidcClientID, "OIDC_CLIENT_SECRET": oidcClientSecret,
		}})
		noProviders(t, srv)
		if !strings.Contains(srv.Logs.String(), "OpenID Connect provider unavailable") {
			t.Fatalf("the unreachable provider was not logged:\n%s", srv.Logs.String())
		}
	})

	t.Run("configured", func(t *testing.T) {
		srv := oidcServer(t, startFakeOIDC(t))
		b := newBrowser(t, srv)
		for _, page := range []string{"/login", "/register"} {
			r := b.get(page)
			if r.StatusCode != 200 || !strings.Contains(r.Body, `href="/auth/oidc"`) {
				t.Fatalf("%s: %d, no OpenID Connect button: %.2000s", page, r.StatusCode, r.Body)
			}
			if strings.Contains(r.Body, `href="/auth/github"`) || strings.Contains(r.Body, `href="/auth/google"`) {
				t.Fatalf("%s offers a provider that is not configured", page)
			}
		}
		if r := b.get("/auth/github"); r.StatusCode != http.StatusNotFound {
			t.Fatalf("/auth/github: %d, want 404", r.StatusCode)
		}
	})
}

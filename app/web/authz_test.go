package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
	"mailer/static"
)

// azTable is every route of the router, as GetRoutes reports it (the HEAD twin of each GET
// and the USE middleware left out), one a line, with the status each actor gets when the
// request carries its CSRF proof: the form token, or for the queue monitor this site's
// Origin. Without the proof every unsafe route is 403, /unsubscribe/:token (its signed
// token is the check), /subscribe/… (public forms posted from other sites; the
// confirmation's signed token is the check) and the bounce webhooks (the provider's
// signature is) excepted; safe methods answer as with it.
//
// Actors: anonymous; the owner of the objects the ids name; another user; a manager (mgr);
// a blocked user whose session cookie was valid until the block. "login" is a 303 to /login
// (for HTMX, an HX-Redirect there); any other 303 goes elsewhere. Options: "fresh" makes a
// new object of the owner's for the route (the owner's cell, run last, deletes it); "htmx"
// sends HX-Request. Ids name the owner's client, message and mailing; a user id names a
// user who is none of the actors, for the manager to block. Tokens are dummies, and the
// provider "oidc" is not configured. * is css/app.css under /static, api/queues (the
// monitor's API; GET lists the queues, other methods are 405) under /manager/queues.
const azTable = `
# method pattern                            anon   owner  other  mgr    blocked option
# Public, no session.
GET      /static/*                          200    200    200    200    200
GET      /healthz                           200    200    200    200    200
GET      /metrics                           401    403    403    200    401
GET      /                                  200    200    200    200    200
POST     /lang                              303    303    303    303    303

# Accounts.
GET      /register                          200    200    200    200    200
POST     /register                          200    200    200    200    200
GET      /confirm/:token                    404    404    404    404    404
GET      /login                             200    303    303    303    200
POST     /login                             422    422    422    422    422
POST     /logout                            login  login  login  login  login
GET      /password/reset                    200    200    200    200    200
POST     /password/reset                    200    200    200    200    200
GET      /password/reset/:token             404    404    404    404    404
POST     /password/reset/:token             404    404    404    404    404
GET      /account/password                  login  200    200    200    login
POST     /account/password                  login  422    422    422    login
GET      /auth/:provider                    404    404    404    404    404
GET      /auth/:provider/callback           404    404    404    404    404
GET      /unsubscribe/:token                404    404    404    404    404
POST     /unsubscribe/:token                404    404    404    404    404
# Public subscribe forms: :key is the owner's form, whose POST any visitor may send from
# another site (it only emails a confirmation link); :token is a dummy link.
GET      /subscribe/confirm/:token          404    404    404    404    404
POST     /subscribe/confirm/:token          404    404    404    404    404
GET      /subscribe/:key                    200    200    200    200    200
POST     /subscribe/:key                    200    200    200    200    200
# Bounce webhooks: providers call them without session or CSRF; off (404) until configured.
POST     /webhooks/bounces                  404    404    404    404    404
POST     /webhooks/bounces/:provider        404    404    404    404    404

# Clients: reads are the owner's (or a manager's); changes the owner's alone.
GET      /clients/                          login  200    200    200    login
GET      /clients/import                    login  200    200    200    login
POST     /clients/import                    login  422    422    422    login
POST     /clients/import/commit             login  410    410    410    login
GET      /clients/export.csv                login  200    200    200    login
POST     /clients/tags                      login  303    303    303    login
GET      /clients/new                       login  200    200    200    login
POST     /clients/new                       login  303    303    303    login
GET      /clients/:id<int>                  login  200    404    200    login
GET      /clients/:id<int>/edit             login  200    404    403    login
POST     /clients/:id<int>/edit             login  303    404    403    login
GET      /clients/:id<int>/delete           login  200    404    403    login
POST     /clients/:id<int>/delete           login  303    404    403    login   fresh

# Messages. A new message of another user or a manager set in the owner's layout is
# refused as not theirs (422).
GET      /messages/                         login  200    200    200    login
GET      /messages/new                      login  200    200    200    login
POST     /messages/new                      login  303    422    422    login
GET      /messages/:id<int>                 login  200    404    200    login
GET      /messages/:id<int>/edit            login  200    404    403    login
POST     /messages/:id<int>/edit            login  303    404    403    login
GET      /messages/:id<int>/delete          login  200    404    403    login
POST     /messages/:id<int>/delete          login  303    404    403    login   fresh
GET      /messages/:id<int>/preview         login  200    404    200    login
POST     /messages/preview                  login  200    200    200    login
GET      /messages/preview/:token           login  404    404    404    login
POST     /messages/:id<int>/test            login  303    404    403    login

# Suppressions: a user's own list; a manager reads everyone's.
GET      /suppressions/                     login  200    200    200    login
GET      /suppressions/new                  login  200    200    200    login
POST     /suppressions/new                  login  303    303    303    login
POST     /suppressions/import               login  303    303    303    login
GET      /suppressions/:id<int>             login  200    404    200    login
GET      /suppressions/:id<int>/delete      login  200    404    403    login
POST     /suppressions/:id<int>/delete      login  303    404    403    login   fresh

# Layouts, like messages.
GET      /layouts/                          login  200    200    200    login
GET      /layouts/new                       login  200    200    200    login
POST     /layouts/new                       login  303    303    303    login
GET      /layouts/:id<int>                  login  200    404    200    login
GET      /layouts/:id<int>/edit             login  200    404    403    login
POST     /layouts/:id<int>/edit             login  303    404    403    login
GET      /layouts/:id<int>/delete           login  200    404    403    login
POST     /layouts/:id<int>/delete           login  303    404    403    login   fresh
GET      /layouts/:id<int>/preview          login  200    404    200    login

# Mailings. A new mailing of another user or a manager naming the owner's message and
# client is refused as not theirs (422).
GET      /mailings/                         login  200    200    200    login
GET      /mailings/new                      login  200    200    200    login
POST     /mailings/new                      login  303    422    422    login
GET      /mailings/recipients               login  200    200    200    login
GET      /mailings/:id<int>                 login  200    404    200    login
GET      /mailings/:id<int>/edit            login  200    404    403    login
POST     /mailings/:id<int>/edit            login  303    404    403    login
GET      /mailings/:id<int>/delete          login  200    404    403    login
POST     /mailings/:id<int>/delete          login  303    404    403    login   fresh
POST     /mailings/:id<int>/send            login  303    404    403    login
POST     /mailings/:id<int>/resend          login  303    404    403    login
GET      /mailings/:id<int>/progress        login  200    404    200    login   htmx
GET      /mailings/:id<int>/attempts        login  200    404    200    login
GET      /stats                             login  200    200    200    login

# Manager powers.
GET      /manager/users                     login  403    403    200    login
POST     /manager/users/:id<int>/block      login  403    403    303    login
POST     /manager/users/:id<int>/unblock    login  403    403    303    login
GET      /manager/audit                     login  403    403    200    login
POST     /mailings/:id<int>/disable         login  403    403    303    login
POST     /mailings/:id<int>/enable          login  403    403    303    login

# The queue monitor (asynqmon), every method.
GET      /manager/queues                    login  403    403    200    login
POST     /manager/queues                    login  403    403    200    login
PUT      /manager/queues                    login  403    403    200    login
DELETE   /manager/queues                    login  403    403    200    login
CONNECT  /manager/queues                    login  403    403    200    login
OPTIONS  /manager/queues                    login  403    403    200    login
TRACE    /manager/queues                    login  403    403    200    login
PATCH    /manager/queues                    login  403    403    200    login
GET      /manager/queues/*                  login  403    403    200    login
POST     /manager/queues/*                  login  403    403    405    login
PUT      /manager/queues/*                  login  403    403    405    login
DELETE   /manager/queues/*                  login  403    403    405    login
CONNECT  /manager/queues/*                  login  403    403    405    login
OPTIONS  /manager/queues/*                  login  403    403    405    login
TRACE    /manager/queues/*                  login  403    403    405    login
PATCH    /manager/queues/*                  login  403    403    405    login

# Profile.
GET      /account                           login  200    200    200    login
POST     /account                           login  303    303    303    login

# API tokens: one's own; revoking another's token (a manager's too) is 404.
GET      /account/tokens                    login  200    200    200    login
POST     /account/tokens                    login  200    200    200    login
POST     /account/tokens/:id<int>/revoke    login  303    404    404    login   fresh
# The subscribe form's settings and key: each actor's own form.
POST     /account/subscribe                 login  303    303    303    login
POST     /account/subscribe/key             login  303    303    303    login

# The JSON API and its document. Each actor sends its own bearer token and no cookie
# (anonymous: none; blocked: one made before the block), so CSRF proof changes nothing
# and each cell is sent once. Writes name the owner's objects, as the pages do.
GET      /api/openapi.json                  200    200    200    200    200
GET      /api/docs                          200    200    200    200    200
GET      /api/v1/clients                    401    200    200    200    401
POST     /api/v1/clients                    401    201    201    201    401
POST     /api/v1/clients/bulk               401    200    200    200    401
GET      /api/v1/clients/:id<int>           401    200    404    200    401
PATCH    /api/v1/clients/:id<int>           401    200    404    403    401
DELETE   /api/v1/clients/:id<int>           401    204    404    403    401     fresh
GET      /api/v1/messages                   401    200    200    200    401
POST     /api/v1/messages                   401    201    201    201    401
GET      /api/v1/messages/:id<int>          401    200    404    200    401
PATCH    /api/v1/messages/:id<int>          401    200    404    403    401
DELETE   /api/v1/messages/:id<int>          401    204    404    403    401     fresh
POST     /api/v1/messages/:id<int>/send     401    202    404    403    401
GET      /api/v1/deliveries/:id<int>        401    200    404    200    401
GET      /api/v1/mailings                   401    200    200    200    401
POST     /api/v1/mailings                   401    201    422    422    401
GET      /api/v1/mailings/:id<int>          401    200    404    200    401
PATCH    /api/v1/mailings/:id<int>          401    200    404    403    401
DELETE   /api/v1/mailings/:id<int>          401    204    404    403    401     fresh
POST     /api/v1/mailings/:id<int>/send     401    202    404    403    401
GET      /api/v1/mailings/:id<int>/runs     401    200    404    200    401
GET      /api/v1/mailings/:id<int>/attempts 401    200    404    200    401
GET      /api/v1/runs/:id<int>              401    200    404    200    401
GET      /api/v1/tags                       401    200    200    200    401
GET      /api/v1/suppressions               401    200    200    200    401
POST     /api/v1/suppressions               401    201    201    201    401
DELETE   /api/v1/suppressions/:id<int>      401    204    404    403    401     fresh
GET      /api/v1/stats                      401    200    200    200    401
`

// toLogin stands for "login" in azTable: a 303 whose Location is /login…, or for an HTMX
// request a 200 whose HX-Redirect is.
const toLogin = -303

// azWant is what each actor gets from a route with the CSRF proof.
type azWant struct{ anon, owner, other, manager, blocked int }

// azOpt changes how a route's cells are prepared.
type azOpt int

const (
	azFresh azOpt = 1 << iota
	azHTMX
)

type azRoute struct {
	method, path string
	want         azWant
	opt          azOpt
}

// azRoutes reads azTable.
func azRoutes(t *testing.T) []azRoute {
	t.Helper()
	var routes []azRoute
	for n, line := range strings.Split(azTable, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 7 && len(f) != 8 {
			t.Fatalf("azTable line %d: want method, pattern, 5 statuses and maybe an option: %q", n, line)
		}
		var codes [5]int
		for i, v := range f[2:7] {
			code, err := strconv.Atoi(v)
			switch {
			case v == "login":
				code = toLogin
			case err != nil || code < 100 || code > 599:
				t.Fatalf("azTable line %d: bad status %q", n, v)
			}
			codes[i] = code
		}
		r := azRoute{method: f[0], path: f[1], want: azWant{codes[0], codes[1], codes[2], codes[3], codes[4]}}
		if len(f) == 8 {
			switch f[7] {
			case "fresh":
				r.opt = azFresh
			case "htmx":
				r.opt = azHTMX
			default:
				t.Fatalf("azTable line %d: unknown option %q", n, f[7])
			}
		}
		routes = append(routes, r)
	}
	return routes
}

func azSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// azWithoutProof is what a cell gets without the CSRF proof.
func azWithoutProof(method, pattern string, want int) int {
	if azSafe(method) || strings.HasPrefix(pattern, "/unsubscribe/") || strings.HasPrefix(pattern, "/subscribe/") ||
		strings.HasPrefix(pattern, "/webhooks/") {
		return want
	}
	return http.StatusForbidden
}

func azStatusText(code int) string {
	if code == toLogin {
		return "303→/login"
	}
	return strconv.Itoa(code)
}

// azActor is one browser of the matrix.
type azActor struct {
	name  string
	b     *browser
	email string       // "" for the anonymous visitor
	stale *http.Cookie // the blocked user's session cookie, sent again with every request
	seed  string       // the CSRF seed cookie b.csrf was read with
	token string       // the actor's API token ("" for the anonymous visitor)
}

// azFixture is the owner's data the routes' ids name, and the actors.
type azFixture struct {
	t                               *testing.T
	srv                             *testutil.Server
	ownerID                         int64
	clientID, messageID, mailingID  int64
	layoutID, suppressionID, runID  int64
	deliveryID                      int64
	clientEmail                     string
	victimID                        int64
	anon, owner, other, mgr, banned *azActor
	seq                             int
	fresh                           []string // paths of the objects made for one route, to be deleted there
}

func (fx *azFixture) actors() []*azActor {
	// The owner goes last: its cell of a route is the one that may delete the route's object.
	return []*azActor{fx.anon, fx.banned, fx.other, fx.mgr, fx.owner}
}

func (fx *azFixture) want(a *azActor, w azWant) int {
	switch a {
	case fx.anon:
		return w.anon
	case fx.owner:
		return w.owner
	case fx.other:
		return w.other
	case fx.mgr:
		return w.manager
	default:
		return w.blocked
	}
}

func (fx *azFixture) bump() { fx.srv.App.Versions.Bump(context.Background(), fx.ownerID) }

func (fx *azFixture) newClient() int64 {
	fx.t.Helper()
	fx.seq++
	c := &mailing.Client{OwnerID: fx.ownerID, Email: fmt.Sprintf("fresh%d@example.com", fx.seq), FullName: "Fresh"}
	c.Validate()
	if err := fx.srv.App.Store.CreateClient(context.Background(), c); err != nil {
		fx.t.Fatal(err)
	}
	fx.bump()
	return c.ID
}

func (fx *azFixture) newMessage() int64 {
	fx.t.Helper()
	m := &mailing.Message{OwnerID: fx.ownerID, Subject: "Spare", Body: "Hello {{.Name}}"}
	m.Validate()
	if err := fx.srv.App.Store.CreateMessage(context.Background(), m); err != nil {
		fx.t.Fatal(err)
	}
	fx.bump()
	return m.ID
}

func (fx *azFixture) newSuppression() int64 {
	fx.t.Helper()
	fx.seq++
	email := fmt.Sprintf("gone%d@example.com", fx.seq)
	if _, err := fx.srv.App.Store.Suppress(context.Background(), []mailing.Suppression{{OwnerID: fx.ownerID, Email: email, Reason: mailing.SuppressManual}}); err != nil {
		fx.t.Fatal(err)
	}
	page, err := fx.srv.App.Store.ListSuppressions(context.Background(), mailing.Scope{UserID: fx.ownerID}, mailing.ListParams{Q: email})
	if err != nil || len(page.Items) != 1 {
		fx.t.Fatalf("suppression %s: %v", email, err)
	}
	fx.bump()
	return page.Items[0].ID
}

func (fx *azFixture) newLayout() int64 {
	fx.t.Helper()
	l := &mailing.Layout{OwnerID: fx.ownerID, Name: "Spare", HTML: mailing.DefaultLayoutHTML}
	if errs := l.Validate(); len(errs) > 0 {
		fx.t.Fatal(errs)
	}
	if err := fx.srv.App.Store.SaveLayout(context.Background(), l); err != nil {
		fx.t.Fatal(err)
	}
	fx.bump()
	return l.ID
}

func (fx *azFixture) newMailing() int64 {
	fx.t.Helper()
	now := fx.srv.Clock.Now()
	m := &mailing.Mailing{OwnerID: fx.ownerID, MessageID: fx.messageID, StartAt: now, EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := fx.srv.App.Store.SaveMailing(context.Background(), m, mailing.Recipients{ClientIDs: []int64{fx.clientID}}); err != nil {
		fx.t.Fatal(err)
	}
	fx.bump()
	return m.ID
}

// path fills a route pattern in: ids name the owner's objects (a user id names the
// victim, whom the manager may block), tokens are dummies, the provider is not configured.
func (fx *azFixture) path(r azRoute) string {
	p := r.path
	if strings.Contains(p, ":id<int>") {
		var id int64
		// An API path names the same objects as the page of the same name.
		q := strings.TrimPrefix(p, "/api/v1")
		switch {
		case strings.HasPrefix(p, "/account/tokens/"):
			id = fx.newToken()
		case strings.HasPrefix(q, "/runs/"):
			id = fx.runID
		case strings.HasPrefix(q, "/deliveries/"):
			id = fx.deliveryID
		case strings.HasPrefix(q, "/clients/"):
			id = fx.clientID
			if r.opt&azFresh != 0 {
				id = fx.newClient()
			}
		case strings.HasPrefix(q, "/messages/"):
			id = fx.messageID
			if r.opt&azFresh != 0 {
				id = fx.newMessage()
			}
		case strings.HasPrefix(q, "/mailings/"):
			id = fx.mailingID
			if r.opt&azFresh != 0 {
				id = fx.newMailing()
			}
		case strings.HasPrefix(q, "/suppressions/"):
			id = fx.suppressionID
			if r.opt&azFresh != 0 {
				id = fx.newSuppression()
			}
		case strings.HasPrefix(q, "/layouts/"):
			id = fx.layoutID
			if r.opt&azFresh != 0 {
				id = fx.newLayout()
			}
		case strings.HasPrefix(p, "/manager/users/"):
			id = fx.victimID
		default:
			fx.t.Fatalf("no id for %s", p)
		}
		p = strings.Replace(p, ":id<int>", strconv.FormatInt(id, 10), 1)
		if r.opt&azFresh != 0 && !strings.HasPrefix(p, "/account/tokens/") {
			fx.fresh = append(fx.fresh, strings.TrimSuffix(strings.TrimPrefix(p, "/api/v1"), "/delete"))
		}
	}
	switch {
	case p == "/static/*":
		return static.Path("css/app.css")
	case p == "/manager/queues/*":
		return "/manager/queues/api/queues"
	}
	if strings.Contains(p, ":key") {
		p = strings.Replace(p, ":key", fx.subscribeKey(), 1)
	}
	return strings.NewReplacer(":token", "dummy-token", ":provider", "oidc").Replace(p)
}

// subscribeKey is the owner's public form key as it is now (a cell may have changed it).
func (fx *azFixture) subscribeKey() string {
	fx.t.Helper()
	f, err := fx.srv.App.Store.SubscribeForm(context.Background(), fx.ownerID, mailing.NewSubscribeKey())
	if err != nil {
		fx.t.Fatal(err)
	}
	return f.Key
}

// form is a harmless, valid-looking form for an unsafe route (without the CSRF field).
func (fx *azFixture) form(pattern string) url.Values {
	client, message := strconv.FormatInt(fx.clientID, 10), strconv.FormatInt(fx.messageID, 10)
	mailingForm := url.Values{"message_id": {message}, "client_ids": {client},
		"start_at": {"2026-01-05T09:00"}, "end_at": {"2026-03-31T12:00"}, "period": {"none"}}
	switch pattern {
	case "/lang":
		return url.Values{"lang": {"en"}, "next": {"/"}}
	case "/register":
		return url.Values{"email": {"newcomer@example.com"}, "password": {"a long enough password"}}
	case "/login":
		return url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}}
	case "/password/reset":
		return url.Values{"email": {"nobody@example.com"}}
	case "/password/reset/:token":
		return url.Values{"password": {"a long enough password"}}
	case "/account/password":
		return url.Values{"current_password": {"not the password"}, "password": {"a long enough password"}}
	case "/clients/tags":
		return url.Values{"tag": {"matrix"}, "scope": {"all"}, "action": {"add"}}
	case "/suppressions/new":
		return url.Values{"email": {"blocked-by-matrix@example.com"}}
	case "/clients/import/commit":
		return url.Values{"token": {"dummy-token"}}
	case "/clients/new":
		return url.Values{"email": {"matrix@example.com"}, "full_name": {"Matrix"}, "comment": {"from the matrix"}}
	case "/clients/:id<int>/edit":
		return url.Values{"email": {fx.clientEmail}, "full_name": {"Reader"}, "comment": {"edited"}}
	case "/messages/new", "/messages/:id<int>/edit", "/messages/preview":
		layout := strconv.FormatInt(fx.layoutID, 10)
		return url.Values{"subject": {"News for {{.Name}}"}, "body": {"Hello {{.Name}}"}, "format": {"markdown"}, "layout_id": {layout}}
	case "/layouts/new", "/layouts/:id<int>/edit":
		return url.Values{"name": {"Matrix"}, "html": {"<html><body>{{.Content}}</body></html>"}}
	case "/mailings/new", "/mailings/:id<int>/edit":
		return mailingForm
	case "/account":
		return url.Values{"language": {"en"}, "timezone": {"UTC"}}
	case "/account/tokens":
		return url.Values{"name": {"matrix"}}
	case "/account/subscribe":
		return url.Values{"enabled": {"1"}, "tag": {"matrix"}}
	case "/subscribe/:key":
		return url.Values{"email": {"visitor@example.com"}, "name": {"Visitor"}}
	}
	return url.Values{}
}

// apiBody is a valid JSON body for an API route, naming the owner's objects.
func (fx *azFixture) apiBody(method, pattern string) string {
	fx.seq++
	switch method + " " + pattern {
	case "POST /api/v1/clients":
		return fmt.Sprintf(`{"email":"api%d@example.com","full_name":"API"}`, fx.seq)
	case "POST /api/v1/clients/bulk":
		return fmt.Sprintf(`{"clients":[{"email":"bulk%d@example.com"}]}`, fx.seq)
	case "PATCH /api/v1/clients/:id<int>":
		return `{"comment":"from the API"}`
	case "POST /api/v1/messages", "PATCH /api/v1/messages/:id<int>":
		return `{"subject":"API {{.Name}}","body":"Hello {{.Name}}"}`
	case "POST /api/v1/mailings":
		return fmt.Sprintf(`{"message_id":%d,"client_ids":[%d],"start_at":"2026-01-05T09:00:00Z","end_at":"2026-03-31T12:00:00Z","period":"none"}`,
			fx.messageID, fx.clientID)
	case "POST /api/v1/messages/:id<int>/send":
		return `{"email":"receipt@example.com","name":"Buyer"}`
	case "PATCH /api/v1/mailings/:id<int>":
		return `{"period":"none"}`
	case "POST /api/v1/suppressions":
		return fmt.Sprintf(`{"email":"api-gone%d@example.com"}`, fx.seq)
	}
	return ""
}

// sendAPI makes an API cell's request: the actor's bearer token, no cookie, a JSON body.
func (fx *azFixture) sendAPI(a *azActor, r azRoute, path string) response {
	fx.t.Helper()
	var body io.Reader
	raw := fx.apiBody(r.method, r.path)
	if raw != "" {
		body = strings.NewReader(raw)
	}
	req, err := http.NewRequest(r.method, fx.srv.URL+path, body)
	if err != nil {
		fx.t.Fatal(err)
	}
	if raw != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

func (fx *azFixture) newToken() int64 {
	fx.t.Helper()
	u, err := fx.srv.App.Store.UserByID(context.Background(), fx.ownerID)
	if err != nil {
		fx.t.Fatal(err)
	}
	tok, _, err := fx.srv.App.Auth.CreateAPIToken(context.Background(), u, "spare", false)
	if err != nil {
		fx.t.Fatal(err)
	}
	return tok.ID
}

// send makes one cell's request: with proof, the form carries a's CSRF token and the
// request this site's Origin; without, neither.
func (fx *azFixture) send(a *azActor, r azRoute, path string, proof bool) response {
	fx.t.Helper()
	if strings.HasPrefix(r.path, "/api/") {
		return fx.sendAPI(a, r, path)
	}
	base, _ := url.Parse(fx.srv.URL)
	if a.stale != nil {
		a.b.c.Jar.SetCookies(base, []*http.Cookie{a.stale})
	}
	var body io.Reader
	form := url.Values{}
	withBody := !azSafe(r.method) && r.method != http.MethodConnect && r.method != http.MethodTrace
	if withBody {
		form = fx.form(r.path)
		if proof {
			form.Set("_csrf", a.b.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(r.method, fx.srv.URL+path, body)
	if err != nil {
		fx.t.Fatal(err)
	}
	if withBody {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if proof {
		req.Header.Set("Origin", fx.srv.URL)
		if !withBody {
			req.Header.Set("X-CSRF-Token", a.b.csrf)
		}
	}
	if r.opt&azHTMX != 0 {
		req.Header.Set("HX-Request", "true")
	}
	if r.method == http.MethodConnect {
		// A 200 to CONNECT turns the connection into a tunnel for net/http: end it instead.
		req.Close = true
	}
	return a.b.do(req)
}

func azStatus(r response) int {
	if r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/login") {
		return toLogin
	}
	if r.StatusCode == http.StatusOK && strings.HasPrefix(r.Header.Get("HX-Redirect"), "/login") {
		return toLogin
	}
	return r.StatusCode
}

// settle puts the actors back as they were after a route that signed one out or rotated
// a CSRF seed: signed-in actors signed in again, every token fresh.
func (fx *azFixture) settle() {
	fx.t.Helper()
	ctx := context.Background()
	for _, a := range fx.actors() {
		if a.email != "" && a.stale == nil {
			if _, err := fx.srv.App.Auth.SessionUser(ctx, a.b.cookie("mailer_session")); err != nil {
				a.b.get("/login") // a token for the sign-in form
				if r := a.b.post("/login", url.Values{"email": {a.email}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
					fx.t.Fatalf("%s signs in again: %d", a.name, r.StatusCode)
				}
				a.seed = ""
			}
		}
		if seed := a.b.cookie("mailer_csrf"); seed != a.seed || a.b.csrf == "" {
			a.b.get("/")
			a.seed = a.b.cookie("mailer_csrf")
		}
	}
}

func azFixtureFor(t *testing.T) *azFixture {
	t.Helper()
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{
		"SMTP_URL":             sink.URL(),
		"RATE_LIMIT_LOGIN":     "10000/1m",
		"RATE_LIMIT_REGISTER":  "10000/1m",
		"RATE_LIMIT_RESET":     "10000/1m",
		"RATE_LIMIT_SUBSCRIBE": "10000/1m",
	}})
	ctx := context.Background()
	fx := &azFixture{t: t, srv: srv}
	fx.owner = &azActor{name: "owner", b: account(t, srv, "owner@example.com", false), email: "owner@example.com"}
	fx.other = &azActor{name: "other", b: account(t, srv, "other@example.com", false), email: "other@example.com"}
	fx.mgr = &azActor{name: "manager", b: account(t, srv, "manager@example.com", true), email: "manager@example.com"}
	fx.anon = &azActor{name: "anonymous", b: newBrowser(t, srv)}
	fx.anon.b.get("/login")

	// The blocked user signs in, then is blocked: the session stops working at once.
	banned := account(t, srv, "blocked@example.com", false)
	if r := banned.get("/account/password"); r.StatusCode != http.StatusOK {
		t.Fatalf("the blocked user before the block: %d", r.StatusCode)
	}
	stale := &http.Cookie{Name: "mailer_session", Value: banned.cookie("mailer_session"), Path: "/"}
	bannedToken := apiToken(t, srv, "blocked@example.com", false, false)
	if stale.Value == "" {
		t.Fatal("the blocked user has no session cookie")
	}
	bu, err := srv.App.Store.UserByEmail(ctx, "blocked@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.App.Store.SetBlocked(ctx, bu.ID, true); err != nil {
		t.Fatal(err)
	}
	fx.banned = &azActor{name: "blocked", b: banned, email: "blocked@example.com", stale: stale, token: bannedToken}
	fx.owner.token = apiToken(t, srv, "owner@example.com", false, false)
	fx.other.token = apiToken(t, srv, "other@example.com", false, false)
	fx.mgr.token = apiToken(t, srv, "manager@example.com", true, false)

	victim, err := srv.App.Auth.CreateConfirmedUser(ctx, "victim@example.com", pw, false)
	if err != nil {
		t.Fatal(err)
	}
	fx.victimID = victim.ID

	// The owner's objects: a client, a message and a mailing with a finished run.
	fx.mailingID = mailingFor(t, srv, "owner@example.com", 1)
	m, err := srv.App.Store.MailingByID(ctx, mailing.Scope{All: true}, fx.mailingID)
	if err != nil {
		t.Fatal(err)
	}
	fx.ownerID, fx.messageID = m.OwnerID, m.MessageID
	ids, err := srv.App.Store.MailingRecipientIDs(ctx, fx.mailingID)
	if err != nil || len(ids) != 1 {
		t.Fatalf("recipients of the fixture mailing: %v %v", ids, err)
	}
	fx.clientID = ids[0]
	cl, err := srv.App.Store.ClientByID(ctx, mailing.Scope{UserID: fx.ownerID}, fx.clientID)
	if err != nil {
		t.Fatal(err)
	}
	fx.clientEmail = cl.Email
	// The fixture message is Markdown, so it has an HTML part to preview, set in a layout.
	fx.layoutID = fx.newLayout()
	fx.suppressionID = fx.newSuppression()
	msg, err := srv.App.Store.MessageByID(ctx, mailing.Scope{All: true}, fx.messageID)
	if err != nil {
		t.Fatal(err)
	}
	msg.Format, msg.LayoutID = mailing.FormatMarkdown, &fx.layoutID
	if err := srv.App.Store.SaveMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if r := fx.owner.b.post("/mailings/"+strconv.FormatInt(fx.mailingID, 10)+"/send", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send the fixture mailing: %d", r.StatusCode)
	}
	testutil.Eventually(t, 20*time.Second, "the fixture run to finish", func() bool {
		run, err := srv.App.Store.LatestRun(ctx, fx.mailingID)
		if err != nil {
			return false
		}
		p, err := srv.App.Store.Progress(ctx, run.ID)
		fx.runID = run.ID
		return err == nil && p.Total == 1 && p.Done()
	})
	attempts, err := srv.App.Store.ListAttempts(ctx, fx.mailingID, "", mailing.ListParams{Limit: 1})
	if err != nil || len(attempts.Items) != 1 {
		t.Fatalf("the fixture run's attempt: %v %v", attempts.Items, err)
	}
	fx.deliveryID = attempts.Items[0].DeliveryID
	fx.settle()
	return fx
}

func TestAuthorizationMatrix(t *testing.T) {
	table := azRoutes(t)
	fx := azFixtureFor(t)

	// The table and the router list the same routes.
	type key struct{ method, path string }
	inTable := map[key]bool{}
	for _, r := range table {
		k := key{r.method, r.path}
		if inTable[k] {
			t.Errorf("the table lists %s %s twice", r.method, r.path)
		}
		inTable[k] = true
	}
	inRouter := map[key]bool{}
	gets := map[string]bool{}
	routes := fx.srv.App.Web.App().GetRoutes(true)
	for _, rt := range routes {
		if rt.Method == http.MethodGet {
			gets[rt.Path] = true
		}
	}
	for _, rt := range routes {
		if rt.Method == "USE" || (rt.Method == http.MethodHead && gets[rt.Path]) {
			continue
		}
		k := key{rt.Method, rt.Path}
		inRouter[k] = true
		if !inTable[k] {
			t.Errorf("route %s %s is missing from the authorization table", rt.Method, rt.Path)
		}
	}
	for _, r := range table {
		if !inRouter[key{r.method, r.path}] {
			t.Errorf("the authorization table lists %s %s, which the router does not have", r.method, r.path)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	cells := 0
	for _, r := range table {
		path := fx.path(r)
		// Without the proof first: then a cell that deletes the object comes after all the
		// others of its route (the owner's, with the proof).
		for _, proof := range []bool{false, true} {
			if !proof && strings.HasPrefix(r.path, "/api/") {
				continue // no cookie, no CSRF: the cell is the same either way
			}
			for _, a := range fx.actors() {
				want := fx.want(a, r.want)
				if !proof {
					want = azWithoutProof(r.method, r.path, want)
				}
				resp := fx.send(a, r, path, proof)
				cells++
				if got := azStatus(resp); got != want {
					proofText := "with CSRF proof"
					if !proof {
						proofText = "without CSRF proof"
					}
					t.Errorf("%-7s %-34s %-9s %-18s = %s, want %s (%s)", r.method, r.path, a.name, proofText,
						azStatusText(got), azStatusText(want), path)
				}
			}
		}
		fx.settle()
	}
	t.Logf("%d routes, %d cells", len(table), cells)

	// The owner's deletes did delete; the fixture's objects are still there.
	for _, p := range fx.fresh {
		if r := fx.owner.b.get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s after the owner deleted it: %d, want 404", p, r.StatusCode)
		}
	}
	for _, kind := range []string{"clients", "messages", "mailings", "layouts", "suppressions"} {
		id := map[string]int64{"clients": fx.clientID, "messages": fx.messageID, "mailings": fx.mailingID, "layouts": fx.layoutID,
			"suppressions": fx.suppressionID}[kind]
		if r := fx.owner.b.get("/" + kind + "/" + strconv.FormatInt(id, 10)); r.StatusCode != http.StatusOK {
			t.Errorf("the fixture's %s %d after the matrix: %d", kind, id, r.StatusCode)
		}
	}
}

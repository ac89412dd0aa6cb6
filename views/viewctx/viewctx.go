// Package viewctx carries what every page needs (language, CSRF token, signed-in user,
// flash messages, request id) from the web layer to templ components through the context,
// so components take only their own view model as arguments.
package viewctx

import (
	"context"
	"time"

	"mailer/app/i18n"
)

// Page is the request-wide view state the layout renders.
type Page struct {
	Lang      string
	Languages []string
	CSRF      string
	RequestID string
	Path      string // the request's path and query, for "come back here" links
	User      *User
	Flashes   []Flash
	// TZ is the user's time zone: datetimes are shown and entered in it.
	TZ *time.Location
	// ShowNav is false on pages that stand alone, such as error pages for anonymous users.
	ShowNav bool
}

// User is the signed-in account as the views see it.
type User struct {
	ID      int64
	Email   string
	Manager bool
}

// Flash is a one-time message; Kind is success, error or info.
type Flash struct {
	Kind string
	Text string
}

type ctxKey struct{}

// With stores p in ctx.
func With(ctx context.Context, p *Page) context.Context { return context.WithValue(ctx, ctxKey{}, p) }

// From returns the page state in ctx; never nil.
func From(ctx context.Context) *Page {
	if p, ok := ctx.Value(ctxKey{}).(*Page); ok {
		return p
	}
	return &Page{Lang: "en"}
}

// T translates a message id in the request's language.
func T(ctx context.Context, id string, data ...any) string { return i18n.T(ctx, id, data...) }

// FormatTime shows t in the user's time zone.
func FormatTime(ctx context.Context, t time.Time) string {
	return t.In(From(ctx).Location()).Format("2006-01-02 15:04")
}

// Location is the user's time zone.
func (p *Page) Location() *time.Location {
	if p.TZ == nil {
		return time.UTC
	}
	return p.TZ
}

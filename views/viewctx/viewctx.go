// Package viewctx carries what every page needs (language, CSRF token, signed-in user,
// flash messages, request id) from the web layer to templ components through the context,
// so components take only their own view model as arguments.
package viewctx

import (
	"context"
	"strconv"
	"strings"
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
	// ShowNav is false on pages that stand alone, such as error pages for anonymous users and
	// the public subscribe pages a form owner's visitors see (no sign-in links for them).
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

// Label is the translated name of a value from a fixed set — a status, a period, a role,
// an audited action — kept under the key group.value; a value without one shows as it is.
func Label(ctx context.Context, group, value string) string {
	key := group + "." + value
	if s := i18n.T(ctx, key); s != key {
		return s
	}
	return value
}

// Number writes n with its thousands grouped as the language does: 2,000 in English,
// 2 000 (a no-break space) in Russian.
func Number(ctx context.Context, n int) string {
	sep := ","
	if From(ctx).Lang == "ru" {
		sep = "\u00a0"
	}
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

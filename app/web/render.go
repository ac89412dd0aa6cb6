package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/layouts"
)

// View is what a handler hands to render.
type View struct {
	Title   string
	Content templ.Component // the page body inside the layout
	// Partial is what an HTMX request gets instead of the whole page (a form, a table).
	// Nil means the full page even for HTMX.
	Partial templ.Component
	Status  int
}

// isPartial is the one place that decides between a full page and an HTMX fragment.
// A history restore asks for the whole page even though it comes from HTMX.
func isPartial(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-History-Restore-Request") != "true"
}

// render writes v as a full page or, for HTMX, as its partial plus any flash messages
// swapped out of band so they are not lost.
func (s *Server) render(c *fiber.Ctx, v View) error {
	c.Vary("HX-Request")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	if v.Status != 0 {
		c.Status(v.Status)
	}
	ctx := c.UserContext()
	p := page(c)
	w := c.Response().BodyWriter()
	c.Locals(localRendered, true)
	if isPartial(c) && v.Partial != nil {
		if err := v.Partial.Render(ctx, w); err != nil {
			return err
		}
		if len(p.Flashes) > 0 {
			return components.Flashes(p.Flashes, true).Render(ctx, w)
		}
		return nil
	}
	return layouts.Base(v.Title).Render(templ.WithChildren(ctx, v.Content), w)
}

// pageETag lets a browser revalidate a page without the server rendering it. The ETag is
// computed before the handler runs from everything a page shows: the URL and whether HTMX
// asks for a part, the user and their session's CSRF token, the language and time zone,
// the data version of what the user may see (bumped by every write and every attempt),
// and the clock's minute (statuses turn over with time). A match answers 304 at once: no
// queries, no rendering.
func (s *Server) pageETag(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodGet || isQueuesPath(c.Path()) {
		return c.Next()
	}
	p := page(c)
	scope := mailing.Scope{All: true}
	uid := int64(0)
	if u := currentUser(c); u != nil {
		scope, uid = readScope(c), u.ID
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\x00%s\x00%s\x00%s\x00%d",
		c.Request().URI().RequestURI(), c.Get("HX-Request"), c.Get("HX-History-Restore-Request"),
		uid, p.CSRF, p.Lang, p.Location().String(), s.Versions.Of(c.UserContext(), scope),
		s.Clock.Now().Unix()/60)
	etag := `W/"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16]) + `"`
	// A pending flash is shown once: such a page must be rendered, not revalidated.
	if len(p.Flashes) == 0 {
		if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && etagMatches(match, etag) {
			c.Vary("HX-Request", "Cookie")
			c.Set(fiber.HeaderCacheControl, "private, no-cache")
			c.Set(fiber.HeaderETag, etag)
			return c.SendStatus(fiber.StatusNotModified)
		}
	}
	if err := c.Next(); err != nil {
		return err
	}
	if c.Response().StatusCode() == fiber.StatusOK && len(p.Flashes) == 0 &&
		bytes.HasPrefix(c.Response().Header.ContentType(), []byte("text/html")) {
		c.Set(fiber.HeaderETag, etag)
		c.Vary("Cookie")
	}
	return nil
}

// bumpOnWrite moves the data version on after every unsafe request of a signed-in user, so
// no cached figure or page outlives their change; a manager's action also changes how
// others' data reads (blocked owners, disabled mailings).
func (s *Server) bumpOnWrite(c *fiber.Ctx) error {
	err := c.Next()
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		return err
	}
	if u := currentUser(c); u != nil {
		ctx := context.WithoutCancel(c.UserContext())
		s.Versions.Bump(ctx, u.ID)
		if u.IsManager() {
			s.Versions.BumpAdmin(ctx)
		}
	}
	return err
}

func etagMatches(header, etag string) bool {
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		if string(bytes.TrimSpace(part)) == etag || string(bytes.TrimSpace(part)) == "*" {
			return true
		}
	}
	return false
}

type templComponent = templ.Component

// removed answers a delete: HTMX removes the row in place (an empty body replaces it, the
// flash rides out of band); a plain form goes back to the list.
func (s *Server) removed(c *fiber.Ctx, list string) error {
	if isPartial(c) {
		return s.render(c, View{Partial: templ.NopComponent, Content: templ.NopComponent})
	}
	return c.Redirect(list, fiber.StatusSeeOther)
}

package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

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

// pageETag lets a browser revalidate a page: a GET answered 200 with HTML gets an ETag of its
// body, and a matching If-None-Match gets 304 with no body.
func pageETag(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	if c.Method() != fiber.MethodGet || c.Response().StatusCode() != fiber.StatusOK {
		return nil
	}
	if !bytes.HasPrefix(c.Response().Header.ContentType(), []byte("text/html")) {
		return nil
	}
	sum := sha256.Sum256(c.Response().Body())
	etag := `W/"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Vary("Cookie")
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && etagMatches(match, etag) {
		c.Context().ResetBody()
		c.Status(fiber.StatusNotModified)
	}
	return nil
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

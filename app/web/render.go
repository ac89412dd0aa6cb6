package web

import (
	"errors"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/layouts"
)

// View is what a handler hands to render, which alone decides between a full page and an
// HTMX fragment.
type View struct {
	Title   string
	Content templ.Component // the page body inside the layout
	// Partial is what an HTMX request gets instead of the whole page (a form, a table).
	// Nil means the full page even for HTMX.
	Partial templ.Component
	Status  int
	// Retarget and Reswap send the partial elsewhere than where the request asked
	// (HX-Retarget, HX-Reswap): an error into the flash region, or "none" to swap nothing.
	Retarget, Reswap string
	// Back is where a plain request goes when the view has no Content: an action whose
	// answer is only a fragment of the page it came from (send now, a progress poll, a
	// removed row, a blocked user's row).
	Back string
}

// isPartial reports whether the request asks for a fragment. A history restore asks for
// the whole page even though it comes from HTMX.
func isPartial(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-History-Restore-Request") != "true"
}

// render writes v as a full page or, for HTMX, as its partial plus any flash messages
// swapped out of band so they are not lost.
func (s *Server) render(c *fiber.Ctx, v View) error {
	partial := isPartial(c) && v.Partial != nil
	if !partial && v.Content == nil {
		return s.redirect(c, v.Back)
	}
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
	if !partial {
		return layouts.Base(v.Title).Render(templ.WithChildren(ctx, v.Content), w)
	}
	if v.Retarget != "" {
		c.Set("HX-Retarget", v.Retarget)
	}
	if v.Reswap != "" {
		c.Set("HX-Reswap", v.Reswap)
	}
	if err := v.Partial.Render(ctx, w); err != nil {
		return err
	}
	if len(p.Flashes) > 0 {
		return components.Flashes(p.Flashes, true).Render(ctx, w)
	}
	return nil
}

// redirect sends the browser to path: a 303 for a plain request, HX-Redirect for HTMX (which
// would otherwise swap the next page into the current target).
func (s *Server) redirect(c *fiber.Ctx, path string) error {
	if isPartial(c) {
		c.Set("HX-Redirect", path)
		return c.SendStatus(fiber.StatusOK)
	}
	return c.Redirect(path, fiber.StatusSeeOther)
}

// removed answers a delete: HTMX removes the row in place (an empty body replaces it, the
// flash rides out of band); a plain form goes back to the list.
func (s *Server) removed(c *fiber.Ctx, list string) error {
	return s.render(c, View{Partial: templ.NopComponent, Back: list})
}

// refuse answers an action a rule forbids (deleting a message a mailing still sends): HTMX
// shows the reason in the flash region and leaves the page as it is; a plain request goes
// back to back with the reason as a flash. An error that is not the domain's is returned.
func (s *Server) refuse(c *fiber.Ctx, err error, status int, back string) error {
	var e *mailing.Error
	if !errors.As(err, &e) {
		return err
	}
	if !isPartial(c) {
		s.flash(c, "error", e.Message)
		return s.redirect(c, back)
	}
	msg := components.FormError(s.t(c, e.Message))
	return s.render(c, View{Title: s.t(c, e.Message), Content: msg, Partial: msg, Status: status,
		Retarget: "#flashes", Reswap: "innerHTML"})
}

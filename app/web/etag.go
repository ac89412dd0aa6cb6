package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
)

// pageETag lets a browser revalidate a page without the server rendering it. The ETag is
// computed before the handler runs from everything a page shows: the URL and whether HTMX
// asks for a part, the user and their session's CSRF token, the language and time zone,
// the data version of what the user may see (bumped by every write and every attempt),
// and the clock's minute (statuses turn over with time). A match is answered only once the
// route's authorization has passed (finding 10: an anonymous If-None-Match: * got 304 for
// manager pages): right after requireUser or requireManager, with no queries and no
// rendering; on a public page, after it rendered. "*" matches nothing: a browser
// revalidates with the tag it was given.
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
	matched := false
	if len(p.Flashes) == 0 {
		if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && etagMatches(match, etag) {
			matched = true
			c.Locals(localNotModified, etag)
		}
	}
	if err := c.Next(); err != nil {
		return err
	}
	if c.Response().StatusCode() == fiber.StatusOK && len(p.Flashes) == 0 &&
		bytes.HasPrefix(c.Response().Header.ContentType(), []byte("text/html")) {
		if matched {
			// A public page, rendered: the match stands now that anyone may see it.
			c.Response().ResetBody()
			return notModified(c, etag)
		}
		c.Set(fiber.HeaderETag, etag)
		c.Vary("Cookie")
	}
	return nil
}

// localNotModified holds the page's ETag when the request's If-None-Match matched it.
const localNotModified = "etag-matched"

// answerNotModified answers 304 when pageETag found a match; the authorization middleware
// calls it once the requester is known to be allowed the route.
func answerNotModified(c *fiber.Ctx) (bool, error) {
	etag, ok := c.Locals(localNotModified).(string)
	if !ok {
		return false, nil
	}
	return true, notModified(c, etag)
}

func notModified(c *fiber.Ctx, etag string) error {
	c.Vary("HX-Request", "Cookie")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderETag, etag)
	return c.SendStatus(fiber.StatusNotModified)
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
		if string(bytes.TrimSpace(part)) == etag {
			return true
		}
	}
	return false
}

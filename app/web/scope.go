package web

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
)

// readScope is what the signed-in user may see: their own data, or everyone's for a manager.
func readScope(c *fiber.Ctx) mailing.Scope {
	u := currentUser(c)
	return mailing.Scope{UserID: u.ID, All: u.IsManager()}
}

// ownScope is what the signed-in user may change: only their own data, whatever their role.
func ownScope(c *fiber.Ctx) mailing.Scope { return mailing.Scope{UserID: currentUser(c).ID} }

// canEdit reports whether the signed-in user may change an object owned by ownerID.
func canEdit(c *fiber.Ctx) func(ownerID int64) bool {
	uid := currentUser(c).ID
	return func(ownerID int64) bool { return ownerID == uid }
}

// forOwner loads an object a request wants to change. Another owner's object is 404 for a
// user (ids reveal nothing) and 403 for a manager, who may see it but never change it.
func forOwner[T any](c *fiber.Ctx, load func(mailing.Scope) (T, error)) (T, error) {
	obj, err := load(ownScope(c))
	if mailing.ErrorCode(err) == mailing.ENOTFOUND && currentUser(c).IsManager() {
		if _, err2 := load(readScope(c)); err2 == nil {
			return obj, fiber.ErrForbidden
		}
	}
	return obj, err
}

func paramID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// listParams reads search, sort and page from the query string.
func listParams(c *fiber.Ctx) mailing.ListParams {
	p := mailing.ListParams{
		Q:      c.Query("q"),
		Sort:   c.Query("sort"),
		Desc:   c.Query("desc") == "1",
		Status: c.Query("status"),
		Tag:    strings.TrimSpace(c.Query("tag")),
		Limit:  25,
	}
	if b := c.Query("before"); b != "" {
		p.Cursor, p.Back = b, true
	} else {
		p.Cursor = c.Query("after")
	}
	return p
}

// listState is what a list view needs to link to its other pages, sorts and filters.
func listState[T any](base string, p mailing.ListParams, page mailing.Page[T]) components.ListState {
	l := components.ListState{Base: base, Q: p.Q, Sort: page.Sort, Desc: page.Desc, Status: p.Status, Next: page.Next, Prev: page.Prev}
	if p.Tag != "" {
		l.Filters = map[string]string{"tag": p.Tag}
	}
	return l
}

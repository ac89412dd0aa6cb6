package web

import (
	"context"
	"slices"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/pages"
)

// entity describes one kind of object users own — clients, messages, mailings — to the
// handlers written once in this file: the list, an object's page, the new and edit forms
// with errors shown in place, and delete with its confirmation. Managers see everyone's
// objects through them and change none (forOwner). clients.go, messages.go and
// mailings.go each fill one in.
type entity[T any, F form] struct {
	s    *Server
	kind string // the list's path without its slash, and its translation keys' prefix
	// filters are the values the list's status filter takes; any other is dropped.
	filters []string
	// byID loads an object in scope; ENOTFOUND for one outside it.
	byID func(ctx context.Context, scope mailing.Scope, id int64) (*T, error)
	list func(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[T], error)
	// count, when set, counts what list pages through, for the list's "1–25 of 2,000".
	count func(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
	// listPage is the list's page; listTable the part of it that search, sort and paging
	// replace.
	listPage, listTable func(v pages.List[T]) templ.Component
	// decorate, when set, adds what a list shows beyond its items (the clients' tags).
	decorate func(c *fiber.Ctx, v *pages.List[T]) error
	// page is an object's own page.
	page func(c *fiber.Ctx, obj *T) (View, error)
	// blank is a new object's form; edit is obj's, filled in.
	blank func() F
	edit  func(c *fiber.Ctx, obj *T) (F, error)
	// fields renders a form's fields; choices, when set, first loads what the form offers
	// to choose from.
	fields  func(f F) templ.Component
	choices func(c *fiber.Ctx, f F) error
	// posted reads the form as sent, for the object id (0: a new one).
	posted func(c *fiber.Ctx, id int64) F
	// save validates and stores a posted form; a domain error is shown on the form.
	save func(c *fiber.Ctx, f F) (saved, error)
	// remove deletes the owner's object id; an ECONFLICT refuses with its message.
	remove func(ctx context.Context, ownerID, id int64) error
	// names fill the placeholders of obj's confirmation and flash messages ({"Email": …}).
	names func(obj *T) map[string]any
	// path is obj's own page.
	path func(obj *T) string
}

// form is an entity's form view model: it embeds the state errors are shown through.
type form interface{ State() *components.FormState }

// saved says where a saved form goes and what its flash message names. A saved without
// next shows the form again as posted (the mailing form's recipient search without
// JavaScript).
type saved struct {
	next  string
	names map[string]any
}

// index is the list with its search, sort, status filter and page.
func (e *entity[T, F]) index(c *fiber.Ctx) error {
	p := listParams(c)
	if !slices.Contains(e.filters, p.Status) {
		p.Status = ""
	}
	page, err := e.list(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	l := listState("/"+e.kind, p, page)
	if e.count != nil {
		if err := e.s.countList(c, e.kind, p, &l, len(page.Items), e.count); err != nil {
			return err
		}
	}
	v := pages.List[T]{
		List:    l,
		Items:   page.Items,
		Now:     e.s.Clock.Now(),
		CanEdit: canEdit(c),
		Manager: currentUser(c).IsManager(),
	}
	if e.decorate != nil {
		if err := e.decorate(c, &v); err != nil {
			return err
		}
	}
	return e.s.render(c, View{Title: e.s.t(c, e.kind+".title"), Content: e.listPage(v), Partial: e.listTable(v)})
}

// visible loads the object of the URL for its owner or a manager to see.
func (e *entity[T, F]) visible(c *fiber.Ctx) (*T, error) {
	id, err := paramID(c)
	if err != nil {
		return nil, err
	}
	return e.byID(c.UserContext(), readScope(c), id)
}

// show is an object's page, for its owner or a manager.
func (e *entity[T, F]) show(c *fiber.Ctx) error {
	obj, err := e.visible(c)
	if err != nil {
		return err
	}
	v, err := e.page(c, obj)
	if err != nil {
		return err
	}
	return e.s.render(c, v)
}

// own loads the object of the URL for a change by the signed-in user (see forOwner).
func (e *entity[T, F]) own(c *fiber.Ctx) (*T, error) {
	id, err := paramID(c)
	if err != nil {
		return nil, err
	}
	return forOwner(c, func(sc mailing.Scope) (*T, error) { return e.byID(c.UserContext(), sc, id) })
}

// form renders f for a new object or an existing one, with err shown on it.
func (e *entity[T, F]) form(c *fiber.Ctx, f F, isNew bool, err error) error {
	title := e.s.t(c, e.kind+".edit")
	if isNew {
		title = e.s.t(c, e.kind+".new")
	}
	return e.s.renderForm(c, f.State(), err, func() (View, error) {
		if e.choices != nil {
			if err := e.choices(c, f); err != nil {
				return View{}, err
			}
		}
		fields := e.fields(f)
		return View{Title: title, Content: components.FormPage(title, fields), Partial: fields}, nil
	})
}

func (e *entity[T, F]) create(c *fiber.Ctx) error { return e.store(c, 0) }

func (e *entity[T, F]) newForm(c *fiber.Ctx) error { return e.form(c, e.blank(), true, nil) }

func (e *entity[T, F]) editForm(c *fiber.Ctx) error {
	obj, err := e.own(c)
	if err != nil {
		return err
	}
	f, err := e.edit(c, obj)
	if err != nil {
		return err
	}
	return e.form(c, f, false, nil)
}

func (e *entity[T, F]) update(c *fiber.Ctx) error {
	if _, err := e.own(c); err != nil {
		return err
	}
	id, _ := paramID(c) // own has checked it
	return e.store(c, id)
}

// store saves the posted form as object id (0: a new one) and returns to where save says,
// or shows the form again with what is wrong.
func (e *entity[T, F]) store(c *fiber.Ctx, id int64) error {
	f := e.posted(c, id)
	done, err := e.save(c, f)
	if err != nil || done.next == "" {
		return e.form(c, f, id == 0, err)
	}
	key := ".saved"
	if id == 0 {
		key = ".created"
	}
	e.s.flash(c, "success", e.kind+key, done.names)
	return e.s.redirect(c, done.next)
}

// confirmDelete is the page a delete link opens without JavaScript.
func (e *entity[T, F]) confirmDelete(c *fiber.Ctx) error {
	obj, err := e.own(c)
	if err != nil {
		return err
	}
	q := e.s.t(c, e.kind+".delete_confirm", e.names(obj))
	return e.s.render(c, View{Title: q, Content: components.ConfirmDelete(q, c.Path(), e.path(obj))})
}

func (e *entity[T, F]) delete(c *fiber.Ctx) error {
	obj, err := e.own(c)
	if err != nil {
		return err
	}
	id, _ := paramID(c) // own has checked it
	err = e.remove(c.UserContext(), currentUser(c).ID, id)
	if mailing.ErrorCode(err) == mailing.ECONFLICT {
		return e.s.refuse(c, err, fiber.StatusConflict, e.path(obj))
	}
	if err != nil {
		return err
	}
	e.s.flash(c, "success", e.kind+".deleted", e.names(obj))
	return e.s.removed(c, "/"+e.kind)
}

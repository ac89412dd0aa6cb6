package web

import (
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/views/components"
	"mailer/views/pages"
)

func (s *Server) clientsList(c *fiber.Ctx) error {
	p := listParams(c)
	page, err := s.Store.ListClients(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	sort, desc := store.ClientSort(p)
	v := pages.ClientList{
		List:    listState("/clients", p, sort, desc, page.Next, page.Prev),
		Items:   page.Items,
		CanEdit: canEdit(c),
		Manager: currentUser(c).IsManager(),
	}
	return s.render(c, View{Title: s.t(c, "clients.title"), Content: pages.ClientsPage(v), Partial: pages.ClientsTable(v)})
}

func (s *Server) clientView(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	cl, err := s.Store.ClientByID(c.UserContext(), readScope(c), id)
	if err != nil {
		return err
	}
	return s.render(c, View{Title: cl.Email, Content: pages.ClientPage(cl, canEdit(c)(cl.OwnerID))})
}

func (s *Server) clientNew(c *fiber.Ctx) error {
	return s.clientForm(c, pages.ClientForm{}, nil)
}

func (s *Server) clientForm(c *fiber.Ctx, f pages.ClientForm, err error) error {
	status := fiber.StatusOK
	if err != nil {
		fields, msg, st, ok := s.formErrors(c, err)
		if !ok {
			return err
		}
		f.Errors, f.Error, status = fields, msg, st
	}
	title := s.t(c, "clients.new")
	if f.ID != 0 {
		title = s.t(c, "clients.edit")
	}
	return s.render(c, View{Title: title, Content: pages.ClientFormPage(f), Partial: pages.ClientFormFields(f), Status: status})
}

func clientFromForm(c *fiber.Ctx) (mailing.Client, pages.ClientForm) {
	f := pages.ClientForm{Email: c.FormValue("email"), FullName: c.FormValue("full_name"), Comment: c.FormValue("comment")}
	return mailing.Client{Email: f.Email, FullName: f.FullName, Comment: f.Comment}, f
}

func (s *Server) clientCreate(c *fiber.Ctx) error {
	cl, f := clientFromForm(c)
	cl.OwnerID = currentUser(c).ID
	if errs := cl.Validate(); len(errs) > 0 {
		return s.clientForm(c, f, invalidForm(errs))
	}
	if err := s.Store.CreateClient(c.UserContext(), &cl); err != nil {
		return s.clientForm(c, f, err)
	}
	s.flash(c, "success", "clients.created", map[string]any{"Email": cl.Email})
	return s.redirect(c, "/clients")
}

func (s *Server) clientEdit(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	cl, err := forOwner(c, func(sc mailing.Scope) (*mailing.Client, error) { return s.Store.ClientByID(c.UserContext(), sc, id) })
	if err != nil {
		return err
	}
	return s.clientForm(c, pages.ClientForm{ID: cl.ID, Email: cl.Email, FullName: cl.FullName, Comment: cl.Comment}, nil)
}

func (s *Server) clientUpdate(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if _, err := forOwner(c, func(sc mailing.Scope) (*mailing.Client, error) { return s.Store.ClientByID(c.UserContext(), sc, id) }); err != nil {
		return err
	}
	cl, f := clientFromForm(c)
	cl.ID, f.ID = id, id
	if errs := cl.Validate(); len(errs) > 0 {
		return s.clientForm(c, f, invalidForm(errs))
	}
	if err := s.Store.UpdateClient(c.UserContext(), currentUser(c).ID, &cl); err != nil {
		return s.clientForm(c, f, err)
	}
	s.flash(c, "success", "clients.saved", map[string]any{"Email": cl.Email})
	return s.redirect(c, "/clients")
}

func (s *Server) clientDeleteConfirm(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	cl, err := forOwner(c, func(sc mailing.Scope) (*mailing.Client, error) { return s.Store.ClientByID(c.UserContext(), sc, id) })
	if err != nil {
		return err
	}
	q := s.t(c, "clients.delete_confirm", map[string]any{"Email": cl.Email})
	return s.render(c, View{Title: q, Content: components.ConfirmDelete(q, c.Path(), "/clients")})
}

func (s *Server) clientDelete(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	cl, err := forOwner(c, func(sc mailing.Scope) (*mailing.Client, error) { return s.Store.ClientByID(c.UserContext(), sc, id) })
	if err != nil {
		return err
	}
	if err := s.Store.DeleteClient(c.UserContext(), currentUser(c).ID, id); err != nil {
		return err
	}
	s.flash(c, "success", "clients.deleted", map[string]any{"Email": cl.Email})
	return s.removed(c, "/clients")
}

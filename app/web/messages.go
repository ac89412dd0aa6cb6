package web

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/views/components"
	"mailer/views/pages"
)

func (s *Server) messagesList(c *fiber.Ctx) error {
	p := listParams(c)
	page, err := s.Store.ListMessages(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	sort, desc := store.MessageSort(p)
	v := pages.MessageList{
		List:    listState("/messages", p, sort, desc, page.Next, page.Prev),
		Items:   page.Items,
		CanEdit: canEdit(c),
		Manager: currentUser(c).IsManager(),
	}
	return s.render(c, View{Title: s.t(c, "messages.title"), Content: pages.MessagesPage(v), Partial: pages.MessagesTable(v)})
}

func (s *Server) messageView(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	m, err := s.Store.MessageByID(c.UserContext(), readScope(c), id)
	if err != nil {
		return err
	}
	return s.render(c, View{Title: m.Subject, Content: pages.MessagePage(m, canEdit(c)(m.OwnerID), messagePreview(m))})
}

// previewSample is the recipient a message preview is rendered for.
var previewSample = mailing.TemplateData{Name: "Ann Example", Email: "ann@example.com"}

// messagePreview renders m's subject and body as a recipient would get them. Saved messages
// always render, but a row from before templates were checked may not: its error is shown
// in place of the preview rather than failing the page.
func messagePreview(m *mailing.Message) pages.MessagePreview {
	p := pages.MessagePreview{Sample: previewSample}
	subject, body, err := mailing.ParseTemplates(m.Subject, m.Body)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	var sb, bb strings.Builder
	if err := subject.Execute(&sb, previewSample); err != nil {
		p.Error = err.Error()
		return p
	}
	if err := body.Execute(&bb, previewSample); err != nil {
		p.Error = err.Error()
		return p
	}
	p.Subject, p.Body = sb.String(), bb.String()
	return p
}

func (s *Server) messageNew(c *fiber.Ctx) error {
	return s.messageForm(c, pages.MessageForm{}, nil)
}

func (s *Server) messageForm(c *fiber.Ctx, f pages.MessageForm, err error) error {
	status := fiber.StatusOK
	if err != nil {
		fields, msg, st, ok := s.formErrors(c, err)
		if !ok {
			return err
		}
		f.Errors, f.Error, status = fields, msg, st
	}
	title := s.t(c, "messages.new")
	if f.ID != 0 {
		title = s.t(c, "messages.edit")
	}
	return s.render(c, View{Title: title, Content: pages.MessageFormPage(f), Partial: pages.MessageFormFields(f), Status: status})
}

// messageFromForm reads the form as typed: the subject is validated, never cleaned, so a
// line break in it is reported instead of silently removed.
func messageFromForm(c *fiber.Ctx) (mailing.Message, pages.MessageForm) {
	f := pages.MessageForm{Subject: c.FormValue("subject"), Body: c.FormValue("body")}
	return mailing.Message{Subject: f.Subject, Body: f.Body}, f
}

// ownMessage loads one of the signed-in user's messages for a change (404 for another
// user's, 403 for a manager looking at someone else's).
func (s *Server) ownMessage(c *fiber.Ctx) (*mailing.Message, error) {
	id, err := paramID(c)
	if err != nil {
		return nil, err
	}
	return forOwner(c, func(sc mailing.Scope) (*mailing.Message, error) { return s.Store.MessageByID(c.UserContext(), sc, id) })
}

func (s *Server) messageCreate(c *fiber.Ctx) error {
	m, f := messageFromForm(c)
	m.OwnerID = currentUser(c).ID
	if errs := m.Validate(); len(errs) > 0 {
		return s.messageForm(c, f, invalidForm(errs))
	}
	if err := s.Store.CreateMessage(c.UserContext(), &m); err != nil {
		return s.messageForm(c, f, err)
	}
	s.flash(c, "success", "messages.created", map[string]any{"Subject": m.Subject})
	return s.redirect(c, "/messages")
}

func (s *Server) messageEdit(c *fiber.Ctx) error {
	m, err := s.ownMessage(c)
	if err != nil {
		return err
	}
	return s.messageForm(c, pages.MessageForm{ID: m.ID, Subject: m.Subject, Body: m.Body}, nil)
}

func (s *Server) messageUpdate(c *fiber.Ctx) error {
	old, err := s.ownMessage(c)
	if err != nil {
		return err
	}
	m, f := messageFromForm(c)
	m.ID, f.ID = old.ID, old.ID
	if errs := m.Validate(); len(errs) > 0 {
		return s.messageForm(c, f, invalidForm(errs))
	}
	if err := s.Store.UpdateMessage(c.UserContext(), currentUser(c).ID, &m); err != nil {
		return s.messageForm(c, f, err)
	}
	s.flash(c, "success", "messages.saved", map[string]any{"Subject": m.Subject})
	return s.redirect(c, "/messages/"+strconv.FormatInt(m.ID, 10))
}

func (s *Server) messageDeleteConfirm(c *fiber.Ctx) error {
	m, err := s.ownMessage(c)
	if err != nil {
		return err
	}
	q := s.t(c, "messages.delete_confirm", map[string]any{"Subject": m.Subject})
	return s.render(c, View{Title: q, Content: components.ConfirmDelete(q, c.Path(), "/messages/"+strconv.FormatInt(m.ID, 10))})
}

func (s *Server) messageDelete(c *fiber.Ctx) error {
	m, err := s.ownMessage(c)
	if err != nil {
		return err
	}
	err = s.Store.DeleteMessage(c.UserContext(), currentUser(c).ID, m.ID)
	if mailing.ErrorCode(err) == mailing.ECONFLICT {
		return s.messageInUse(c, m)
	}
	if err != nil {
		return err
	}
	s.flash(c, "success", "messages.deleted", map[string]any{"Subject": m.Subject})
	return s.removed(c, "/messages")
}

// messageInUse explains why a message a mailing still sends stays. HTMX keeps the row and
// shows the reason in the flash region (as handleError does); a plain form goes back to the
// message with the reason as a flash.
func (s *Server) messageInUse(c *fiber.Ctx, m *mailing.Message) error {
	if isPartial(c) {
		msg := components.FormError(s.t(c, "messages.in_use"))
		c.Set("HX-Retarget", "#flashes")
		c.Set("HX-Reswap", "innerHTML")
		return s.render(c, View{Title: s.t(c, "messages.in_use"), Content: msg, Partial: msg, Status: fiber.StatusConflict})
	}
	s.flash(c, "error", "messages.in_use")
	return s.redirect(c, "/messages/"+strconv.FormatInt(m.ID, 10))
}

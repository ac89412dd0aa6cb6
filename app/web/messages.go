package web

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/pages"
)

func messagePath(id int64) string { return "/messages/" + strconv.FormatInt(id, 10) }

// messages are what mailings send, served by the entity handlers. A message a mailing
// still sends cannot be deleted. Previews and test sends are in preview.go.
func (s *Server) messages() *entity[mailing.Message, *pages.MessageForm] {
	return &entity[mailing.Message, *pages.MessageForm]{
		s: s, kind: "messages", byID: s.Store.MessageByID, list: s.Store.ListMessages, count: s.Store.CountMessageList, remove: s.Store.DeleteMessage,
		listPage: pages.MessagesPage, listTable: pages.MessagesTable,
		page: func(c *fiber.Ctx, m *mailing.Message) (View, error) {
			p, err := s.savedPreview(c, m)
			return View{Title: components.SubjectText(m.Subject), Content: pages.MessagePage(m, canEdit(c)(m.OwnerID), p)}, err
		},
		blank: func() *pages.MessageForm { return &pages.MessageForm{Format: mailing.FormatText} },
		edit: func(_ *fiber.Ctx, m *mailing.Message) (*pages.MessageForm, error) {
			f := &pages.MessageForm{ID: m.ID, Subject: m.Subject, Format: m.Format, Body: m.Body, TextBody: m.TextBody}
			if m.LayoutID != nil {
				f.Layout = strconv.FormatInt(*m.LayoutID, 10)
			}
			return f, nil
		},
		choices: func(c *fiber.Ctx, f *pages.MessageForm) (err error) {
			f.Layouts, err = s.Store.LayoutChoices(c.UserContext(), currentUser(c).ID)
			for _, l := range f.Layouts {
				f.HasDefault = f.HasDefault || l.Name == mailing.DefaultLayoutName
			}
			return err
		},
		fields: pages.MessageFormFields,
		posted: messageForm,
		save:   s.saveMessage,
		names:  func(m *mailing.Message) map[string]any { return map[string]any{"Subject": m.Subject} },
		path:   func(m *mailing.Message) string { return messagePath(m.ID) },
	}
}

// messageStore is what the messages pages need of the database.
type messageStore interface {
	ListMessages(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Message], error)
	MessageByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Message, error)
	SaveMessage(ctx context.Context, m *mailing.Message) error
	DeleteMessage(ctx context.Context, ownerID, id int64) error
	LayoutChoices(ctx context.Context, ownerID int64) ([]mailing.Layout, error)
	DefaultLayout(ctx context.Context, ownerID int64) (int64, error)
}

// messageForm reads the posted message form for the message id (0: a new one) as typed:
// the subject is validated, never cleaned, so a line break in it is reported instead of
// silently removed.
func messageForm(c *fiber.Ctx, id int64) *pages.MessageForm {
	return &pages.MessageForm{ID: id, Subject: c.FormValue("subject"), Format: c.FormValue("format"),
		Body: c.FormValue("body"), TextBody: c.FormValue("text_body"), Layout: c.FormValue("layout_id")}
}

// saveMessage validates, compiles and saves a posted message. Choosing the default layout
// saves the user's own copy of it first, which they may then change.
func (s *Server) saveMessage(c *fiber.Ctx, f *pages.MessageForm) (saved, error) {
	m, clipped, err := s.storeMessage(c, f)
	if err != nil {
		return saved{}, err
	}
	if clipped {
		s.flash(c, "info", "messages.clip_warning")
	}
	next := "/messages"
	if f.ID != 0 {
		next = messagePath(f.ID) // an edit returns to the message
	}
	return saved{next: next, names: map[string]any{"Subject": m.Subject}}, nil
}

// storeMessage checks, compiles and saves the message f describes (the form's and the
// API's one path); clipped reports HTML past what Gmail shows.
func (s *Server) storeMessage(c *fiber.Ctx, f *pages.MessageForm) (m *mailing.Message, clipped bool, err error) {
	m, tpl, err := s.composeMessage(c, f)
	if err != nil {
		return nil, false, err
	}
	if m.Format != mailing.FormatText && f.Layout == "default" {
		id, err := s.Store.DefaultLayout(c.UserContext(), m.OwnerID)
		if err != nil {
			return nil, false, err
		}
		m.LayoutID = &id
	}
	if err := s.Store.SaveMessage(c.UserContext(), m); err != nil {
		return nil, false, err
	}
	r, err := tpl.Render(previewSample(s.Config.MailFrom, ""))
	return m, err == nil && len(r.HTML) > mailing.HTMLClipSize, nil
}

// composeMessage is the message a form describes, checked and compiled with the layout it
// chose ("default": the default layout, whether or not the user has saved their copy).
func (s *Server) composeMessage(c *fiber.Ctx, f *pages.MessageForm) (*mailing.Message, *mailing.Template, error) {
	m := &mailing.Message{ID: f.ID, OwnerID: currentUser(c).ID, Subject: f.Subject, Format: f.Format, Body: f.Body, TextBody: f.TextBody}
	if err := m.Check(); err != nil {
		return nil, nil, err
	}
	var layout *mailing.Layout
	switch {
	case m.Format == mailing.FormatText || f.Layout == "":
	case f.Layout == "default":
		layout = &mailing.Layout{Name: mailing.DefaultLayoutName, HTML: mailing.DefaultLayoutHTML}
	default:
		id, err := strconv.ParseInt(f.Layout, 10, 64)
		if err == nil {
			layout, err = s.Store.LayoutByID(c.UserContext(), ownScope(c), id)
		}
		if err != nil && (mailing.ErrorCode(err) == mailing.ENOTFOUND || id == 0) {
			return nil, nil, invalidForm(map[string]string{"layout_id": "validation.not_yours"})
		} else if err != nil {
			return nil, nil, err
		}
		m.LayoutID = &layout.ID
	}
	tpl, err := mailing.Compile(m, layout)
	if err != nil {
		return nil, nil, mailing.InvalidTemplate(err, "body")
	}
	return m, tpl, nil
}

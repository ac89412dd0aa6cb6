package web

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

func layoutPath(id int64) string { return "/layouts/" + strconv.FormatInt(id, 10) }

// layouts are the HTML designs Markdown and HTML messages are set in, served by the entity
// handlers. A new layout starts from the default one; a layout a message uses stays.
func (s *Server) layouts() *entity[mailing.Layout, *pages.LayoutForm] {
	return &entity[mailing.Layout, *pages.LayoutForm]{
		s: s, kind: "layouts", byID: s.Store.LayoutByID, list: s.Store.ListLayouts, count: s.Store.CountLayoutList, remove: s.Store.DeleteLayout,
		listPage: pages.LayoutsPage, listTable: pages.LayoutsTable,
		page: func(c *fiber.Ctx, l *mailing.Layout) (View, error) {
			return View{Title: l.Name, Content: pages.LayoutPage(l, canEdit(c)(l.OwnerID))}, nil
		},
		blank: func() *pages.LayoutForm { return &pages.LayoutForm{HTML: mailing.DefaultLayoutHTML} },
		edit: func(_ *fiber.Ctx, l *mailing.Layout) (*pages.LayoutForm, error) {
			return &pages.LayoutForm{ID: l.ID, Name: l.Name, HTML: l.HTML}, nil
		},
		fields: pages.LayoutFormFields,
		posted: func(c *fiber.Ctx, id int64) *pages.LayoutForm {
			return &pages.LayoutForm{ID: id, Name: c.FormValue("name"), HTML: c.FormValue("html")}
		},
		save: func(c *fiber.Ctx, f *pages.LayoutForm) (saved, error) {
			l := mailing.Layout{ID: f.ID, OwnerID: currentUser(c).ID, Name: f.Name, HTML: f.HTML}
			if errs := l.Validate(); len(errs) > 0 {
				if errs["html"] == "validation.template" {
					// Say where: compile it again for the error's line.
					_, err := mailing.Compile(&mailing.Message{Subject: "s", Body: "<p>x</p>", Format: mailing.FormatHTML}, &l)
					return saved{}, mailing.InvalidTemplate(err, "html")
				}
				return saved{}, invalidForm(errs)
			}
			return saved{next: "/layouts", names: map[string]any{"Name": l.Name}}, s.Store.SaveLayout(c.UserContext(), &l)
		},
		names: func(l *mailing.Layout) map[string]any { return map[string]any{"Name": l.Name} },
		path:  func(l *mailing.Layout) string { return layoutPath(l.ID) },
	}
}

// layoutStore is what the layouts pages need of the database.
type layoutStore interface {
	ListLayouts(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Layout], error)
	LayoutByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Layout, error)
	SaveLayout(ctx context.Context, l *mailing.Layout) error
	DeleteLayout(ctx context.Context, ownerID, id int64) error
}

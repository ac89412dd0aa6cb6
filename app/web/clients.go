package web

import (
	"cmp"
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/cache"
	"mailer/app/mailing"
	"mailer/views/pages"
)

func clientPath(id int64) string { return "/clients/" + strconv.FormatInt(id, 10) }

// clients are the recipients users keep, served by the entity handlers.
func (s *Server) clients() *entity[mailing.Client, *pages.ClientForm] {
	return &entity[mailing.Client, *pages.ClientForm]{
		s: s, kind: "clients", byID: s.Store.ClientByID, list: s.Store.ListClients, count: s.Store.CountClientList, remove: s.Store.DeleteClient,
		listPage: pages.ClientsPage, listTable: pages.ClientsTable,
		decorate: func(c *fiber.Ctx, v *pages.List[mailing.Client]) (err error) {
			v.Tags, err = s.tagCounts(c.UserContext(), ownScope(c))
			return err
		},
		page: func(c *fiber.Ctx, cl *mailing.Client) (View, error) {
			return View{Title: cl.Email, Content: pages.ClientPage(cl, canEdit(c)(cl.OwnerID))}, nil
		},
		blank: func() *pages.ClientForm { return &pages.ClientForm{} },
		edit: func(_ *fiber.Ctx, cl *mailing.Client) (*pages.ClientForm, error) {
			return &pages.ClientForm{ID: cl.ID, Email: cl.Email, FullName: cl.FullName, Comment: cl.Comment, Tags: strings.Join(cl.Tags, ", ")}, nil
		},
		fields: pages.ClientFormFields,
		posted: clientForm,
		save: func(c *fiber.Ctx, f *pages.ClientForm) (saved, error) {
			cl := clientOf(f)
			cl.OwnerID = currentUser(c).ID
			errs := cl.Validate()
			if _, problem := mailing.ParseTags(f.Tags); problem != "" {
				errs["tags"] = problem
			}
			if len(errs) > 0 {
				return saved{}, invalidForm(errs)
			}
			return saved{next: "/clients", names: map[string]any{"Email": cl.Email}}, s.Store.SaveClient(c.UserContext(), &cl)
		},
		names: func(cl *mailing.Client) map[string]any { return map[string]any{"Email": cl.Email} },
		path:  func(cl *mailing.Client) string { return clientPath(cl.ID) },
	}
}

// tagCounts is the owner's tags with their clients, for the clients list's filter. Counting
// reads every tag link (a million at a million tagged clients), where the page reads 26
// rows: like a list's total it comes from the cache under the data version.
func (s *Server) tagCounts(ctx context.Context, scope mailing.Scope) ([]mailing.Tag, error) {
	return cache.Get(ctx, s.Cache, "tags:"+s.Versions.Of(ctx, scope), countTTL, func() ([]mailing.Tag, error) {
		return s.Store.ListTags(ctx, scope)
	})
}

// clientStore is what the clients pages need of the database.
type clientStore interface {
	ListClients(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Client], error)
	ClientByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Client, error)
	SaveClient(ctx context.Context, c *mailing.Client) error
	DeleteClient(ctx context.Context, ownerID, id int64) error
	ListTags(ctx context.Context, scope mailing.Scope) ([]mailing.Tag, error)
	TagClients(ctx context.Context, ownerID int64, tag string, remove bool, sel mailing.ClientSelection) (int, error)
}

// clientForm reads the posted client form for the client id (0: a new one).
func clientForm(c *fiber.Ctx, id int64) *pages.ClientForm {
	return &pages.ClientForm{ID: id, Email: c.FormValue("email"), FullName: c.FormValue("full_name"),
		Comment: c.FormValue("comment"), Tags: c.FormValue("tags")}
}

// clientOf is the client a form describes, before validation. Its tags are the form's
// whole list: none clears them.
func clientOf(f *pages.ClientForm) mailing.Client {
	tags, _ := mailing.ParseTags(f.Tags)
	if tags == nil {
		tags = []string{}
	}
	return mailing.Client{ID: f.ID, Email: f.Email, FullName: f.FullName, Comment: f.Comment, Tags: tags}
}

// clientsTag adds a tag to, or takes it off, the clients ticked in the list, or every
// client the list shows for its search and tag filter.
func (s *Server) clientsTag(c *fiber.Ctx) error {
	back := "/clients"
	q := url.Values{}
	for k, v := range map[string]string{"q": c.FormValue("q"), "tag": c.FormValue("filter_tag")} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) > 0 {
		back += "?" + q.Encode()
	}
	tags, problem := mailing.ParseTags(c.FormValue("tag"))
	if problem != "" || len(tags) != 1 {
		s.flash(c, "error", cmp.Or(problem, "clients.tag_one"))
		return s.redirect(c, back)
	}
	sel := mailing.ClientSelection{All: c.FormValue("scope") == "all", Q: c.FormValue("q"), Tag: c.FormValue("filter_tag")}
	for _, v := range formValues(c, "ids") {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
			sel.IDs = append(sel.IDs, id)
		}
	}
	if !sel.All && len(sel.IDs) == 0 {
		s.flash(c, "error", "clients.tag_none_selected")
		return s.redirect(c, back)
	}
	remove := c.FormValue("action") == "remove"
	n, err := s.Store.TagClients(c.UserContext(), currentUser(c).ID, tags[0], remove, sel)
	if err != nil && mailing.ErrorCode(err) != mailing.ENOTFOUND {
		return err
	}
	key := "clients.tagged"
	if remove {
		key = "clients.untagged"
	}
	s.flash(c, "success", key, map[string]any{"Tag": tags[0], "Count": n})
	return s.redirect(c, back)
}

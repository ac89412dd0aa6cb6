package web

import (
	"context"
	"slices"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// Manager powers: the users list with block and unblock, disabling and enabling a mailing,
// and the audit log every one of those actions writes to. requireManager guards each route.

// managerStore is what the managers' pages need of the database.
type managerStore interface {
	ListUsers(ctx context.Context, p mailing.UserListParams) (mailing.Page[mailing.UserRow], error)
	UserRowByID(ctx context.Context, id int64) (*mailing.UserRow, error)
	UserByID(ctx context.Context, id int64) (*mailing.User, error)
	UserByEmail(ctx context.Context, email string) (*mailing.User, error)
	BlockUser(ctx context.Context, actorID, userID int64, blocked bool, detail string) error
	DisableMailing(ctx context.Context, actorID, mailingID int64, disabled bool, detail string) error
	ListAudit(ctx context.Context, p mailing.ListParams) (mailing.Page[mailing.AuditEntry], error)
}

const managerUsersPath = "/manager/users"

func (s *Server) managerUsers(c *fiber.Ctx) error {
	v, err := s.usersView(c)
	if err != nil {
		return err
	}
	return s.render(c, v)
}

// usersView is the users list the query string asks for.
func (s *Server) usersView(c *fiber.Ctx) (View, error) {
	p := mailing.UserListParams{ListParams: listParams(c), Role: c.Query("role")}
	if !slices.Contains(mailing.UserStatuses, p.Status) {
		p.Status = ""
	}
	if !slices.Contains(mailing.Roles, p.Role) {
		p.Role = ""
	}
	page, err := s.Store.ListUsers(c.UserContext(), p)
	if err != nil {
		return View{}, err
	}
	l := listState(managerUsersPath, p.ListParams, page)
	l.Filters = map[string]string{"role": p.Role}
	v := pages.UserList{List: l, Items: page.Items, SelfID: currentUser(c).ID}
	return View{Title: s.t(c, "manager.users.title"), Content: pages.UsersPage(v), Partial: pages.UsersTable(v)}, nil
}

func (s *Server) managerBlock(c *fiber.Ctx) error   { return s.setBlocked(c, true) }
func (s *Server) managerUnblock(c *fiber.Ctx) error { return s.setBlocked(c, false) }

// setBlocked blocks or unblocks a user. Blocking ends their sessions at once (in the same
// transaction) and stops their running mailings at the engine's next batch.
func (s *Server) setBlocked(c *fiber.Ctx, blocked bool) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	me := currentUser(c)
	refusal, status := "", fiber.StatusUnprocessableEntity
	switch {
	case blocked && u.ID == me.ID:
		refusal = "manager.cannot_block_self"
	case u.IsManager():
		status = fiber.StatusForbidden
		// One manager must not be able to end another's sessions (or undo the operator's
		// block of one): managers are blocked and unblocked from the command line only.
		refusal = "manager.cannot_block_manager"
		s.Log.Warn("block of a manager refused", "request_id", requestIDOf(c), "manager_id", me.ID, "user_id", u.ID)
	}
	if refusal != "" {
		s.flash(c, "error", refusal)
		v, err := s.usersView(c)
		if err != nil {
			return err
		}
		// With HTMX nothing is swapped: the flash rides out of band.
		v.Partial, v.Reswap, v.Status = templ.NopComponent, "none", status
		return s.render(c, v)
	}
	if err := s.Store.BlockUser(ctx, me.ID, u.ID, blocked, u.Email); err != nil {
		return err
	}
	msg, event := "manager.unblocked", "user unblocked"
	if blocked {
		msg, event = "manager.blocked", "user blocked"
	}
	s.Log.Info(event, "request_id", requestIDOf(c), "manager_id", me.ID, "user_id", u.ID)
	s.flash(c, "success", msg, map[string]any{"Email": u.Email})
	row, err := s.Store.UserRowByID(ctx, u.ID)
	if err != nil {
		return err
	}
	// HTMX replaces the row; a plain form goes back to the list as it was.
	return s.render(c, View{Partial: pages.UserRowView(pages.UserList{SelfID: me.ID}, *row),
		Back: localPath(c.FormValue("next"), managerUsersPath)})
}

func (s *Server) mailingDisable(c *fiber.Ctx) error { return s.setMailingDisabled(c, true) }
func (s *Server) mailingEnable(c *fiber.Ctx) error  { return s.setMailingDisabled(c, false) }

// setMailingDisabled disables or enables any user's mailing. A disabled mailing cannot be
// sent, and a run in progress stops at the engine's next batch.
func (s *Server) setMailingDisabled(c *fiber.Ctx, disabled bool) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	m, err := s.Store.MailingByID(ctx, mailing.Scope{All: true}, id)
	if err != nil {
		return err
	}
	me := currentUser(c)
	if err := s.Store.DisableMailing(ctx, me.ID, m.ID, disabled, m.MessageSubject); err != nil {
		return err
	}
	msg, event := "manager.mailing.enabled", "mailing enabled"
	if disabled {
		msg, event = "manager.mailing.disabled", "mailing disabled"
	}
	s.Log.Info(event, "request_id", requestIDOf(c), "manager_id", me.ID, "mailing_id", m.ID, "owner_id", m.OwnerID)
	s.flash(c, "success", msg, map[string]any{"Subject": m.MessageSubject})
	return s.redirect(c, mailingPath(m.ID))
}

// managerAudit is the audit log, newest first, optionally of one action (?status=).
func (s *Server) managerAudit(c *fiber.Ctx) error {
	p := listParams(c)
	p.Q, p.Sort, p.Desc = "", "", false
	if !slices.Contains(mailing.AuditActions, p.Status) {
		p.Status = ""
	}
	page, err := s.Store.ListAudit(c.UserContext(), p)
	if err != nil {
		return err
	}
	v := pages.AuditList{List: listState("/manager/audit", p, page), Items: page.Items}
	return s.render(c, View{Title: s.t(c, "manager.audit.title"), Content: pages.AuditPage(v), Partial: pages.AuditTable(v)})
}

package web

import (
	"slices"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/views/pages"
)

// Manager powers: the users list with block and unblock, disabling and enabling a mailing,
// and the audit log every one of those actions writes to. requireManager guards each route.

const managerUsersPath = "/manager/users"

func (s *Server) managerUsers(c *fiber.Ctx) error { return s.renderUsers(c, fiber.StatusOK) }

// renderUsers shows the users list the query string asks for, with status.
func (s *Server) renderUsers(c *fiber.Ctx, status int) error {
	p := store.UserListParams{ListParams: listParams(c), Role: c.Query("role")}
	if !slices.Contains(store.UserStatuses, p.Status) {
		p.Status = ""
	}
	if p.Role != mailing.RoleUser && p.Role != mailing.RoleManager {
		p.Role = ""
	}
	page, err := s.Store.ListUsers(c.UserContext(), p)
	if err != nil {
		return err
	}
	sort, desc := store.UserSort(p.ListParams)
	v := pages.UserList{
		List:   listState(managerUsersPath, p.ListParams, sort, desc, page.Next, page.Prev),
		Role:   p.Role,
		Items:  page.Items,
		SelfID: currentUser(c).ID,
	}
	return s.render(c, View{Title: s.t(c, "manager.users.title"), Content: pages.UsersPage(v), Partial: pages.UsersTable(v), Status: status})
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
	if blocked && u.ID == me.ID {
		s.flash(c, "error", "manager.cannot_block_self")
		if isPartial(c) {
			// Nothing to swap: the flash rides out of band.
			c.Set("HX-Reswap", "none")
			return s.render(c, View{Partial: templ.NopComponent, Content: templ.NopComponent, Status: fiber.StatusUnprocessableEntity})
		}
		return s.renderUsers(c, fiber.StatusUnprocessableEntity)
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
	if isPartial(c) {
		row, err := s.Store.UserRowByID(ctx, u.ID)
		if err != nil {
			return err
		}
		v := pages.UserList{SelfID: me.ID}
		return s.render(c, View{Partial: pages.UserRowView(v, *row), Content: pages.UserRowView(v, *row)})
	}
	return c.Redirect(localPath(c.FormValue("next"), managerUsersPath), fiber.StatusSeeOther)
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
	if !slices.Contains(store.AuditActions, p.Status) {
		p.Status = ""
	}
	page, err := s.Store.ListAudit(c.UserContext(), p)
	if err != nil {
		return err
	}
	v := pages.AuditList{
		List:  listState("/manager/audit", p, "", false, page.Next, page.Prev),
		Items: page.Items,
	}
	return s.render(c, View{Title: s.t(c, "manager.audit.title"), Content: pages.AuditPage(v), Partial: pages.AuditTable(v)})
}

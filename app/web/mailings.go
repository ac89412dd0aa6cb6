package web

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/views/components"
	"mailer/views/pages"
)

// datetimeLocal is the value format of <input type="datetime-local">.
const datetimeLocal = "2006-01-02T15:04"

// recipientSearchLimit caps the clients a recipients search offers.
const recipientSearchLimit = 50

func (s *Server) mailingsList(c *fiber.Ctx) error {
	p := listParams(c)
	if !slices.Contains(pages.MailingStatusFilters, p.Status) {
		p.Status = ""
	}
	page, err := s.Store.ListMailings(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	sort, desc := store.MailingSort(p)
	v := pages.MailingList{
		List:    listState("/mailings", p, sort, desc, page.Next, page.Prev),
		Items:   page.Items,
		Now:     s.Clock.Now(),
		CanEdit: canEdit(c),
		Manager: currentUser(c).IsManager(),
	}
	return s.render(c, View{Title: s.t(c, "mailings.title"), Content: pages.MailingsPage(v), Partial: pages.MailingsTable(v)})
}

func (s *Server) mailingView(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	m, err := s.Store.MailingByID(c.UserContext(), readScope(c), id)
	if err != nil {
		return err
	}
	p := listParams(c)
	p.Q, p.Status = "", ""
	recipients, err := s.Store.MailingRecipients(c.UserContext(), id, p)
	if err != nil {
		return err
	}
	sort, desc := store.ClientSort(p)
	send, err := s.sendPanel(c, m)
	if err != nil {
		return err
	}
	attempts, err := s.attemptList(c, m)
	if err != nil {
		return err
	}
	v := pages.MailingView{
		Send:       send,
		Attempts:   attempts,
		Mailing:    m,
		Now:        s.Clock.Now(),
		CanEdit:    canEdit(c)(m.OwnerID),
		Manager:    currentUser(c).IsManager(),
		Recipients: recipients.Items,
		List:       listState(mailingPath(id), p, sort, desc, recipients.Next, recipients.Prev),
	}
	return s.render(c, View{Title: m.MessageSubject, Content: pages.MailingPage(v), Partial: pages.MailingRecipientsTable(v)})
}

func mailingPath(id int64) string { return "/mailings/" + strconv.FormatInt(id, 10) }

// mailingRecipientSearch offers up to 50 of the user's own clients matching q, leaving out
// those already chosen (client_ids).
func (s *Server) mailingRecipientSearch(c *fiber.Ctx) error {
	var chosen []int64
	for _, v := range c.Context().QueryArgs().PeekMulti("client_ids") {
		if id, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			chosen = append(chosen, id)
		}
	}
	q := c.Query("q")
	results, err := s.recipientMatches(c, q, chosen)
	if err != nil {
		return err
	}
	return s.render(c, View{Title: s.t(c, "mailings.find_clients"), Content: pages.RecipientSearchPage(q, results), Partial: pages.RecipientResults(results)})
}

func (s *Server) recipientMatches(c *fiber.Ctx, q string, chosen []int64) ([]mailing.Client, error) {
	page, err := s.Store.ListClients(c.UserContext(), ownScope(c),
		mailing.ListParams{Q: q, Limit: min(recipientSearchLimit+len(chosen), 100)})
	if err != nil {
		return nil, err
	}
	out := make([]mailing.Client, 0, len(page.Items))
	for _, cl := range page.Items {
		if !slices.Contains(chosen, cl.ID) && len(out) < recipientSearchLimit {
			out = append(out, cl)
		}
	}
	return out, nil
}

func (s *Server) mailingNew(c *fiber.Ctx) error {
	return s.mailingForm(c, pages.MailingForm{Period: mailing.PeriodNone}, nil, nil)
}

// mailingForm renders the form; chosen are the recipients to show checked.
func (s *Server) mailingForm(c *fiber.Ctx, f pages.MailingForm, chosen []int64, err error) error {
	status := fiber.StatusOK
	if err != nil {
		fields, msg, st, ok := s.formErrors(c, err)
		if !ok {
			return err
		}
		f.Errors, f.Error, status = fields, msg, st
	}
	ctx, uid := c.UserContext(), currentUser(c).ID
	var lerr error
	if f.Messages, lerr = s.Store.MessageChoices(ctx, uid); lerr != nil {
		return lerr
	}
	if f.Selected, lerr = s.clientsByIDs(c, chosen); lerr != nil {
		return lerr
	}
	ids := make([]int64, len(f.Selected))
	for i, cl := range f.Selected {
		ids[i] = cl.ID
	}
	if f.Results, lerr = s.recipientMatches(c, f.Q, ids); lerr != nil {
		return lerr
	}
	title := s.t(c, "mailings.new")
	if f.ID != 0 {
		title = s.t(c, "mailings.edit")
	}
	return s.render(c, View{Title: title, Content: pages.MailingFormPage(f), Partial: pages.MailingFormFields(f), Status: status})
}

// clientsByIDs loads the user's own clients among ids, however many, sorted by email.
func (s *Server) clientsByIDs(c *fiber.Ctx, ids []int64) ([]mailing.Client, error) {
	var out []mailing.Client
	for start := 0; start < len(ids); start += 1000 {
		cs, err := s.Store.ClientsByIDs(c.UserContext(), currentUser(c).ID, ids[start:min(start+1000, len(ids))])
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	slices.SortFunc(out, func(a, b mailing.Client) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

// mailingFromForm reads the posted form: the mailing, what to show again, the recipients and
// the field errors (datetimes are entered in the user's time zone and stored in UTC).
func (s *Server) mailingFromForm(c *fiber.Ctx) (mailing.Mailing, pages.MailingForm, store.Recipients, map[string]string) {
	f := pages.MailingForm{
		StartAt:    strings.TrimSpace(c.FormValue("start_at")),
		EndAt:      strings.TrimSpace(c.FormValue("end_at")),
		Period:     strings.TrimSpace(c.FormValue("period")),
		AllClients: c.FormValue("all_clients") != "",
		Q:          c.FormValue("q"),
	}
	errs := map[string]string{}
	f.MessageID, _ = strconv.ParseInt(c.FormValue("message_id"), 10, 64)
	r := store.Recipients{All: f.AllClients}
	for _, v := range formValues(c, "client_ids") {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || id <= 0 {
			errs["client_ids"] = "validation.not_yours"
			continue
		}
		if !slices.Contains(r.ClientIDs, id) {
			r.ClientIDs = append(r.ClientIDs, id)
		}
	}
	m := mailing.Mailing{MessageID: f.MessageID, Period: f.Period}
	tz := page(c).Location()
	var startErr, endErr bool
	m.StartAt, startErr = parseLocal(f.StartAt, tz)
	m.EndAt, endErr = parseLocal(f.EndAt, tz)
	for k, v := range m.Validate() {
		errs[k] = v
	}
	if startErr {
		errs["start_at"] = "validation.datetime"
	}
	if endErr {
		errs["end_at"] = "validation.datetime"
	}
	if f.Period == "" {
		f.Period = m.Period
	}
	return m, f, r, errs
}

// parseLocal reads a datetime-local value in tz as UTC; bad is true for a value that is not
// empty and not a datetime (an empty one is left to Validate).
func parseLocal(v string, tz *time.Location) (t time.Time, bad bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(datetimeLocal, v, tz)
	if err != nil {
		// Browsers may send seconds when a step allows them.
		if t, err = time.ParseInLocation(datetimeLocal+":05", v, tz); err != nil {
			return time.Time{}, true
		}
	}
	return t.UTC(), false
}

// formValues returns every value of a repeated form field.
func formValues(c *fiber.Ctx, name string) []string {
	var out []string
	if form, err := c.MultipartForm(); err == nil {
		return form.Value[name]
	}
	for _, v := range c.Request().PostArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

// saveMailing validates and saves the posted form as a new mailing (id 0) or over one of the
// user's own; "find" (the recipients search without JavaScript) shows the form again instead.
func (s *Server) saveMailing(c *fiber.Ctx, id int64) error {
	m, f, r, errs := s.mailingFromForm(c)
	m.ID, f.ID = id, id
	m.OwnerID = currentUser(c).ID
	if c.FormValue("find") != "" {
		return s.mailingForm(c, f, r.ClientIDs, nil)
	}
	if len(errs) > 0 {
		return s.mailingForm(c, f, r.ClientIDs, invalidForm(errs))
	}
	if err := s.Store.SaveMailing(c.UserContext(), &m, r); err != nil {
		return s.mailingForm(c, f, r.ClientIDs, err)
	}
	key := "mailings.created"
	if id != 0 {
		key = "mailings.saved"
	}
	s.flash(c, "success", key)
	return s.redirect(c, "/mailings")
}

func (s *Server) mailingCreate(c *fiber.Ctx) error { return s.saveMailing(c, 0) }

func (s *Server) ownMailing(c *fiber.Ctx) (*mailing.Mailing, error) {
	id, err := paramID(c)
	if err != nil {
		return nil, err
	}
	return forOwner(c, func(sc mailing.Scope) (*mailing.Mailing, error) { return s.Store.MailingByID(c.UserContext(), sc, id) })
}

func (s *Server) mailingEdit(c *fiber.Ctx) error {
	m, err := s.ownMailing(c)
	if err != nil {
		return err
	}
	ids, err := s.Store.MailingRecipientIDs(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	tz := page(c).Location()
	f := pages.MailingForm{
		ID:        m.ID,
		MessageID: m.MessageID,
		StartAt:   m.StartAt.In(tz).Format(datetimeLocal),
		EndAt:     m.EndAt.In(tz).Format(datetimeLocal),
		Period:    m.Period,
	}
	return s.mailingForm(c, f, ids, nil)
}

func (s *Server) mailingUpdate(c *fiber.Ctx) error {
	m, err := s.ownMailing(c)
	if err != nil {
		return err
	}
	return s.saveMailing(c, m.ID)
}

func (s *Server) mailingDeleteConfirm(c *fiber.Ctx) error {
	m, err := s.ownMailing(c)
	if err != nil {
		return err
	}
	q := s.t(c, "mailings.delete_confirm", map[string]any{"Subject": m.MessageSubject})
	return s.render(c, View{Title: q, Content: components.ConfirmDelete(q, c.Path(), "/mailings")})
}

func (s *Server) mailingDelete(c *fiber.Ctx) error {
	m, err := s.ownMailing(c)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteMailing(c.UserContext(), currentUser(c).ID, m.ID); err != nil {
		return err
	}
	s.flash(c, "success", "mailings.deleted", map[string]any{"Subject": m.MessageSubject})
	return s.removed(c, "/mailings")
}

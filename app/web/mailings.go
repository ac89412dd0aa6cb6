package web

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/pages"
)

// datetimeLocal is the value format of <input type="datetime-local">.
const datetimeLocal = "2006-01-02T15:04"

// recipientSearchLimit caps the clients a recipients search offers.
const recipientSearchLimit = 50

func mailingPath(id int64) string { return "/mailings/" + strconv.FormatInt(id, 10) }

// mailingPost is the mailing form: what it shows, and the recipients chosen on it.
type mailingPost struct {
	*pages.MailingForm
	recipients mailing.Recipients
	badIDs     bool   // a chosen recipient was not an id
	tagProblem string // what is wrong with the tags, a translation key
}

// mailings send a message to clients, now or on a schedule, served by the entity handlers;
// their pages also show the sending (send.go).
func (s *Server) mailings() *entity[mailing.Mailing, mailingPost] {
	return &entity[mailing.Mailing, mailingPost]{
		s: s, kind: "mailings", filters: mailing.MailingFilters, byID: s.Store.MailingByID, list: s.Store.ListMailings, count: s.Store.CountMailingList, remove: s.Store.DeleteMailing,
		listPage: pages.MailingsPage, listTable: pages.MailingsTable,
		page:  s.mailingPage,
		blank: func() mailingPost { return mailingPost{MailingForm: &pages.MailingForm{Period: mailing.PeriodNone}} },
		edit: func(c *fiber.Ctx, m *mailing.Mailing) (mailingPost, error) {
			ids, err := s.Store.MailingRecipientIDs(c.UserContext(), m.ID)
			if err != nil {
				return mailingPost{}, err
			}
			tags, err := s.Store.MailingTags(c.UserContext(), m.ID)
			tz := page(c).Location()
			return mailingPost{MailingForm: &pages.MailingForm{
				ID:         m.ID,
				MessageID:  m.MessageID,
				StartAt:    m.StartAt.In(tz).Format(datetimeLocal),
				EndAt:      m.EndAt.In(tz).Format(datetimeLocal),
				Period:     m.Period,
				AllClients: m.AllClients,
				Tags:       strings.Join(tags, ", "),
			}, recipients: mailing.Recipients{ClientIDs: ids, Tags: tags, All: m.AllClients}}, err
		},
		fields:  func(f mailingPost) templ.Component { return pages.MailingFormFields(f.MailingForm) },
		choices: s.mailingChoices,
		posted:  s.postedMailing,
		save:    s.saveMailing,
		names:   func(m *mailing.Mailing) map[string]any { return map[string]any{"Subject": m.MessageSubject} },
		path:    func(m *mailing.Mailing) string { return mailingPath(m.ID) },
	}
}

// mailingStore is what the mailings pages need of the database.
type mailingStore interface {
	ListMailings(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Mailing], error)
	MailingByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Mailing, error)
	MailingRecipients(ctx context.Context, mailingID int64, p mailing.ListParams) (mailing.Page[mailing.Client], error)
	MailingRecipientIDs(ctx context.Context, mailingID int64) ([]int64, error)
	SaveMailing(ctx context.Context, m *mailing.Mailing, r mailing.Recipients) error
	DeleteMailing(ctx context.Context, ownerID, id int64) error
	MailingTags(ctx context.Context, mailingID int64) ([]string, error)
	MailingPicked(ctx context.Context, mailingID int64) (int, error)
	MailingBounces(ctx context.Context, mailingID int64) (mailing.BounceCounts, error)
	// The form offers the owner's messages and clients to choose from.
	MessageChoices(ctx context.Context, ownerID int64) ([]mailing.Message, error)
	ClientsByIDs(ctx context.Context, ownerID int64, ids []int64) ([]mailing.Client, error)
}

// mailingPage is a mailing: what it sends to whom and when, its recipients, the latest
// run's progress and the attempts.
func (s *Server) mailingPage(c *fiber.Ctx, m *mailing.Mailing) (View, error) {
	p := listParams(c)
	p.Q, p.Status = "", ""
	recipients, err := s.Store.MailingRecipients(c.UserContext(), m.ID, p)
	if err != nil {
		return View{}, err
	}
	send, err := s.sendPanel(c, m)
	if err != nil {
		return View{}, err
	}
	attempts, err := s.attemptList(c, m)
	if err != nil {
		return View{}, err
	}
	tags, err := s.Store.MailingTags(c.UserContext(), m.ID)
	if err != nil {
		return View{}, err
	}
	picked, err := s.Store.MailingPicked(c.UserContext(), m.ID)
	if err != nil {
		return View{}, err
	}
	bounces, err := s.Store.MailingBounces(c.UserContext(), m.ID)
	if err != nil {
		return View{}, err
	}
	list := listState(mailingPath(m.ID), p, recipients)
	list.Target = "#recipients"
	list.Label = s.t(c, "mailings.recipients_pages")
	v := pages.MailingView{
		Send:       send,
		Attempts:   attempts,
		Mailing:    m,
		Now:        s.Clock.Now(),
		CanEdit:    canEdit(c)(m.OwnerID),
		Manager:    currentUser(c).IsManager(),
		Recipients: recipients.Items,
		List:       list,
		Tags:       tags,
		Picked:     picked,
		Bounces:    bounces,
	}
	return View{Title: components.SubjectText(m.MessageSubject), Content: pages.MailingPage(v), Partial: pages.MailingRecipientsTable(v)}, nil
}

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

// mailingChoices loads what the form offers: the user's messages, the chosen recipients
// and the matches of the recipients search.
func (s *Server) mailingChoices(c *fiber.Ctx, f mailingPost) error {
	var err error
	if f.Messages, err = s.Store.MessageChoices(c.UserContext(), currentUser(c).ID); err != nil {
		return err
	}
	if f.Selected, err = s.clientsByIDs(c, f.recipients.ClientIDs); err != nil {
		return err
	}
	ids := make([]int64, len(f.Selected))
	for i, cl := range f.Selected {
		ids[i] = cl.ID
	}
	f.Results, err = s.recipientMatches(c, f.Q, ids)
	return err
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

// postedMailing reads the posted form as typed.
func (s *Server) postedMailing(c *fiber.Ctx, id int64) mailingPost {
	f := mailingPost{MailingForm: &pages.MailingForm{
		ID:         id,
		StartAt:    strings.TrimSpace(c.FormValue("start_at")),
		EndAt:      strings.TrimSpace(c.FormValue("end_at")),
		Period:     strings.TrimSpace(c.FormValue("period")),
		AllClients: c.FormValue("all_clients") != "",
		Q:          c.FormValue("q"),
	}}
	f.MessageID, _ = strconv.ParseInt(c.FormValue("message_id"), 10, 64)
	f.recipients.All = f.AllClients
	tags := formValues(c, "tags")
	f.Tags = strings.Join(tags, ", ")
	f.recipients.Tags, f.tagProblem = mailing.ParseTags(tags...)
	for _, v := range formValues(c, "client_ids") {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || id <= 0 {
			f.badIDs = true
			continue
		}
		if !slices.Contains(f.recipients.ClientIDs, id) {
			f.recipients.ClientIDs = append(f.recipients.ClientIDs, id)
		}
	}
	return f
}

// saveMailing validates the posted form and saves it as a new mailing or over one of the
// user's own; "find" (the recipients search without JavaScript) shows the form again
// instead.
func (s *Server) saveMailing(c *fiber.Ctx, f mailingPost) (saved, error) {
	if c.FormValue("find") != "" {
		return saved{}, nil
	}
	m, errs := s.mailingOf(c, f)
	if len(errs) > 0 {
		return saved{}, invalidForm(errs)
	}
	m.OwnerID = currentUser(c).ID
	return saved{next: "/mailings"}, s.Store.SaveMailing(c.UserContext(), &m, f.recipients)
}

// mailingOf is the mailing a posted form describes, with the translation keys of what is
// wrong with it: datetimes are entered in the user's time zone and stored in UTC.
func (s *Server) mailingOf(c *fiber.Ctx, f mailingPost) (mailing.Mailing, map[string]string) {
	m := mailing.Mailing{ID: f.ID, MessageID: f.MessageID, Period: f.Period}
	tz := page(c).Location()
	var startErr, endErr bool
	m.StartAt, startErr = parseLocal(f.StartAt, tz)
	m.EndAt, endErr = parseLocal(f.EndAt, tz)
	errs := m.Validate()
	if f.Period == "" {
		f.Period = m.Period
	}
	if startErr {
		errs["start_at"] = "validation.datetime"
	}
	if endErr {
		errs["end_at"] = "validation.datetime"
	}
	if f.badIDs {
		errs["client_ids"] = "validation.not_yours"
	}
	if f.tagProblem != "" {
		errs["tags"] = f.tagProblem
	}
	return m, errs
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

package web

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// ---- Messages ----

type apiMessageOut struct {
	ID        int64     `json:"id"`
	OwnerID   int64     `json:"owner_id"`
	Subject   string    `json:"subject"`
	Format    string    `json:"format"`
	Body      string    `json:"body"`
	TextBody  string    `json:"text_body"`
	LayoutID  *int64    `json:"layout_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func apiMessageOf(m *mailing.Message) apiMessageOut {
	return apiMessageOut{ID: m.ID, OwnerID: m.OwnerID, Subject: m.Subject, Format: m.Format, Body: m.Body, TextBody: m.TextBody,
		LayoutID: m.LayoutID, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
}

// apiMessageIn is a message as written; in a PATCH an absent field keeps its value and a
// layout_id of 0 takes the layout off.
type apiMessageIn struct {
	Subject  *string `json:"subject"`
	Body     *string `json:"body"`
	Format   *string `json:"format"`
	TextBody *string `json:"text_body"`
	LayoutID *int64  `json:"layout_id"`
}

// form is the message form in describes over f, so the API saves through the form's path
// (storeMessage: validation, template compilation, the layout's ownership).
func (in *apiMessageIn) form(f *pages.MessageForm) {
	for dst, src := range map[*string]*string{&f.Subject: in.Subject, &f.Body: in.Body, &f.Format: in.Format, &f.TextBody: in.TextBody} {
		if src != nil {
			*dst = *src
		}
	}
	if in.LayoutID != nil {
		f.Layout = ""
		if *in.LayoutID != 0 {
			f.Layout = strconv.FormatInt(*in.LayoutID, 10)
		}
	}
}

func (s *Server) apiMessages(c *fiber.Ctx) error {
	p, err := s.apiListParams(c)
	if err != nil {
		return err
	}
	page, err := s.Store.ListMessages(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(page.Items, page.Next, apiMessageOf))
}

func (s *Server) apiMessage(c *fiber.Ctx) error {
	m, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.Message, error) {
		return s.Store.MessageByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, apiMessageOf(m))
}

func (s *Server) apiMessageCreate(c *fiber.Ctx) error {
	var in apiMessageIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	f := &pages.MessageForm{Format: mailing.FormatText}
	in.form(f)
	return s.apiMessageSave(c, f, fiber.StatusCreated)
}

func (s *Server) apiMessageSave(c *fiber.Ctx, f *pages.MessageForm, status int) error {
	m, _, err := s.storeMessage(c, f)
	if err != nil {
		return err
	}
	saved, err := s.Store.MessageByID(c.UserContext(), ownScope(c), m.ID)
	if err != nil {
		return err
	}
	if status == fiber.StatusCreated {
		c.Location("/api/v1/messages/" + strconv.FormatInt(m.ID, 10))
	}
	return apiJSON(c, status, apiMessageOf(saved))
}

func (s *Server) apiMessageUpdate(c *fiber.Ctx) error {
	m, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Message, error) {
		return s.Store.MessageByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	var in apiMessageIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	f := &pages.MessageForm{ID: id, Subject: m.Subject, Format: m.Format, Body: m.Body, TextBody: m.TextBody}
	if m.LayoutID != nil {
		f.Layout = strconv.FormatInt(*m.LayoutID, 10)
	}
	in.form(f)
	return s.apiMessageSave(c, f, fiber.StatusOK)
}

func (s *Server) apiMessageDelete(c *fiber.Ctx) error {
	_, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Message, error) {
		return s.Store.MessageByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	if err := s.Store.DeleteMessage(c.UserContext(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- Mailings ----

type apiMailingOut struct {
	ID             int64      `json:"id"`
	OwnerID        int64      `json:"owner_id"`
	MessageID      int64      `json:"message_id"`
	Subject        string     `json:"subject"`
	StartAt        time.Time  `json:"start_at"`
	EndAt          time.Time  `json:"end_at"`
	Period         string     `json:"period"`
	AllClients     bool       `json:"all_clients"`
	ClientIDs      *[]int64   `json:"client_ids,omitempty"`
	Tags           *[]string  `json:"tags,omitempty"`
	Disabled       bool       `json:"disabled"`
	Status         string     `json:"status"`
	FirstAttemptAt *time.Time `json:"first_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

func (s *Server) apiMailingOf(m *mailing.Mailing) apiMailingOut {
	return apiMailingOut{ID: m.ID, OwnerID: m.OwnerID, MessageID: m.MessageID, Subject: m.MessageSubject,
		StartAt: m.StartAt.UTC(), EndAt: m.EndAt.UTC(), Period: m.Period, AllClients: m.AllClients, Disabled: m.Disabled,
		Status: mailing.Status(m, s.Clock.Now()), FirstAttemptAt: m.FirstAttemptAt, CreatedAt: m.CreatedAt.UTC()}
}

// apiMailingIn is a mailing as written, with times in RFC 3339; in a PATCH an absent field
// keeps its value.
type apiMailingIn struct {
	MessageID  *int64    `json:"message_id"`
	ClientIDs  *[]int64  `json:"client_ids"`
	Tags       *[]string `json:"tags"`
	AllClients *bool     `json:"all_clients"`
	StartAt    *string   `json:"start_at"`
	EndAt      *string   `json:"end_at"`
	Period     *string   `json:"period"`
}

// apply puts the fields given on m and r and checks them with Mailing.Validate and
// ParseTags, the form's rules; the store checks the message and clients are the owner's.
func (in *apiMailingIn) apply(m *mailing.Mailing, r *mailing.Recipients) map[string]string {
	var bad []string
	if in.MessageID != nil {
		m.MessageID = *in.MessageID
	}
	if in.Period != nil {
		m.Period = strings.TrimSpace(*in.Period)
	}
	for field, pair := range map[string]struct {
		v   *string
		dst *time.Time
	}{"start_at": {in.StartAt, &m.StartAt}, "end_at": {in.EndAt, &m.EndAt}} {
		if pair.v == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(*pair.v))
		if err != nil {
			bad = append(bad, field)
			t = time.Time{}
		}
		*pair.dst = t.UTC()
	}
	if in.AllClients != nil {
		r.All = *in.AllClients
	}
	tagProblem := ""
	if in.Tags != nil {
		r.Tags, tagProblem = mailing.ParseTags(*in.Tags...)
		if slices.ContainsFunc(*in.Tags, func(t string) bool { return strings.Contains(t, ",") }) {
			tagProblem = "validation.tag_comma"
		}
	}
	badIDs := false
	if in.ClientIDs != nil {
		r.ClientIDs = nil
		for _, id := range *in.ClientIDs {
			if id <= 0 {
				badIDs = true
			} else if !slices.Contains(r.ClientIDs, id) {
				r.ClientIDs = append(r.ClientIDs, id)
			}
		}
	}
	errs := m.Validate()
	for _, f := range bad {
		errs[f] = "validation.datetime"
	}
	if tagProblem != "" {
		errs["tags"] = tagProblem
	}
	if badIDs {
		errs["client_ids"] = "validation.not_yours"
	}
	return errs
}

func (s *Server) apiMailings(c *fiber.Ctx) error {
	p, err := s.apiListParams(c)
	if err != nil {
		return err
	}
	if p.Status = c.Query("status"); p.Status != "" && !slices.Contains(mailing.MailingFilters, p.Status) {
		return badParam("status", "must be one of created, running, finished, disabled")
	}
	page, err := s.Store.ListMailings(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(page.Items, page.Next, s.apiMailingOf))
}

// apiMailingFull is a mailing with its recipients: the picked clients and the tags.
func (s *Server) apiMailingFull(c *fiber.Ctx, m *mailing.Mailing) (apiMailingOut, error) {
	out := s.apiMailingOf(m)
	ids, err := s.Store.MailingRecipientIDs(c.UserContext(), m.ID)
	if err != nil {
		return out, err
	}
	tags, err := s.Store.MailingTags(c.UserContext(), m.ID)
	if ids == nil {
		ids = []int64{}
	}
	if tags == nil {
		tags = []string{}
	}
	out.ClientIDs, out.Tags = &ids, &tags
	return out, err
}

func (s *Server) apiMailing(c *fiber.Ctx) error {
	m, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	out, err := s.apiMailingFull(c, m)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, out)
}

func (s *Server) apiMailingCreate(c *fiber.Ctx) error {
	var in apiMailingIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	m := mailing.Mailing{OwnerID: currentUser(c).ID}
	var r mailing.Recipients
	errs := in.apply(&m, &r)
	if len(errs) > 0 {
		return apiInvalid(errs)
	}
	if err := s.Store.SaveMailing(c.UserContext(), &m, r); err != nil {
		return err
	}
	c.Location("/api/v1/mailings/" + strconv.FormatInt(m.ID, 10))
	return s.apiMailingAnswer(c, fiber.StatusCreated, m.ID)
}

func (s *Server) apiMailingAnswer(c *fiber.Ctx, status int, id int64) error {
	saved, err := s.Store.MailingByID(c.UserContext(), ownScope(c), id)
	if err != nil {
		return err
	}
	out, err := s.apiMailingFull(c, saved)
	if err != nil {
		return err
	}
	return apiJSON(c, status, out)
}

func (s *Server) apiMailingUpdate(c *fiber.Ctx) error {
	m, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	var in apiMailingIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	r := mailing.Recipients{All: m.AllClients}
	if r.ClientIDs, err = s.Store.MailingRecipientIDs(c.UserContext(), id); err != nil {
		return err
	}
	if r.Tags, err = s.Store.MailingTags(c.UserContext(), id); err != nil {
		return err
	}
	if errs := in.apply(m, &r); len(errs) > 0 {
		return apiInvalid(errs)
	}
	if err := s.Store.SaveMailing(c.UserContext(), m, r); err != nil {
		return err
	}
	return s.apiMailingAnswer(c, fiber.StatusOK, id)
}

func (s *Server) apiMailingDelete(c *fiber.Ctx) error {
	_, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	if err := s.Store.DeleteMailing(c.UserContext(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- Runs and attempts ----

type apiProgress struct {
	Total      int  `json:"total"`
	Sent       int  `json:"sent"`
	Failed     int  `json:"failed"`
	Pending    int  `json:"pending"`
	Cancelled  int  `json:"cancelled"`
	Suppressed int  `json:"suppressed"`
	Done       bool `json:"done"`
}

type apiRunOut struct {
	ID         int64       `json:"id"`
	MailingID  int64       `json:"mailing_id"`
	Kind       string      `json:"kind"`
	Total      int         `json:"total"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt *time.Time  `json:"finished_at"`
	Progress   apiProgress `json:"progress"`
}

func (s *Server) apiRunOf(c *fiber.Ctx, r *mailing.Run) (apiRunOut, error) {
	p, err := s.Store.Progress(c.UserContext(), r.ID)
	return apiRunOut{ID: r.ID, MailingID: r.MailingID, Kind: r.Kind, Total: r.Total, StartedAt: r.StartedAt.UTC(), FinishedAt: r.FinishedAt,
		Progress: apiProgress{Total: p.Total, Sent: p.Sent, Failed: p.Failed, Pending: p.Pending, Cancelled: p.Cancelled,
			Suppressed: p.Suppressed, Done: p.Done()}}, err
}

// apiMailingSend starts a run now, as "Send now" does, and answers 202 with it: the
// workers send, the caller polls GET /api/v1/runs/{id}.
func (s *Server) apiMailingSend(c *fiber.Ctx) error {
	m, _, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	run, err := s.Engine.StartMailing(c.UserContext(), m, mailing.RunManual, nil, 0)
	var refused *mailing.Error
	if errors.As(err, &refused) && refused.Code == mailing.EFORBIDDEN {
		// A finished or disabled mailing: the caller may act, just not now — a conflict
		// with the mailing's state, not a missing permission.
		return &apiError{status: fiber.StatusConflict, detail: s.Catalog.Translate("en", refused.Message, nil)}
	} else if err != nil {
		return err
	}
	out, err := s.apiRunOf(c, run)
	if err != nil {
		return err
	}
	c.Location("/api/v1/runs/" + strconv.FormatInt(run.ID, 10))
	return apiJSON(c, fiber.StatusAccepted, out)
}

func (s *Server) apiMailingRuns(c *fiber.Ctx) error {
	m, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	runs, err := s.Store.ListRuns(c.UserContext(), m.ID, apiPageMax)
	if err != nil {
		return err
	}
	out := apiList[apiRunOut]{Items: make([]apiRunOut, len(runs))}
	for i := range runs {
		if out.Items[i], err = s.apiRunOf(c, &runs[i]); err != nil {
			return err
		}
	}
	return apiJSON(c, fiber.StatusOK, out)
}

// apiRun is one run with its progress, for polling; its mailing must be in scope.
func (s *Server) apiRun(c *fiber.Ctx) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	run, err := s.Store.RunByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	m, err := s.Store.MailingByID(c.UserContext(), readScope(c), run.MailingID)
	if err != nil {
		return err
	}
	out, err := s.apiRunOf(c, run)
	if m.Transactional {
		out.Kind = "transactional" // the message's run of one-off sends
	}
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, out)
}

type apiAttemptOut struct {
	ID          int64     `json:"id"`
	RunID       int64     `json:"run_id"`
	DeliveryID  int64     `json:"delivery_id"`
	ClientID    *int64    `json:"client_id"`
	Email       string    `json:"email"`
	AttemptedAt time.Time `json:"attempted_at"`
	Status      string    `json:"status"`
	SMTPCode    int       `json:"smtp_code"`
	Response    string    `json:"response"`
	LatencyMS   int       `json:"latency_ms"`
}

func apiAttemptOf(a *mailing.Attempt) apiAttemptOut {
	out := apiAttemptOut{ID: a.ID, RunID: a.RunID, DeliveryID: a.DeliveryID, Email: a.Email, AttemptedAt: a.AttemptedAt.UTC(),
		Status: a.Status, SMTPCode: a.SMTPCode, Response: a.Response, LatencyMS: a.LatencyMS}
	if a.ClientID != 0 {
		id := a.ClientID
		out.ClientID = &id
	}
	return out
}

// apiMailingAttempts pages a mailing's attempts, newest first, optionally of one status.
func (s *Server) apiMailingAttempts(c *fiber.Ctx) error {
	m, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.Mailing, error) {
		return s.Store.MailingByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	p, err := s.apiListParams(c)
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != mailing.AttemptSuccess && status != mailing.AttemptFailure {
		return badParam("status", "must be success or failure")
	}
	page, err := s.Store.ListAttempts(c.UserContext(), m.ID, status, p)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(page.Items, page.Next, apiAttemptOf))
}

// ---- Transactional sends ----

type apiDeliveryOut struct {
	ID        int64           `json:"id"`
	RunID     int64           `json:"run_id"`
	MessageID int64           `json:"message_id"`
	Email     string          `json:"email"`
	Name      string          `json:"name"`
	State     string          `json:"state"`
	Reason    string          `json:"reason"`
	Tries     int             `json:"tries"`
	Attempts  []apiAttemptOut `json:"attempts"`
}

func apiDeliveryOf(d *mailing.DeliveryInfo) apiDeliveryOut {
	out := apiDeliveryOut{ID: d.ID, RunID: d.RunID, MessageID: d.MessageID, Email: d.Email, Name: d.Name, State: d.State,
		Reason: d.Reason, Tries: d.Tries, Attempts: make([]apiAttemptOut, len(d.Attempts))}
	for i := range d.Attempts {
		out.Attempts[i] = apiAttemptOf(&d.Attempts[i])
	}
	return out
}

// apiMessageSend sends one of the owner's messages now to one address through the sending
// engine (see sending.SendTransactional) and answers 202 with the delivery to poll.
func (s *Server) apiMessageSend(c *fiber.Ctx) error {
	m, _, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Message, error) {
		return s.Store.MessageByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	var in struct {
		Email *string `json:"email"`
		Name  string  `json:"name"`
	}
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	// The client rules apply to the address and the name.
	cl := mailing.Client{FullName: in.Name}
	if in.Email != nil {
		cl.Email = *in.Email
	}
	errs := cl.Validate()
	delete(errs, "comment")
	if v, ok := errs["full_name"]; ok {
		delete(errs, "full_name")
		errs["name"] = v
	}
	if len(errs) > 0 {
		return apiInvalid(errs)
	}
	d, err := s.Engine.SendTransactional(c.UserContext(), m, cl.Email, cl.FullName)
	if err != nil {
		return err
	}
	c.Location("/api/v1/deliveries/" + strconv.FormatInt(d.ID, 10))
	return apiJSON(c, fiber.StatusAccepted, apiDeliveryOf(d))
}

// apiDelivery is one delivery, of a mailing in scope, with its attempts: what a
// transactional send's caller polls.
func (s *Server) apiDelivery(c *fiber.Ctx) error {
	d, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.DeliveryInfo, error) {
		return s.Store.DeliveryByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, apiDeliveryOf(d))
}

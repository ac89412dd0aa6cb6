package web

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
)

// ---- Tags ----

type apiTagOut struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	Name    string `json:"name"`
	Clients int    `json:"clients"`
}

func (s *Server) apiTags(c *fiber.Ctx) error {
	tags, err := s.tagCounts(c.UserContext(), readScope(c))
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(tags, "", func(t *mailing.Tag) apiTagOut {
		return apiTagOut{ID: t.ID, OwnerID: t.OwnerID, Name: t.Name, Clients: t.Clients}
	}))
}

// ---- Suppressions ----

type apiSuppressionOut struct {
	ID        int64     `json:"id"`
	OwnerID   int64     `json:"owner_id"`
	Email     string    `json:"email"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

func apiSuppressionOf(x *mailing.Suppression) apiSuppressionOut {
	return apiSuppressionOut{ID: x.ID, OwnerID: x.OwnerID, Email: x.Email, Reason: x.Reason, Detail: x.Detail, CreatedAt: x.CreatedAt.UTC()}
}

func (s *Server) apiSuppressions(c *fiber.Ctx) error {
	p, err := s.apiListParams(c)
	if err != nil {
		return err
	}
	if p.Status = c.Query("reason"); p.Status != "" && !slices.Contains(mailing.SuppressionReasons, p.Status) {
		return badParam("reason", "must be one of "+strings.Join(mailing.SuppressionReasons, ", "))
	}
	page, err := s.Store.ListSuppressions(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(page.Items, page.Next, apiSuppressionOf))
}

// apiSuppressionCreate adds an address by hand, as the form does; an address already on
// the list keeps its entry (a complaint is never downgraded) and is answered 200.
func (s *Server) apiSuppressionCreate(c *fiber.Ctx) error {
	var in struct {
		Email  *string `json:"email"`
		Detail string  `json:"detail"`
	}
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	errs := map[string]string{}
	email, ok := "", false
	if in.Email != nil {
		email, ok = mailing.NormalizeEmail(*in.Email)
	}
	if !ok {
		errs["email"] = "validation.email"
	}
	detail := strings.TrimSpace(in.Detail)
	if strings.ContainsRune(detail, 0) || len(detail) > 500 {
		errs["detail"] = "validation.too_long"
	}
	if len(errs) > 0 {
		return apiInvalid(errs)
	}
	n, err := s.Store.Suppress(c.UserContext(), []mailing.Suppression{{OwnerID: currentUser(c).ID, Email: email,
		Reason: mailing.SuppressManual, Detail: detail}})
	if err != nil {
		return err
	}
	page, err := s.Store.ListSuppressions(c.UserContext(), ownScope(c), mailing.ListParams{Q: email, Limit: 10})
	if err != nil {
		return err
	}
	for i := range page.Items {
		if page.Items[i].Email == email {
			status := fiber.StatusOK
			if n > 0 {
				status = fiber.StatusCreated
				c.Location("/api/v1/suppressions/" + strconv.FormatInt(page.Items[i].ID, 10))
			}
			return apiJSON(c, status, apiSuppressionOf(&page.Items[i]))
		}
	}
	return mailing.Errorf(mailing.EINTERNAL, "suppression of %s not found after saving it", email)
}

func (s *Server) apiSuppressionDelete(c *fiber.Ctx) error {
	_, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Suppression, error) {
		return s.Store.SuppressionByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	if _, err := s.Store.Unsuppress(c.UserContext(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- Statistics ----

type apiStatsOut struct {
	From     string            `json:"from"`
	To       string            `json:"to"`
	TimeZone string            `json:"time_zone"`
	Success  int               `json:"success"`
	Failure  int               `json:"failure"`
	Sent     int               `json:"sent"`
	Mailings []apiStatsMailing `json:"mailings"`
	Days     []apiStatsDay     `json:"days"`
	Failures []apiStatsFailure `json:"failures"`
}

type apiStatsMailing struct {
	MailingID int64  `json:"mailing_id"`
	Subject   string `json:"subject"`
	Success   int    `json:"success"`
	Failure   int    `json:"failure"`
	Sent      int    `json:"sent"`
}

type apiStatsDay struct {
	Day     string `json:"day"`
	Success int    `json:"success"`
	Failure int    `json:"failure"`
}

type apiStatsFailure struct {
	Response string `json:"response"`
	Count    int    `json:"count"`
}

// apiStats are the statistics page's figures for from..to (dates, inclusive, in the user's
// time zone; the last 30 days by default): a user's own, the whole service's for a manager.
func (s *Server) apiStats(c *fiber.Ctx) error {
	u := currentUser(c)
	loc := s.Config.DefaultTimezone
	if l, err := time.LoadLocation(u.Timezone); err == nil && u.Timezone != "" {
		loc = l
	}
	y, m, d := s.Clock.Now().In(loc).Date()
	to := time.Date(y, m, d, 12, 0, 0, 0, loc)
	from := to.AddDate(0, 0, 1-statsDefaultDays)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		raw := c.Query(name)
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, raw)
		if err != nil || t.Year() < statsFirstYear {
			return badParam(name, "must be a date such as 2026-12-01")
		}
		*dst = time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, loc)
	}
	if from.After(to) || to.After(from.AddDate(0, 0, statsMaxDays-1)) {
		return badParam("to", "must be on or after from, at most 366 days later")
	}
	st, err := s.Store.Stats(c.UserContext(), mailing.StatsFilter{Scope: readScope(c), Loc: loc, From: from, To: to})
	if err != nil {
		return err
	}
	out := apiStatsOut{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), TimeZone: loc.String(),
		Success: st.Success, Failure: st.Failure, Sent: st.Sent}
	out.Mailings = make([]apiStatsMailing, len(st.Mailings))
	for i, m := range st.Mailings {
		out.Mailings[i] = apiStatsMailing{MailingID: m.MailingID, Subject: m.Subject, Success: m.Success, Failure: m.Failure, Sent: m.Sent}
	}
	out.Days = make([]apiStatsDay, len(st.Days))
	for i, d := range st.Days {
		out.Days[i] = apiStatsDay{Day: d.Day.Format(time.DateOnly), Success: d.Success, Failure: d.Failure}
	}
	out.Failures = make([]apiStatsFailure, len(st.Failures))
	for i, f := range st.Failures {
		out.Failures[i] = apiStatsFailure{Response: f.Response, Count: f.Count}
	}
	return apiJSON(c, fiber.StatusOK, out)
}

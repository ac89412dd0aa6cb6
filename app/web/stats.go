package web

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/cache"
	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/pages"
)

// statsStore is what the statistics page needs of the database.
type statsStore interface {
	Stats(ctx context.Context, f mailing.StatsFilter) (*mailing.Stats, error)
	StatsUserEmails(ctx context.Context, limit int) ([]string, error)
}

// Statistics periods: 30 days ending today by default, a year and a day at most.
const (
	statsDefaultDays = 30
	statsMaxDays     = 366
	statsUserOptions = 500 // emails offered to a manager picking a user
	// statsFirstYear is the earliest year a date may name; earlier ones are bad dates.
	// Nothing was sent before it, and midnight of 0001-01-01 east of UTC is in year 0,
	// which PostgreSQL refuses (a 500).
	statsFirstYear = 1970
)

// statsPage shows the attempts of a period, in the user's time zone: a user's own
// mailings; for a manager the whole service, or one user's picked with ?user= (an email
// or an id). A user's ?user= is ignored: they only ever see their own figures.
func (s *Server) statsPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := currentUser(c)
	p := page(c)
	loc := p.Location()
	v := pages.StatsView{Manager: u.IsManager(), TZ: loc.String()}

	from, to, dateErr := s.statsPeriod(c, loc)
	v.DateError = dateErr
	v.From, v.To = from.Format(time.DateOnly), to.Format(time.DateOnly)

	scope := mailing.Scope{UserID: u.ID}
	v.Scope = s.t(c, "stats.scope_own")
	if u.IsManager() {
		scope.All = true
		v.Scope = s.t(c, "stats.scope_all")
		v.ShowOwner = true
		v.User = strings.TrimSpace(c.Query("user"))
		if v.User != "" {
			target, err := s.statsUser(c, v.User)
			switch {
			case err == nil:
				scope = mailing.Scope{UserID: target.ID}
				v.Scope = s.t(c, "stats.scope_user", map[string]any{"Email": target.Email})
				v.ShowOwner = false
			case mailing.ErrorCode(err) == mailing.ENOTFOUND:
				v.UserError = s.t(c, "stats.no_user", map[string]any{"User": v.User})
			default:
				return err
			}
		}
		users, err := s.Store.StatsUserEmails(ctx, statsUserOptions)
		if err != nil {
			return err
		}
		v.Users = users
	}

	// Figures over tens of thousands of attempts take a database long to add up; they are
	// cached under the data version of what the page shows, which every attempt recorded
	// and every manager's action moves on, so the page is never stale.
	key := "stats:" + s.Versions.Of(ctx, scope) + ":" + strconv.FormatInt(scope.UserID, 10) + ":" + loc.String() +
		":" + v.From + ":" + v.To
	st, err := cache.Get(ctx, s.Cache, key, time.Minute, func() (*mailing.Stats, error) {
		return s.Store.Stats(ctx, mailing.StatsFilter{Scope: scope, Loc: loc, From: from, To: to})
	})
	if err != nil {
		return err
	}
	v.Success, v.Failure, v.Sent = st.Success, st.Failure, st.Sent
	v.Bounces, v.Complaints = st.Bounces.Hard+st.Bounces.Soft, st.Bounces.Complaints
	v.Empty = st.Success+st.Failure == 0
	for _, m := range st.Mailings {
		v.Mailings = append(v.Mailings, pages.StatsMailing{ID: m.MailingID, Subject: m.Subject, Owner: m.OwnerEmail,
			Success: m.Success, Failure: m.Failure, Sent: m.Sent, Bounces: m.Bounces, Complaints: m.Complaints})
	}
	if len(st.Mailings) == mailing.StatsTopMailings {
		v.TopNote = s.t(c, "stats.top_note", map[string]any{"Count": mailing.StatsTopMailings})
	}
	for _, f := range st.Failures {
		v.Failures = append(v.Failures, pages.StatsFailure{Response: f.Response, Count: f.Count, Example: f.Example})
	}
	v.Chart = s.statsChart(c, v, st.Days)
	return s.render(c, View{Title: s.t(c, "stats.title"), Content: pages.StatsPage(v)})
}

// statsPeriod reads ?from= and ?to= as days in loc. Missing dates default to the 30 days
// ending today; a bad date or range is reported and the default used; a period longer than
// statsMaxDays is shortened to its last statsMaxDays days.
//
// A day is held as its noon, not its midnight: where a clock change skips midnight
// (America/Santiago on 2023-09-03) time.Date answers 23:00 of the day before, and the
// period shifted a day back (FuzzStatsFilter).
func (s *Server) statsPeriod(c *fiber.Ctx, loc *time.Location) (from, to time.Time, problem string) {
	y, m, d := s.Clock.Now().In(loc).Date()
	today := time.Date(y, m, d, 12, 0, 0, 0, loc)
	defFrom := today.AddDate(0, 0, 1-statsDefaultDays)
	from, to = defFrom, today
	parse := func(name string, def time.Time) (time.Time, bool) {
		raw := strings.TrimSpace(c.Query(name))
		if raw == "" {
			return def, true
		}
		t, err := time.Parse(time.DateOnly, raw)
		if err != nil || t.Year() < statsFirstYear {
			return t, false
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, loc), true
	}
	f, okF := parse("from", defFrom)
	t, okT := parse("to", today)
	switch {
	case !okF || !okT:
		return from, to, s.t(c, "stats.bad_date")
	case f.After(t):
		return from, to, s.t(c, "stats.bad_range")
	}
	if last := f.AddDate(0, 0, statsMaxDays-1); t.After(last) {
		return t.AddDate(0, 0, 1-statsMaxDays), t, s.t(c, "stats.too_long", map[string]any{"Days": statsMaxDays})
	}
	return f, t, ""
}

// statsUser finds the account a manager asked for, by id or by email.
func (s *Server) statsUser(c *fiber.Ctx, q string) (*mailing.User, error) {
	if id, err := strconv.ParseInt(q, 10, 64); err == nil {
		return s.Store.UserByID(c.UserContext(), id)
	}
	return s.Store.UserByEmail(c.UserContext(), q)
}

// Chart colours: the SVG is drawn with presentation attributes, as the CSP allows no
// inline style.
const (
	chartSuccessColor = "#2e9d5b"
	chartFailureColor = "#d64545"
	chartBounceColor  = "#b35c00"
)

func (s *Server) statsChart(c *fiber.Ctx, v pages.StatsView, days []mailing.DayStat) components.BarChart {
	ru := page(c).Lang == "ru"
	ch := components.BarChart{
		ID:    "stats-chart",
		Title: s.t(c, "stats.chart_title", map[string]any{"From": v.From, "To": v.To}),
		Desc:  s.t(c, "stats.chart_desc", map[string]any{"Success": v.Success, "Failure": v.Failure}),
		Series: []components.ChartSeries{
			{Name: s.t(c, "stats.series_success"), Key: "success", Color: chartSuccessColor},
			{Name: s.t(c, "stats.series_failure"), Key: "failure", Color: chartFailureColor},
			{Name: s.t(c, "stats.series_bounces"), Key: "bounces", Color: chartBounceColor},
		},
	}
	for _, d := range days {
		ch.Labels = append(ch.Labels, d.Day.Format(time.DateOnly))
		if ru {
			ch.Ticks = append(ch.Ticks, d.Day.Format("02.01"))
		} else {
			ch.Ticks = append(ch.Ticks, d.Day.Format("Jan 2"))
		}
		ch.Series[0].Values = append(ch.Series[0].Values, d.Success)
		ch.Series[1].Values = append(ch.Series[1].Values, d.Failure)
		ch.Series[2].Values = append(ch.Series[2].Values, d.Bounces)
	}
	return ch
}

package store

import (
	"context"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// StatsFilter picks the attempts the statistics count: those of the mailings in Scope made
// on the days From to To inclusive, days being those of Loc.
type StatsFilter struct {
	Scope mailing.Scope
	Loc   *time.Location
	From  time.Time // any instant of the first day, read in Loc
	To    time.Time // any instant of the last day, read in Loc
}

// Stats are the figures of a period. Every figure comes from an aggregate query: no attempt
// row is loaded.
type Stats struct {
	Success int // successful attempts
	Failure int // failed attempts
	// Sent counts the deliveries that reached "sent" in the period: one success per delivery.
	Sent     int
	Mailings []MailingStat // the busiest mailings, by Sent
	Days     []DayStat     // every day of the period, in order, zeros included
	Failures []FailureStat // the most common failure responses
}

// MailingStat is one mailing's figures in the period.
type MailingStat struct {
	MailingID  int64  `bun:"mailing_id"`
	Subject    string `bun:"subject"`
	OwnerEmail string `bun:"owner_email"`
	Success    int    `bun:"success"`
	Failure    int    `bun:"failure"`
	Sent       int    `bun:"sent"`
}

// DayStat counts one local day's attempts.
type DayStat struct {
	Day     time.Time // start of the day in the filter's location (midnight, see startOfDay)
	Success int
	Failure int
}

// FailureStat is one failure response and how often it came.
type FailureStat struct {
	Response string `bun:"response"`
	Count    int    `bun:"n"`
}

// How many rows the per-mailing and failure lists keep.
const (
	StatsTopMailings = 50
	StatsTopFailures = 10
)

// Bounds returns the period as instants: [midnight of From, midnight after To) in Loc.
func (f StatsFilter) Bounds() (start, end time.Time) {
	loc := f.location()
	y, m, d := f.From.In(loc).Date()
	start = startOfDay(y, m, d, loc)
	y, m, d = f.To.In(loc).Date()
	end = startOfDay(y, m, d+1, loc)
	return start, end
}

// startOfDay is the first instant of a calendar day in loc (d may overflow the month, as
// in time.Date). Usually midnight; but where a clock change skips midnight (Chile moves
// 00:00 to 01:00) time.Date answers with the previous evening, so the day starts at the
// change instead — stepping by midnights there would never leave the day.
func startOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	noon := time.Date(y, m, d, 12, 0, 0, 0, loc)
	y, m, d = noon.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if ty, tm, td := t.Date(); ty == y && tm == m && td == d {
		return t
	}
	start, _ := noon.ZoneBounds() // the change that skipped midnight
	return start
}

func (f StatsFilter) location() *time.Location {
	if f.Loc == nil {
		return time.UTC
	}
	return f.Loc
}

// Stats computes the figures of the attempts f picks.
func (s *Store) Stats(ctx context.Context, f StatsFilter) (*Stats, error) {
	loc := f.location()
	start, end := f.Bounds()
	st := &Stats{}
	if !start.Before(end) {
		return st, nil
	}
	scoped := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("a.attempted_at >= ? AND a.attempted_at < ?", start.UTC(), end.UTC())
		if !f.Scope.All {
			q = q.Where("a.mailing_id IN (SELECT id FROM mailings WHERE owner_id = ?)", f.Scope.UserID)
		}
		return q
	}
	const (
		success = "SUM(CASE WHEN a.status = 'success' THEN 1 ELSE 0 END)"
		failure = "SUM(CASE WHEN a.status = 'failure' THEN 1 ELSE 0 END)"
		sent    = "COUNT(DISTINCT CASE WHEN a.status = 'success' THEN a.delivery_id END)"
	)

	// One pass over the attempts gives each mailing's figures; the totals are their sums (a
	// delivery belongs to one mailing, so distinct deliveries add up too). Names are joined
	// to the groups, not to every attempt.
	perMailing := scoped(s.DB.NewSelect().TableExpr("attempts AS a").
		ColumnExpr("a.mailing_id AS mailing_id").
		ColumnExpr(success + " AS success").
		ColumnExpr(failure + " AS failure").
		ColumnExpr(sent + " AS sent")).
		GroupExpr("a.mailing_id")
	var all []MailingStat
	if err := s.DB.NewSelect().TableExpr("(?) AS g", perMailing).
		Join("LEFT JOIN mailings AS ml ON ml.id = g.mailing_id").
		Join("LEFT JOIN messages AS msg ON msg.id = ml.message_id").
		Join("LEFT JOIN users AS u ON u.id = ml.owner_id").
		ColumnExpr("g.mailing_id, g.success, g.failure, g.sent").
		ColumnExpr("COALESCE(msg.subject, '') AS subject").
		ColumnExpr("COALESCE(u.email, '') AS owner_email").
		OrderExpr("g.sent DESC, g.success DESC, g.failure DESC, g.mailing_id DESC").
		Scan(ctx, &all); err != nil {
		return nil, err
	}
	for _, m := range all {
		st.Success += m.Success
		st.Failure += m.Failure
		st.Sent += m.Sent
	}
	st.Mailings = all[:min(len(all), StatsTopMailings)]
	if st.Mailings == nil {
		st.Mailings = []MailingStat{}
	}

	st.Failures = []FailureStat{}
	if err := scoped(s.DB.NewSelect().TableExpr("attempts AS a").
		ColumnExpr("a.response AS response, COUNT(*) AS n").
		Where("a.status = 'failure'")).
		GroupExpr("a.response").
		OrderExpr("n DESC, a.response").
		Limit(StatsTopFailures).Scan(ctx, &st.Failures); err != nil {
		return nil, err
	}

	days, err := s.dailyStats(ctx, scoped, loc, start, end)
	if err != nil {
		return nil, err
	}
	st.Days = days
	return st, nil
}

// dailyStats counts attempts per local day. SQL cannot group by a local day portably
// (SQLite knows no time zones), and grouping by the UTC date puts an attempt at 22:30 UTC on
// the wrong day in Moscow. So SQL groups by a bucket of UTC time short enough never to
// straddle a local midnight (an hour, or less for zones with half-hour offsets), at most
// 24 rows a day per status, and Go folds the buckets into local days.
func (s *Store) dailyStats(ctx context.Context, scoped func(*bun.SelectQuery) *bun.SelectQuery, loc *time.Location, start, end time.Time) ([]DayStat, error) {
	var days []DayStat
	index := map[string]int{}
	for d := start; d.Before(end); {
		index[d.Format(time.DateOnly)] = len(days)
		days = append(days, DayStat{Day: d})
		y, m, dd := d.Date()
		d = startOfDay(y, m, dd+1, loc)
	}
	size := bucketSeconds(loc, start, end)
	var bucket string
	if s.Dialect == "postgres" {
		bucket = "(FLOOR(EXTRACT(EPOCH FROM a.attempted_at) / " + size + ") * " + size + ")::bigint"
	} else {
		// bun stores times as text like "2026-01-05 09:00:00.5+00:00"; strftime reads the
		// offset and gives Unix seconds.
		bucket = "(CAST(strftime('%s', a.attempted_at) AS INTEGER) / " + size + ") * " + size
	}
	var rows []struct {
		Bucket int64  `bun:"bucket"`
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	if err := scoped(s.DB.NewSelect().TableExpr("attempts AS a").
		ColumnExpr(bucket+" AS bucket").
		ColumnExpr("a.status AS status, COUNT(*) AS n")).
		GroupExpr("1, 2").Scan(ctx, &rows); err != nil {
		return nil, err
	}
	for _, r := range rows {
		i, ok := index[time.Unix(r.Bucket, 0).In(loc).Format(time.DateOnly)]
		if !ok {
			continue // cannot happen: buckets are aligned to local midnights
		}
		switch r.Status {
		case mailing.AttemptSuccess:
			days[i].Success += r.N
		case mailing.AttemptFailure:
			days[i].Failure += r.N
		}
	}
	return days, nil
}

// bucketSeconds is the longest bucket of UTC time, in seconds, that divides every offset loc
// has between start and end: buckets aligned on the Unix epoch then never cross a local
// midnight. An hour for most zones; half an hour for India, a quarter for Nepal.
func bucketSeconds(loc *time.Location, start, end time.Time) string {
	size := 3600
	for t := start; t.Before(end); {
		lt := t.In(loc)
		_, off := lt.Zone()
		size = gcd(size, abs(off))
		_, next := lt.ZoneBounds()
		if next.IsZero() || !next.After(t) {
			break
		}
		t = next
	}
	return strconv.Itoa(max(size, 1))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// StatsUserEmails lists up to limit account emails, in order, for a manager picking whose
// statistics to see.
func (s *Store) StatsUserEmails(ctx context.Context, limit int) ([]string, error) {
	emails := []string{}
	err := s.DB.NewSelect().TableExpr("users").Column("email").OrderExpr("email").Limit(int64(limit)).Scan(ctx, &emails)
	return emails, err
}

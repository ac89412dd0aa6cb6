package store

import (
	"context"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Stats computes the figures of the attempts f picks.
func (s *Store) Stats(ctx context.Context, f mailing.StatsFilter) (*mailing.Stats, error) {
	loc := f.Location()
	start, end := f.Bounds()
	st := &mailing.Stats{}
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
	var all []mailing.MailingStat
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
	st.Mailings = all[:min(len(all), mailing.StatsTopMailings)]
	if st.Mailings == nil {
		st.Mailings = []mailing.MailingStat{}
	}

	// Grouped by the normalised reason ("550 5.1.1", "timeout"): raw texts differ by address
	// and port, so equal failures would fill separate rows. Attempts written before reasons
	// were kept fall back to their text.
	st.Failures = []mailing.FailureStat{}
	if err := scoped(s.DB.NewSelect().TableExpr("attempts AS a").
		ColumnExpr("CASE WHEN a.reason <> '' THEN a.reason ELSE a.response END AS response, COUNT(*) AS n, MIN(a.response) AS example").
		Where("a.status = 'failure'")).
		GroupExpr("CASE WHEN a.reason <> '' THEN a.reason ELSE a.response END").
		OrderExpr("n DESC, response").
		Limit(mailing.StatsTopFailures).Scan(ctx, &st.Failures); err != nil {
		return nil, err
	}

	days, err := s.dailyStats(ctx, scoped, loc, start, end)
	if err != nil {
		return nil, err
	}
	st.Days = days
	return st, s.bounceStats(ctx, f, st, loc, start, end)
}

// bounceStats adds the period's bounces and complaints to st: in total, per mailing listed
// (those a report tied to a mailing) and per day.
func (s *Store) bounceStats(ctx context.Context, f mailing.StatsFilter, st *mailing.Stats, loc *time.Location, start, end time.Time) error {
	scoped := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("b.created_at >= ? AND b.created_at < ?", start.UTC(), end.UTC())
		if !f.Scope.All {
			q = q.Where("b.owner_id = ?", f.Scope.UserID)
		}
		return q
	}
	var rows []struct {
		MailingID *int64 `bun:"mailing_id"`
		Kind      string `bun:"kind"`
		N         int    `bun:"n"`
	}
	if err := scoped(s.DB.NewSelect().TableExpr("bounces AS b").
		ColumnExpr("b.mailing_id AS mailing_id, b.kind AS kind, COUNT(*) AS n")).
		GroupExpr("b.mailing_id, b.kind").Scan(ctx, &rows); err != nil {
		return err
	}
	index := make(map[int64]int, len(st.Mailings))
	for i, m := range st.Mailings {
		index[m.MailingID] = i
	}
	for _, r := range rows {
		switch r.Kind {
		case mailing.BounceHard:
			st.Bounces.Hard += r.N
		case mailing.BounceSoft:
			st.Bounces.Soft += r.N
		case mailing.BounceComplaint:
			st.Bounces.Complaints += r.N
		}
		if r.MailingID == nil {
			continue
		}
		if i, ok := index[*r.MailingID]; ok {
			if r.Kind == mailing.BounceComplaint {
				st.Mailings[i].Complaints += r.N
			} else {
				st.Mailings[i].Bounces += r.N
			}
		}
	}
	if st.Bounces == (mailing.BounceCounts{}) {
		return nil
	}
	var buckets []struct {
		Bucket int64 `bun:"bucket"`
		N      int   `bun:"n"`
	}
	if err := scoped(s.DB.NewSelect().TableExpr("bounces AS b").
		ColumnExpr(s.timeBucket("b.created_at", loc, start, end)+" AS bucket").
		ColumnExpr("COUNT(*) AS n")).
		GroupExpr("1").Scan(ctx, &buckets); err != nil {
		return err
	}
	day := make(map[string]int, len(st.Days))
	for i, d := range st.Days {
		day[d.Day.Format(time.DateOnly)] = i
	}
	for _, b := range buckets {
		// Buckets are aligned to local midnights (see dailyStats).
		if i, ok := day[time.Unix(b.Bucket, 0).In(loc).Format(time.DateOnly)]; ok {
			st.Days[i].Bounces += b.N
		}
	}
	return nil
}

// timeBucket is SQL for col's bucket of UTC time (see dailyStats) in Unix seconds.
func (s *Store) timeBucket(col string, loc *time.Location, start, end time.Time) string {
	size := bucketSeconds(loc, start, end)
	if s.Dialect == "postgres" {
		return "(FLOOR(EXTRACT(EPOCH FROM " + col + ") / " + size + ") * " + size + ")::bigint"
	}
	// bun stores times as text like "2026-01-05 09:00:00.5+00:00"; strftime reads the
	// offset and gives Unix seconds.
	return "(CAST(strftime('%s', " + col + ") AS INTEGER) / " + size + ") * " + size
}

// dailyStats counts attempts per local day. SQL cannot group by a local day portably
// (SQLite knows no time zones), and grouping by the UTC date puts an attempt at 22:30 UTC on
// the wrong day in Moscow. So SQL groups by a bucket of UTC time short enough never to
// straddle a local midnight (an hour, or less for zones with half-hour offsets), at most
// 24 rows a day per status, and Go folds the buckets into local days.
func (s *Store) dailyStats(ctx context.Context, scoped func(*bun.SelectQuery) *bun.SelectQuery, loc *time.Location, start, end time.Time) ([]mailing.DayStat, error) {
	var days []mailing.DayStat
	index := map[string]int{}
	for d := start; d.Before(end); {
		index[d.Format(time.DateOnly)] = len(days)
		days = append(days, mailing.DayStat{Day: d})
		y, m, dd := d.Date()
		d = mailing.StartOfDay(y, m, dd+1, loc)
	}
	bucket := s.timeBucket("a.attempted_at", loc, start, end)
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

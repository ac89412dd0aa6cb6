package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// homeExtras adds to hc what the home page shows beyond its three figures: the counts a
// first-steps panel needs and the latest runs with their outcome. Both are read through the
// same cache entry as the figures (web/home.go), so they cost the database once per data
// version.
func (s *Store) homeExtras(ctx context.Context, scope mailing.Scope, hc *mailing.HomeCounts) error {
	if !scope.All {
		// Only whether there are any matters to the panel: stop counting at one.
		for _, c := range []struct {
			table string
			n     *int
		}{{"clients", &hc.Clients}, {"messages", &hc.Messages}} {
			err := s.DB.NewSelect().ColumnExpr("COUNT(*)").
				TableExpr("(?) AS x", s.DB.NewSelect().TableExpr(c.table).ColumnExpr("1").Where("owner_id = ?", scope.UserID).Limit(1)).
				Scan(ctx, c.n)
			if err != nil {
				return err
			}
		}
	}
	runs, err := s.recentRuns(ctx, scope, mailing.RecentRuns)
	hc.Recent = runs
	return err
}

// recentRuns returns the latest n runs in scope, newest first, with their deliveries
// counted by state (one grouped query over the deliveries index for all of them).
func (s *Store) recentRuns(ctx context.Context, scope mailing.Scope, n int) ([]mailing.RecentRun, error) {
	var rows []struct {
		ID         int64
		MailingID  int64
		Total      int
		StartedAt  time.Time
		FinishedAt *time.Time
		Subject    string
		OwnerEmail string
	}
	q := s.DB.NewSelect().TableExpr("runs AS r").
		ColumnExpr("r.id, r.mailing_id, r.total, r.started_at, r.finished_at, msg.subject, u.email AS owner_email").
		Join("JOIN mailings AS ml ON ml.id = r.mailing_id").
		Join("JOIN messages AS msg ON msg.id = ml.message_id").
		Join("JOIN users AS u ON u.id = r.owner_id").
		OrderExpr("r.id DESC").Limit(int64(n))
	if !scope.All {
		q = q.Where("r.owner_id = ?", scope.UserID)
	}
	if err := q.Scan(ctx, &rows); err != nil || len(rows) == 0 {
		return nil, err
	}
	runs := make([]mailing.RecentRun, len(rows))
	ids := make([]int64, len(rows))
	at := map[int64]*mailing.RecentRun{}
	for i, r := range rows {
		runs[i] = mailing.RecentRun{
			RunProgress: mailing.RunProgress{RunID: r.ID, Total: r.Total, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt},
			MailingID:   r.MailingID, Subject: r.Subject, OwnerEmail: r.OwnerEmail,
		}
		ids[i] = r.ID
		at[r.ID] = &runs[i]
	}
	var counts []struct {
		RunID int64
		State string
		N     int
	}
	if err := s.DB.NewSelect().TableExpr("deliveries").ColumnExpr("run_id, state, COUNT(*) AS n").
		Where("run_id IN (?)", bun.In(ids)).GroupExpr("run_id, state").Scan(ctx, &counts); err != nil {
		return nil, err
	}
	for _, c := range counts {
		p := &at[c.RunID].RunProgress
		switch c.State {
		case mailing.DeliverySent:
			p.Sent = c.N
		case mailing.DeliveryFailed:
			p.Failed = c.N
		case mailing.DeliveryCancelled:
			p.Cancelled = c.N
		case mailing.DeliverySuppressed:
			p.Suppressed = c.N
		default:
			p.Pending += c.N
		}
	}
	return runs, nil
}

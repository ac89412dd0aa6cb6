package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// bounceEventTTL is how long a provider's report key is kept to refuse its replay: longer
// than any provider's signature or timestamp window, which refuse older ones by themselves.
const bounceEventTTL = 7 * 24 * time.Hour

type bounceEvent struct {
	Source    string
	EventKey  string
	CreatedAt time.Time
}

// BounceTarget returns the delivery a bounce report names, with its mailing and owner;
// ENOTFOUND when there is no such delivery (or its mailing is gone).
func (s *Store) BounceTarget(ctx context.Context, deliveryID int64) (mailing.BounceTarget, error) {
	var t mailing.BounceTarget
	err := s.DB.NewSelect().TableExpr("deliveries AS d").Join("JOIN mailings AS m ON m.id = d.mailing_id").
		ColumnExpr("d.id AS delivery_id, d.run_id, d.mailing_id, m.owner_id, d.email").
		Where("d.id = ?", deliveryID).Scan(ctx, &t)
	return t, notFound(err, "delivery")
}

// AddressOwners returns the users who have a client with this address: a report that names
// no delivery counts for each of them.
func (s *Store) AddressOwners(ctx context.Context, email string) ([]int64, error) {
	var ids []int64
	err := s.DB.NewSelect().TableExpr("clients").ColumnExpr("DISTINCT owner_id").
		Where("email = ?", strings.ToLower(strings.TrimSpace(email))).OrderExpr("owner_id").Scan(ctx, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return ids, err
}

// RecordBounces stores the bounces of one provider report and applies the policy to each,
// in one transaction with the report's key (source, eventKey): a report whose key was taken
// already is a replay, refused with ECONFLICT and nothing stored. An empty eventKey is not
// checked. It returns how many addresses it suppressed.
func (s *Store) RecordBounces(ctx context.Context, source, eventKey string, list []mailing.Bounce, policy mailing.BouncePolicy) (int, error) {
	var suppressed int
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if eventKey != "" {
			now := s.now()
			if _, err := tx.NewDelete().TableExpr("bounce_events").Where("created_at < ?", now.Add(-bounceEventTTL)).Exec(ctx); err != nil {
				return err
			}
			ev := &bounceEvent{Source: source, EventKey: eventKey, CreatedAt: now}
			res, err := tx.NewInsert().Model(ev).ModelTableExpr("bounce_events").On("CONFLICT DO NOTHING").Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return mailing.Errorf(mailing.ECONFLICT, "bounce report %s already processed", source)
			}
		}
		for _, b := range list {
			reason, err := s.recordBounce(ctx, tx, b, policy)
			if err != nil {
				return err
			}
			if reason != "" {
				suppressed++
			}
		}
		return nil
	})
	return suppressed, err
}

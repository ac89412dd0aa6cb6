package store

import (
	"context"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// TransactionalDelivery records one send of message m to email under the message's
// transactional run — the one run of its hidden mailing, both made on first use — in one
// transaction. A suppressed address is recorded as suppressed, with the reason, and never
// sent; otherwise the delivery is pending and the run open again until it settles.
func (s *Store) TransactionalDelivery(ctx context.Context, m *mailing.Message, email, name string) (*mailing.Run, *mailing.DeliveryInfo, error) {
	run := new(mailing.Run)
	d := &mailing.DeliveryInfo{Email: email, Name: name, MessageID: m.ID, OwnerID: m.OwnerID, State: mailing.DeliveryPending}
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		hidden := &mailing.Mailing{OwnerID: m.OwnerID, MessageID: m.ID, StartAt: now, EndAt: now.AddDate(100, 0, 0),
			Period: mailing.PeriodNone, Transactional: true, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(hidden).On("CONFLICT (message_id) WHERE transactional DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		var mailingID int64
		q := tx.NewSelect().TableExpr("mailings").Column("id").Where("message_id = ? AND transactional", m.ID)
		if s.Dialect == "postgres" {
			q = q.For("UPDATE") // one run per message, however many sends race (SQLite writes one at a time)
		}
		if err := q.Scan(ctx, &mailingID); err != nil {
			return err
		}
		err := tx.NewSelect().Model(run).Where("mailing_id = ?", mailingID).OrderExpr("id").Limit(1).Scan(ctx)
		if err := notFound(err, "run"); mailing.ErrorCode(err) == mailing.ENOTFOUND {
			*run = mailing.Run{MailingID: mailingID, OwnerID: m.OwnerID, Kind: mailing.RunManual, StartedAt: now}
			if _, err := tx.NewInsert().Model(run).Returning("id").Exec(ctx); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		var reasons []string
		if err := tx.NewSelect().TableExpr("suppressions").Column("reason").
			Where("owner_id = ? AND email = ?", m.OwnerID, email).Scan(ctx, &reasons); err != nil {
			return err
		}
		if len(reasons) > 0 {
			d.State, d.Reason = mailing.DeliverySuppressed, reasons[0]
		}
		if err := tx.NewRaw(`INSERT INTO deliveries (run_id, mailing_id, email, name, state, reason, tries, next_try_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id`, run.ID, mailingID, email, name, d.State, d.Reason, now, now).Scan(ctx, &d.ID); err != nil {
			return err
		}
		if d.State == mailing.DeliveryPending {
			if _, err := tx.NewUpdate().TableExpr("runs").Set("total = total + 1").Set("finished_at = NULL").
				Where("id = ?", run.ID).Exec(ctx); err != nil {
				return err
			}
			run.Total++
			run.FinishedAt = nil
		}
		d.RunID, d.MailingID = run.ID, mailingID
		return nil
	})
	return run, d, err
}

// DeliveryByID returns a delivery whose mailing is in scope, with its attempts.
func (s *Store) DeliveryByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.DeliveryInfo, error) {
	d := new(mailing.DeliveryInfo)
	q := s.DB.NewSelect().TableExpr("deliveries AS d").Join("JOIN mailings AS ml ON ml.id = d.mailing_id").
		ColumnExpr("d.id, d.run_id, d.mailing_id, ml.message_id, ml.owner_id, d.email, d.name, d.state, d.reason, d.tries").
		Where("d.id = ?", id)
	if !scope.All {
		q = q.Where("ml.owner_id = ?", scope.UserID)
	}
	if err := q.Scan(ctx, d); err != nil {
		return nil, notFound(err, "delivery")
	}
	err := s.DB.NewSelect().Model(&d.Attempts).Where("delivery_id = ?", id).OrderExpr("id").Scan(ctx)
	return d, err
}

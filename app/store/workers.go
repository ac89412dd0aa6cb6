package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Worker kinds, as heartbeats record them.
const (
	WorkerServe  = "serve"  // `mailer serve` with the embedded Redis: the only sender of its database
	WorkerWorker = "worker" // a worker process, or `serve --with-worker`, on a shared Redis
	WorkerCLI    = "cli"    // `mailer send`
)

// OutcomeUnknown is the response of the attempt a delivery gets when its claim is taken back
// from a worker that stopped after handing it to the mail server: the server may have taken
// it, so the ledger counts it rather than pretend nothing happened.
const OutcomeUnknown = "outcome unknown: worker stopped"

// Heartbeat says worker id (of kind) is alive now.
func (s *Store) Heartbeat(ctx context.Context, id, kind string) error {
	now := s.now()
	_, err := s.DB.NewRaw(`INSERT INTO workers (id, kind, started_at, seen_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, id, kind, now, now).Exec(ctx)
	return err
}

// ForgetWorker removes a worker that stopped cleanly, and rows of workers silent for a day.
func (s *Store) ForgetWorker(ctx context.Context, id string) error {
	_, err := s.DB.NewDelete().TableExpr("workers").
		Where("id = ? OR seen_at < ?", id, s.now().Add(-24*time.Hour)).Exec(ctx)
	return err
}

// ReleaseDeadClaims hands back the claims of workers whose last heartbeat is older than
// deadAfter: they were killed, or lost the database. Claims of holders that never sent a
// heartbeat (an older version) are left to CLAIM_TTL.
func (s *Store) ReleaseDeadClaims(ctx context.Context, deadAfter time.Duration) (int64, error) {
	return s.releaseClaims(ctx, "claimed_by IN (SELECT id FROM workers WHERE seen_at < ?)", s.now().Add(-deadAfter))
}

// ReleaseClaimsAtStart hands back, when `mailer serve` starts with its embedded Redis, every
// claim not held by a live worker of another kind: no other serve can share its work, so a
// claim of a serve is a claim of this one's killed predecessor, however fresh its heartbeat.
func (s *Store) ReleaseClaimsAtStart(ctx context.Context, deadAfter time.Duration) (int64, error) {
	return s.releaseClaims(ctx, "(claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM workers WHERE seen_at >= ? AND kind <> ?))",
		s.now().Add(-deadAfter), WorkerServe)
}

// releaseClaims puts the claimed deliveries that match where back to pending. Those that
// had been handed to the mail server get an attempt OutcomeUnknown first, in the same
// transaction, dated when they were handed over.
func (s *Store) releaseClaims(ctx context.Context, where string, args ...any) (int64, error) {
	now := s.now()
	var n int64
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().TableExpr("deliveries").Column("id").Where("state = 'sending'").Where(where, args...)
		if s.Dialect == "postgres" {
			// Two workers releasing at once: the second waits, then no longer matches.
			q = q.For("UPDATE")
		}
		var ids []int64
		if err := q.Scan(ctx, &ids); err != nil {
			return err
		}
		for start := 0; start < len(ids); start += 500 {
			chunk := bun.In(ids[start:min(start+500, len(ids))])
			if _, err := tx.NewRaw(`INSERT INTO attempts (mailing_id, run_id, delivery_id, client_id, email, attempted_at,
					status, smtp_code, response, latency_ms, reason)
				SELECT mailing_id, run_id, id, client_id, email, handed_at, ?, 0, ?, 0, ?
				FROM deliveries WHERE id IN (?) AND `+s.stateByID()+` = 'sending' AND handed_at IS NOT NULL`,
				mailing.AttemptFailure, OutcomeUnknown, OutcomeUnknown, chunk).Exec(ctx); err != nil {
				return err
			}
			res, err := tx.NewUpdate().TableExpr("deliveries").
				Set("state = 'pending'").Set("claimed_by = NULL").Set("claimed_until = NULL").Set("handed_at = NULL").
				Set("updated_at = ?", now).Where("id IN (?) AND "+s.stateByID()+" = 'sending'", chunk).Exec(ctx)
			if err != nil {
				return err
			}
			c, _ := res.RowsAffected()
			n += c
		}
		return nil
	})
	return n, err
}

// MarkHanded records that worker is handing ids to the mail server, before it does: if it
// dies before recording their outcomes, whoever takes the claims back knows they may have
// been sent.
func (s *Store) MarkHanded(ctx context.Context, worker string, ids []int64) error {
	now := s.now()
	for start := 0; start < len(ids); start += 500 {
		if _, err := s.DB.NewUpdate().TableExpr("deliveries").Set("handed_at = ?", now).
			Where("id IN (?) AND claimed_by = ? AND "+s.stateByID()+" = 'sending'", bun.In(ids[start:min(start+500, len(ids))]), worker).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

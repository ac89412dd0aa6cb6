package store

import (
	"context"
	"time"

	"mailer/app/mailing"
)

// ScheduleCandidate is a mailing the scheduler may have to start, with the slot of its
// latest scheduled run.
type ScheduleCandidate struct {
	mailing.Mailing
	LastSlot *time.Time `bun:",scanonly"`
}

// ScheduleCandidates lists the mailings that may be due now: started, not ended, not
// disabled, owner not blocked.
func (s *Store) ScheduleCandidates(ctx context.Context) ([]ScheduleCandidate, error) {
	now := s.now()
	var out []ScheduleCandidate
	err := s.DB.NewSelect().ModelTableExpr("mailings AS ml").ColumnExpr("ml.*").
		ColumnExpr("(SELECT MAX(r.slot) FROM runs AS r WHERE r.mailing_id = ml.id) AS last_slot").
		Join("JOIN users AS u ON u.id = ml.owner_id").
		Where("NOT ml.disabled AND NOT ml.transactional AND u.blocked_at IS NULL AND ml.start_at <= ? AND ml.end_at > ?", now, now).
		OrderExpr("ml.id").Scan(ctx, &out)
	return out, err
}

// ReleaseExpiredClaims hands back deliveries whose claim has run out — their worker died
// or lost its way — so another worker can send them (see releaseClaims for those handed to
// the server). Heartbeats (ReleaseDeadClaims) usually come first; this is the backstop.
func (s *Store) ReleaseExpiredClaims(ctx context.Context) (int64, error) {
	return s.releaseClaims(ctx, "claimed_until < ?", s.now())
}

// StalledRuns lists unfinished runs that have due deliveries and nobody sending any of
// them: their tasks were lost (a flushed Redis, a killed worker) and must be enqueued again.
func (s *Store) StalledRuns(ctx context.Context) ([]int64, error) {
	now := s.now()
	var ids []int64
	err := s.DB.NewSelect().TableExpr("runs AS r").Column("r.id").
		Where("r.finished_at IS NULL").
		Where("EXISTS (SELECT 1 FROM deliveries AS d WHERE d.run_id = r.id AND d.state = 'pending' AND d.next_try_at <= ?)", now).
		Where("NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.run_id = r.id AND d.state = 'sending' AND d.claimed_until >= ?)", now).
		OrderExpr("r.id").Scan(ctx, &ids)
	return ids, err
}

// IdleRuns lists unfinished runs with nothing left to send, which FinishRun can close.
func (s *Store) IdleRuns(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.DB.NewSelect().TableExpr("runs AS r").Column("r.id").
		Where("r.finished_at IS NULL").
		Where("NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.run_id = r.id AND d.state IN ('pending', 'sending'))").
		Scan(ctx, &ids)
	return ids, err
}

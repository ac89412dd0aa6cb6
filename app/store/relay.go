package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Relay returns the mail server's state as the workers last saw it; the zero state (up)
// when no failure was ever recorded.
func (s *Store) Relay(ctx context.Context) (mailing.RelayState, error) {
	var r mailing.RelayState
	err := s.DB.NewSelect().TableExpr("relay").Column("down_since", "next_try_at", "failures", "last_error").
		Where("id = 1").Scan(ctx, &r.DownSince, &r.NextTryAt, &r.Failures, &r.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return mailing.RelayState{}, nil
	}
	return r, err
}

// RelayFailed records a failure that says the mail server is unreachable, and returns the
// new state. Only the first failure of an outage, or a failed probe once next_try_at has
// come, moves the next try out (by backoff(failures)); the failures of the sends that were
// already under way when it went down change nothing.
//
// moved reports whether this call moved the next try (the start of a pause).
func (s *Store) RelayFailed(ctx context.Context, errText string, backoff func(failures int) time.Duration) (st mailing.RelayState, moved bool, err error) {
	now := s.now()
	err = s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw(`INSERT INTO relay (id, failures, updated_at) VALUES (1, 0, ?) ON CONFLICT (id) DO NOTHING`, now).Exec(ctx); err != nil {
			return err
		}
		q := tx.NewSelect().TableExpr("relay").Column("down_since", "next_try_at", "failures", "last_error").Where("id = 1")
		if s.Dialect == "postgres" {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx, &st.DownSince, &st.NextTryAt, &st.Failures, &st.LastError); err != nil {
			return err
		}
		if st.DownSince != nil && st.NextTryAt != nil && st.NextTryAt.After(now) {
			return nil // already paused: a send that was under way
		}
		if st.DownSince == nil {
			st.DownSince, st.Failures = &now, 0
		}
		st.Failures++
		next := now.Add(backoff(st.Failures))
		st.NextTryAt, st.LastError, moved = &next, errText, true
		_, err := tx.NewUpdate().TableExpr("relay").Set("down_since = ?", st.DownSince).Set("next_try_at = ?", next).
			Set("failures = ?", st.Failures).Set("last_error = ?", errText).Set("updated_at = ?", now).
			Where("id = 1").Exec(ctx)
		return err
	})
	return st, moved, err
}

// RelayUp records that the mail server took a message again; it reports whether an outage
// ended with it (and when that outage began).
func (s *Store) RelayUp(ctx context.Context) (bool, time.Time, error) {
	// RETURNING gives the row as updated (down_since NULL), so the outage's start is read
	// first; the update ends it only if no other worker did meanwhile.
	var since *time.Time
	err := s.DB.NewSelect().TableExpr("relay").Column("down_since").Where("id = 1").Scan(ctx, &since)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && since == nil) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	res, err := s.DB.NewUpdate().TableExpr("relay").Set("down_since = NULL").Set("next_try_at = NULL").
		Set("failures = 0").Set("updated_at = ?", s.now()).Where("id = 1 AND down_since = ?", *since).Exec(ctx)
	if err != nil {
		return false, time.Time{}, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, time.Time{}, err
	}
	return true, *since, nil
}

// FailForOutage ends a run's pending deliveries as failed, with reason, when the mail
// server has been unreachable for longer than SEND_OUTAGE_MAX.
func (s *Store) FailForOutage(ctx context.Context, runID int64, reason string) (int64, error) {
	res, err := s.DB.NewUpdate().TableExpr("deliveries").Set("state = 'failed'").Set("reason = ?", reason).
		Set("updated_at = ?", s.now()).Where("run_id = ? AND state = 'pending'", runID).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

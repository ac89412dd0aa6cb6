package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// CreateRun records a run of m and one delivery per recipient of its audience as it is
// now — pending, or suppressed for an address on the owner's suppression list — in one
// transaction, so a run is never half made.
// onlyFrom, when set, limits the recipients to the failed and unsent deliveries of that
// earlier run (a resend). A second run for the same schedule slot is ECONFLICT.
func (s *Store) CreateRun(ctx context.Context, m *mailing.Mailing, kind string, slot *time.Time, onlyFrom int64) (*mailing.Run, error) {
	now := s.now()
	run := &mailing.Run{MailingID: m.ID, OwnerID: m.OwnerID, Kind: kind, Slot: slot, StartedAt: now}
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if kind != mailing.RunSchedule {
			if s.Dialect == "postgres" {
				// Two presses at once must not both pass the check below: serialise on the mailing.
				if _, err := tx.NewRaw("SELECT id FROM mailings WHERE id = ? FOR UPDATE", m.ID).Exec(ctx); err != nil {
					return err
				}
			}
			// While a run of this mailing has deliveries to send, another manual run or a
			// resend would send twice (a double click, say).
			// From the mailing's runs to each one's deliveries: joined the other way, SQLite
			// walked every pending delivery of every run by the state index.
			busy, err := tx.NewSelect().TableExpr("runs AS r").
				Where("r.mailing_id = ? AND r.finished_at IS NULL", m.ID).
				Where("EXISTS (SELECT 1 FROM deliveries AS d WHERE d.run_id = r.id AND d.state IN ('pending', 'sending'))").Exists(ctx)
			if err != nil {
				return err
			}
			if busy {
				return mailing.ErrRunInProgress
			}
		}
		if onlyFrom != 0 {
			// Only the latest run's failures are still owed: an earlier run's were resent.
			later, err := tx.NewSelect().TableExpr("runs").Where("mailing_id = ? AND id > ?", m.ID, onlyFrom).Exists(ctx)
			if err != nil {
				return err
			}
			if later {
				return mailing.ErrRunSuperseded
			}
		}
		if _, err := tx.NewInsert().Model(run).Returning("id").Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return mailing.Errorf(mailing.ECONFLICT, "mailing %d already has a run for this slot", m.ID)
			}
			return err
		}
		// Each recipient of the audience as it is now; a suppressed address is recorded as
		// such with its reason, and never sent to.
		written, err := s.insertDeliveries(ctx, tx, run, now, onlyFrom)
		if err != nil {
			return err
		}
		if written == 0 {
			return mailing.ErrNoRecipients
		}
		// Total is whom the run sends to; the suppressed are counted apart. A run that
		// would send to nobody is not started.
		suppressed, err := tx.NewSelect().TableExpr("deliveries").Where("run_id = ? AND state = 'suppressed'", run.ID).Count(ctx)
		if err != nil {
			return err
		}
		n := written - int64(suppressed)
		if n == 0 {
			return mailing.ErrNoRecipients
		}
		run.Total = int(n)
		_, err = tx.NewUpdate().Model(run).Column("total").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// deliveryChunk bounds the recipients one statement of CreateRun writes. A run's deliveries
// are written in the run's one transaction, chunk by chunk: as one statement, a million of
// them took longer than the PostgreSQL driver waits for a reply (10 s) and the run failed.
var deliveryChunk = 10_000

// insertDeliveries writes run's deliveries — the audience of its mailing, or the failed and
// cancelled deliveries of run onlyFrom — in ranges of the key the source's index is ordered
// by (the address among the owner's clients, the client among the earlier run's
// deliveries). Each range ends at the key deliveryChunk entries on, read from that index
// alone, so the ranges cover every recipient once; the rows go from table to table without
// passing through this process. It returns how many deliveries it wrote.
func (s *Store) insertDeliveries(ctx context.Context, tx bun.Tx, run *mailing.Run, now time.Time, onlyFrom int64) (int64, error) {
	const fields = `INSERT INTO deliveries (run_id, mailing_id, client_id, email, name, state, reason, tries, next_try_at, updated_at)
		SELECT ?, ?, c.id, c.email, c.full_name, CASE WHEN sp.id IS NULL THEN 'pending' ELSE 'suppressed' END,
			COALESCE(sp.reason, ''), 0, ?, ?`
	const suppressed = ` LEFT JOIN suppressions AS sp ON sp.owner_id = c.owner_id AND sp.email = c.email`
	args := []any{run.ID, run.MailingID, now, now}
	var from, key, next string
	var lo, hi any
	if onlyFrom != 0 {
		from = ` FROM deliveries AS d JOIN clients AS c ON c.id = d.client_id` + suppressed + `
			WHERE d.run_id = ? AND d.state IN ('failed', 'cancelled')`
		key = "d.client_id"
		next = "SELECT d.client_id FROM deliveries AS d WHERE d.run_id = ? AND d.client_id > ? ORDER BY d.client_id LIMIT 1 OFFSET ?"
		args = append(args, onlyFrom)
		lo, hi = int64(0), new(int64)
	} else {
		from = ` FROM mailings AS ml JOIN clients AS c ON c.owner_id = ml.owner_id` + suppressed + `
			WHERE ml.id = ? AND ` + audience
		key = "c.email"
		next = "SELECT c.email FROM clients AS c WHERE c.owner_id = ? AND c.email > ? ORDER BY c.email LIMIT 1 OFFSET ?"
		args = append(args, run.MailingID)
		lo, hi = "", new(string)
	}
	source := onlyFrom
	if source == 0 {
		source = run.OwnerID
	}
	if s.Dialect == "postgres" {
		// Ranges are cheap only as walks of the index in its order, which is the right plan
		// at every size. Right after a big import the statistics still say the owner has a
		// few hundred clients, and PostgreSQL then fetched every client past a range's start
		// and sorted them, for each range: 120–170 ms a range at a million clients, 17 s of
		// a 29 s start. The run's transaction rules those plans out.
		if _, err := tx.ExecContext(ctx, "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"); err != nil {
			return 0, err
		}
	}
	var written int64
	for {
		err := tx.NewRaw(next, source, lo, deliveryChunk-1).Scan(ctx, hi)
		last := errors.Is(err, sql.ErrNoRows)
		if err != nil && !last {
			return 0, err
		}
		q, qargs := fields+from+" AND "+key+" > ?", append(slices.Clone(args), lo)
		if !last {
			q, qargs = q+" AND "+key+" <= ?", append(qargs, hi)
		}
		res, err := tx.NewRaw(q, qargs...).Exec(ctx)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		written += n
		if last {
			return written, nil
		}
		switch h := hi.(type) {
		case *int64:
			lo = *h
		case *string:
			lo = *h
		}
	}
}

// RunByID returns a run.
func (s *Store) RunByID(ctx context.Context, id int64) (*mailing.Run, error) {
	r := new(mailing.Run)
	err := s.DB.NewSelect().Model(r).Where("id = ?", id).Scan(ctx)
	return r, notFound(err, "run")
}

// LatestRun returns a mailing's newest run; ENOTFOUND when it has none.
func (s *Store) LatestRun(ctx context.Context, mailingID int64) (*mailing.Run, error) {
	r := new(mailing.Run)
	err := s.DB.NewSelect().Model(r).Where("mailing_id = ?", mailingID).OrderExpr("id DESC").Limit(1).Scan(ctx)
	return r, notFound(err, "run")
}

// ClaimDeliveries takes up to n of a run's deliveries that are due, for worker until
// claimUntil, in one conditional update: a delivery already sent, or claimed by someone
// else, is never taken, however often the same task runs.
func (s *Store) ClaimDeliveries(ctx context.Context, runID int64, worker string, n int, claimUntil time.Time) ([]mailing.Delivery, error) {
	return s.ClaimNext(ctx, runID, worker, n, claimUntil, nil)
}

// ClaimCursor is where a claimer's last claim ended in the run's due order (next_try_at,
// id). On PostgreSQL each claimed row leaves a dead entry at the front of the run's
// pending range until vacuum, and a claim from the front walked them all (97 index pages
// after 15,000 claimed, against 8 after the cursor; thousands at a million). A claim after
// the cursor starts past them.
type ClaimCursor struct {
	At time.Time
	ID int64
}

// ClaimNext is ClaimDeliveries for a claimer that keeps cur between claims (nil: none). It
// looks after the cursor first and, finding fewer than n there, from the front — so
// deliveries handed back or due again before the cursor are still taken, and a run ends
// only when a claim from the front finds nothing. SQLite removes an index entry as its row
// changes, so there a claim always starts at the front.
func (s *Store) ClaimNext(ctx context.Context, runID int64, worker string, n int, claimUntil time.Time, cur *ClaimCursor) ([]mailing.Delivery, error) {
	now := s.now()
	if s.Dialect != "postgres" {
		// SQLite runs one writer at a time, so the statement is atomic as it stands. The
		// order follows the (run_id, state, next_try_at, id) index, and the unary + keeps
		// SQLite from preferring the (state, …) index, which would walk every pending row of
		// every run.
		var ds []mailing.Delivery
		err := s.DB.NewRaw(`UPDATE deliveries SET state = 'sending', claimed_by = ?, claimed_until = ?, updated_at = ?
			WHERE id IN (SELECT id FROM deliveries WHERE run_id = ? AND state = 'pending' AND next_try_at <= ? ORDER BY next_try_at, id LIMIT ?)
			AND +state = 'pending'
			RETURNING id, run_id, mailing_id, COALESCE(client_id, 0) AS client_id, email, name, tries`,
			worker, claimUntil.UTC(), now, runID, now, n).Scan(ctx, &ds)
		return ds, err
	}
	var rows []claimedRow
	if cur != nil && cur.ID != 0 {
		if err := s.claimPostgres(ctx, &rows, "AND (next_try_at, id) > (?, ?)", []any{cur.At, cur.ID}, runID, worker, n, claimUntil, now); err != nil {
			return nil, err
		}
	}
	if len(rows) < n {
		var front []claimedRow
		if err := s.claimPostgres(ctx, &front, "", nil, runID, worker, n-len(rows), claimUntil, now); err != nil {
			return nil, err
		}
		rows = append(rows, front...)
	}
	ds := make([]mailing.Delivery, len(rows))
	for i, r := range rows {
		ds[i] = r.Delivery
		if cur != nil && (r.NextTryAt.After(cur.At) || r.NextTryAt.Equal(cur.At) && r.ID > cur.ID) {
			cur.At, cur.ID = r.NextTryAt, r.ID
		}
	}
	return ds, nil
}

// claimedRow is a claimed delivery with its place in the due order, for the cursor.
type claimedRow struct {
	mailing.Delivery
	NextTryAt time.Time
}

// claimPostgres claims up to n due deliveries of the run that meet the extra condition.
// A materialised CTE picks the rows once: with the subquery inline the planner may re-run
// it per row and overrun the LIMIT. SKIP LOCKED lets workers claim side by side.
func (s *Store) claimPostgres(ctx context.Context, dest *[]claimedRow, extra string, extraArgs []any,
	runID int64, worker string, n int, claimUntil, now time.Time) error {
	args := slices.Concat([]any{runID, now}, extraArgs, []any{n, worker, claimUntil.UTC(), now})
	return s.DB.NewRaw(`WITH picked AS MATERIALIZED (
			SELECT id FROM deliveries WHERE run_id = ? AND state = 'pending' AND next_try_at <= ? `+extra+`
			ORDER BY next_try_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
		UPDATE deliveries SET state = 'sending', claimed_by = ?, claimed_until = ?, updated_at = ?
		FROM picked WHERE deliveries.id = picked.id AND (deliveries.state || '') = 'pending'
		RETURNING deliveries.id, deliveries.run_id, deliveries.mailing_id, COALESCE(deliveries.client_id, 0) AS client_id,
			deliveries.email, deliveries.name, deliveries.tries, deliveries.next_try_at`, args...).Scan(ctx, dest)
}

// stateByID is the deliveries' state column as written in a statement that finds its rows
// by id. Every delivery passes through pending, sending and sent, so on PostgreSQL most
// entries of the indexes that lead with the state are dead versions until vacuum; a plan
// that combined the id lookup with one of them walked them all (marking 16 deliveries
// handed took 4 ms at 100,000 recipients, and recording 50 took 10). Written as an
// expression, the column is no index's: the primary key is left. SQLite's unary + does the
// same there (see ClaimNext).
func (s *Store) stateByID() string {
	if s.Dialect == "postgres" {
		return "(state || '')"
	}
	return "+state"
}

// Outcome is what became of one claimed delivery.
type Outcome struct {
	Delivery mailing.Delivery
	Attempt  mailing.Attempt
	// State is sent, failed, pending (to retry at RetryAt) or cancelled (not attempted).
	State   string
	RetryAt time.Time
	// Relay marks a pending outcome whose failure was the mail server's, not the recipient's:
	// it waits for the relay without spending a try.
	Relay bool
}

// RecordOutcomes writes a batch's attempts and the deliveries' new states in one
// transaction. Attempts are facts and are always written; a delivery's state changes only
// while worker still holds its claim, except that a success is recorded whoever holds it.
func (s *Store) RecordOutcomes(ctx context.Context, worker string, outs []Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	now := s.now()
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		attempts := make([]mailing.Attempt, 0, len(outs))
		var sent, failed, cancelled []int64
		retries := map[time.Time][]int64{}
		waits := map[time.Time][]int64{} // the relay's outage: no try spent
		mailings := map[int64]time.Time{}
		for _, o := range outs {
			switch o.State {
			case mailing.DeliverySent:
				sent = append(sent, o.Delivery.ID)
			case mailing.DeliveryFailed:
				failed = append(failed, o.Delivery.ID)
			case mailing.DeliveryCancelled:
				cancelled = append(cancelled, o.Delivery.ID)
				continue // nothing was attempted
			default:
				if o.Relay {
					waits[o.RetryAt.UTC()] = append(waits[o.RetryAt.UTC()], o.Delivery.ID)
				} else {
					retries[o.RetryAt.UTC()] = append(retries[o.RetryAt.UTC()], o.Delivery.ID)
				}
			}
			attempts = append(attempts, o.Attempt)
			if t, ok := mailings[o.Attempt.MailingID]; !ok || o.Attempt.AttemptedAt.Before(t) {
				mailings[o.Attempt.MailingID] = o.Attempt.AttemptedAt
			}
		}
		for start := 0; start < len(attempts); start += 500 {
			chunk := attempts[start:min(start+500, len(attempts))]
			if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
				return err
			}
		}
		update := func(ids []int64, set string, mine bool, args ...any) error {
			for start := 0; start < len(ids); start += 500 {
				q := tx.NewUpdate().TableExpr("deliveries").Set(set, args...).Set("updated_at = ?", now).
					Set("claimed_by = NULL").Set("claimed_until = NULL").Set("handed_at = NULL").
					Where("id IN (?)", bun.In(ids[start:min(start+500, len(ids))]))
				if mine {
					q = q.Where("claimed_by = ? AND "+s.stateByID()+" = 'sending'", worker)
				} else {
					q = q.Where(s.stateByID() + " IN ('pending', 'sending')")
				}
				if _, err := q.Exec(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		if err := update(sent, "state = 'sent', tries = tries + 1", false); err != nil {
			return err
		}
		if err := update(failed, "state = 'failed', tries = tries + 1", true); err != nil {
			return err
		}
		if err := update(cancelled, "state = 'cancelled'", true); err != nil {
			return err
		}
		for at, ids := range retries {
			if err := update(ids, "state = 'pending', tries = tries + 1, next_try_at = ?", true, at); err != nil {
				return err
			}
		}
		for at, ids := range waits {
			if err := update(ids, "state = 'pending', next_try_at = ?", true, at); err != nil {
				return err
			}
		}
		for id, at := range mailings {
			if _, err := tx.NewUpdate().TableExpr("mailings").Set("first_attempt_at = ?", at.UTC()).
				Where("id = ? AND first_attempt_at IS NULL", id).Exec(ctx); err != nil {
				return err
			}
		}
		return s.recordSMTPBounces(ctx, tx, outs)
	})
}

// recordSMTPBounces records the bounces among a batch's final failures (see
// mailing.SMTPBounce) under the Store's BouncePolicy: a 5.1.1 suppresses its address before
// the next run starts. A 4xx that will be retried is no bounce yet; it is one if the
// delivery finally fails with it.
func (s *Store) recordSMTPBounces(ctx context.Context, tx bun.IDB, outs []Outcome) error {
	var bounces []mailing.Bounce
	var mailingIDs []int64
	for _, o := range outs {
		if o.State != mailing.DeliveryFailed || o.Attempt.SMTPCode == 0 {
			continue
		}
		kind := mailing.SMTPBounce(o.Attempt.SMTPCode, mailing.EnhancedCode(o.Attempt.Response))
		if kind == "" {
			continue
		}
		mid, did := o.Attempt.MailingID, o.Delivery.ID
		bounces = append(bounces, mailing.Bounce{Email: o.Delivery.Email, Kind: kind, Source: mailing.BounceFromSMTP,
			Detail: o.Attempt.Response, MailingID: &mid, DeliveryID: &did, CreatedAt: o.Attempt.AttemptedAt})
		mailingIDs = append(mailingIDs, mid)
	}
	if len(bounces) == 0 {
		return nil
	}
	var owners []struct{ ID, OwnerID int64 }
	if err := tx.NewSelect().TableExpr("mailings").Column("id", "owner_id").
		Where("id IN (?)", bun.In(mailingIDs)).Scan(ctx, &owners); err != nil {
		return err
	}
	ownerOf := make(map[int64]int64, len(owners))
	for _, o := range owners {
		ownerOf[o.ID] = o.OwnerID
	}
	for _, b := range bounces {
		b.OwnerID = ownerOf[*b.MailingID]
		if _, err := s.recordBounce(ctx, tx, b, s.Bounces); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseClaims hands worker's unsent claims back, for a worker that is stopping (or
// pausing for the relay): it knows they never reached the server, handed or not.
func (s *Store) ReleaseClaims(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.DB.NewUpdate().TableExpr("deliveries").
		Set("state = 'pending'").Set("claimed_by = NULL").Set("claimed_until = NULL").Set("handed_at = NULL").
		Set("updated_at = ?", s.now()).
		Where("id IN (?) AND claimed_by = ? AND "+s.stateByID()+" = 'sending'", bun.In(ids), worker).Exec(ctx)
	return err
}

// ExtendClaims keeps worker's claims on ids alive until until.
func (s *Store) ExtendClaims(ctx context.Context, worker string, ids []int64, until time.Time) error {
	for start := 0; start < len(ids); start += 500 {
		if _, err := s.DB.NewUpdate().TableExpr("deliveries").Set("claimed_until = ?", until.UTC()).
			Where("id IN (?) AND claimed_by = ? AND "+s.stateByID()+" = 'sending'", bun.In(ids[start:min(start+500, len(ids))]), worker).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// CancelPending cancels a run's deliveries that nobody is sending, when its mailing was
// disabled or its owner blocked.
func (s *Store) CancelPending(ctx context.Context, runID int64) (int64, error) {
	res, err := s.DB.NewUpdate().TableExpr("deliveries").Set("state = 'cancelled'").Set("updated_at = ?", s.now()).
		Where("run_id = ? AND state = 'pending'", runID).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SendingStopped reports whether a mailing must not be sent any more: disabled, or its
// owner blocked.
func (s *Store) SendingStopped(ctx context.Context, mailingID int64) (bool, error) {
	var stopped bool
	err := s.DB.NewSelect().TableExpr("mailings AS ml").Join("JOIN users AS u ON u.id = ml.owner_id").
		ColumnExpr("(ml.disabled OR u.blocked_at IS NOT NULL)").Where("ml.id = ?", mailingID).Scan(ctx, &stopped)
	if err != nil {
		return true, notFound(err, "mailing")
	}
	return stopped, nil
}

// Progress counts a run's deliveries by state.
func (s *Store) Progress(ctx context.Context, runID int64) (mailing.RunProgress, error) {
	run, err := s.RunByID(ctx, runID)
	if err != nil {
		return mailing.RunProgress{}, err
	}
	p := mailing.RunProgress{RunID: run.ID, Total: run.Total, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt}
	var rows []struct {
		State string
		N     int
	}
	if err := s.DB.NewSelect().TableExpr("deliveries").ColumnExpr("state, COUNT(*) AS n").
		Where("run_id = ?", runID).GroupExpr("state").Scan(ctx, &rows); err != nil {
		return p, err
	}
	for _, r := range rows {
		switch r.State {
		case mailing.DeliverySent:
			p.Sent = r.N
		case mailing.DeliveryFailed:
			p.Failed = r.N
		case mailing.DeliveryCancelled:
			p.Cancelled = r.N
		case mailing.DeliverySuppressed:
			p.Suppressed = r.N
		default:
			p.Pending += r.N
		}
	}
	return p, nil
}

// NextRetry returns when the earliest pending delivery of a run is due; zero when none is
// pending.
func (s *Store) NextRetry(ctx context.Context, runID int64) (time.Time, error) {
	var at []time.Time
	err := s.DB.NewSelect().TableExpr("deliveries").Column("next_try_at").
		Where("run_id = ? AND state = 'pending'", runID).OrderExpr("next_try_at").Limit(1).Scan(ctx, &at)
	if err != nil || len(at) == 0 {
		return time.Time{}, err
	}
	return at[0], nil
}

// FinishRun marks a run finished once no delivery is pending or being sent. It reports
// whether this call finished it, so exactly one caller logs the end of a run.
func (s *Store) FinishRun(ctx context.Context, runID int64) (bool, error) {
	res, err := s.DB.NewUpdate().TableExpr("runs").Set("finished_at = ?", s.now()).
		Where("id = ? AND finished_at IS NULL", runID).
		Where("NOT EXISTS (SELECT 1 FROM deliveries WHERE run_id = ? AND state IN ('pending', 'sending'))", runID).
		Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ListAttempts returns a page of a mailing's attempts, newest first, optionally of one status.
func (s *Store) ListAttempts(ctx context.Context, mailingID int64, status string, p mailing.ListParams) (mailing.Page[mailing.Attempt], error) {
	q := s.DB.NewSelect().ModelTableExpr("attempts AS a").ColumnExpr("a.*").Where("a.mailing_id = ?", mailingID)
	if status == mailing.AttemptSuccess || status == mailing.AttemptFailure {
		q = q.Where("a.status = ?", status)
	}
	p.Sort, p.Desc = "id", true
	return keyset(ctx, q, attemptList, p, func(a *mailing.Attempt, _ string) (any, int64) { return a.ID, a.ID })
}

var attemptList = listSpec{
	sorts: map[string]sortColumn{"id": {expr: "a.id", kind: "int"}},
	def:   "id", defDesc: true, idExpr: "a.id",
}

package store

import (
	"context"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

var suppressionList = listSpec{
	sorts: map[string]sortColumn{
		"email":   {expr: "s.email", kind: "string"},
		"created": {expr: "s.created_at", kind: "time"},
	},
	def: "created", defDesc: true, idExpr: "s.id",
}

func suppressionSortValue(x *mailing.Suppression, sort string) (any, int64) {
	if sort == "email" {
		return x.Email, x.ID
	}
	return x.CreatedAt, x.ID
}

func (s *Store) suppressionQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("suppressions AS s").ColumnExpr("s.*")
	if scope.All {
		return q.ColumnExpr("u.email AS owner_email").Join("JOIN users AS u ON u.id = s.owner_id")
	}
	return q.Where("s.owner_id = ?", scope.UserID)
}

// ListSuppressions returns a page of the suppressed addresses in scope that start with
// p.Q, of one reason when p.Status names one.
func (s *Store) ListSuppressions(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Suppression], error) {
	q := s.suppressionQuery(scope)
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("s.email", term)
		q = q.Where(expr, args...)
	}
	if slices.Contains(mailing.SuppressionReasons, p.Status) {
		q = q.Where("s.reason = ?", p.Status)
	}
	return keyset(ctx, q, suppressionList, p, suppressionSortValue)
}

// SuppressionByID returns a suppression in scope; ENOTFOUND otherwise.
func (s *Store) SuppressionByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Suppression, error) {
	x := new(mailing.Suppression)
	err := s.suppressionQuery(scope).Where("s.id = ?", id).Scan(ctx, x)
	return x, notFound(err, "suppression")
}

// Suppress adds addresses to their owners' suppression lists and returns how many were
// new. An address already listed keeps its entry, unless the new reason is a complaint or
// a hard bounce, which replace a weaker one: the strongest reason is the one shown.
func (s *Store) Suppress(ctx context.Context, list []mailing.Suppression) (int, error) {
	var n int
	owners := map[int64]bool{}
	for _, x := range list {
		owners[x.OwnerID] = true
	}
	ids := make([]int64, 0, len(owners))
	for id := range owners {
		ids = append(ids, id)
	}
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		count := tx.NewSelect().TableExpr("suppressions").Where("owner_id IN (?)", bun.In(ids))
		before, err := count.Count(ctx)
		if err != nil {
			return err
		}
		if err := s.suppress(ctx, tx, list); err != nil {
			return err
		}
		after, err := count.Count(ctx)
		n = int(after - before)
		return err
	})
	return n, err
}

// reasonRank orders reasons by how strongly they keep mail away, in SQL.
func reasonRank(col string) string {
	return "(CASE " + col + " WHEN 'manual' THEN 1 WHEN 'unsubscribed' THEN 2 WHEN 'soft_bounces' THEN 3 " +
		"WHEN 'hard_bounce' THEN 4 ELSE 5 END)"
}

func (s *Store) suppress(ctx context.Context, db bun.IDB, list []mailing.Suppression) error {
	now := s.now()
	for start := 0; start < len(list); start += 500 {
		batch := slices.Clone(list[start:min(start+500, len(list))])
		for i := range batch {
			batch[i].Email = strings.ToLower(strings.TrimSpace(batch[i].Email))
			if batch[i].CreatedAt.IsZero() {
				batch[i].CreatedAt = now
			}
		}
		// A stronger reason replaces a weaker one; the date stays that of the first entry.
		if _, err := db.NewInsert().Model(&batch).ModelTableExpr("suppressions").ExcludeColumn("id").
			On("CONFLICT (owner_id, email) DO UPDATE").
			Set("reason = EXCLUDED.reason, detail = EXCLUDED.detail").
			Where(reasonRank("EXCLUDED.reason") + " > " + reasonRank("suppressions.reason")).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Unsuppress removes one of ownerID's suppressions and returns it; ENOTFOUND otherwise.
// An unsubscribed client of the address is subscribed again.
func (s *Store) Unsuppress(ctx context.Context, ownerID, id int64) (*mailing.Suppression, error) {
	x := new(mailing.Suppression)
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(x).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx); err != nil {
			return notFound(err, "suppression")
		}
		if _, err := tx.NewDelete().TableExpr("suppressions").Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewUpdate().TableExpr("clients").Set("unsubscribed_at = NULL").Set("updated_at = ?", s.now()).
			Where("owner_id = ? AND email = ?", ownerID, x.Email).Exec(ctx)
		return err
	})
	return x, err
}

// RecordBounce stores a bounce or complaint and suppresses its address as the policy says:
// a hard bounce or a complaint at once, soft bounces once policy.SoftLimit of them fall
// within policy.SoftWindow. It returns the suppression reason it set, if any.
func (s *Store) RecordBounce(ctx context.Context, b mailing.Bounce, policy mailing.BouncePolicy) (string, error) {
	var reason string
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		reason, err = s.recordBounce(ctx, tx, b, policy)
		return err
	})
	return reason, err
}

func (s *Store) recordBounce(ctx context.Context, tx bun.IDB, b mailing.Bounce, policy mailing.BouncePolicy) (string, error) {
	b.Email = strings.ToLower(strings.TrimSpace(b.Email))
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.now()
	}
	if _, err := tx.NewInsert().Model(&b).ModelTableExpr("bounces").ExcludeColumn("id").Exec(ctx); err != nil {
		return "", err
	}
	var reason string
	switch b.Kind {
	case mailing.BounceHard:
		reason = mailing.SuppressHardBounce
	case mailing.BounceComplaint:
		reason = mailing.SuppressComplaint
	default:
		if policy.SoftLimit <= 0 {
			return "", nil
		}
		n, err := tx.NewSelect().TableExpr("bounces").
			Where("owner_id = ? AND email = ? AND kind = 'soft' AND created_at > ?", b.OwnerID, b.Email, b.CreatedAt.Add(-policy.SoftWindow)).Count(ctx)
		if err != nil || int(n) < policy.SoftLimit {
			return "", err
		}
		reason = mailing.SuppressSoftBounces
	}
	return reason, s.suppress(ctx, tx, []mailing.Suppression{{OwnerID: b.OwnerID, Email: b.Email, Reason: reason, Detail: b.Detail, CreatedAt: b.CreatedAt}})
}

// MailingBounces counts a mailing's bounces and complaints by kind.
func (s *Store) MailingBounces(ctx context.Context, mailingID int64) (mailing.BounceCounts, error) {
	return s.bounceCounts(ctx, s.DB.NewSelect().TableExpr("bounces").Where("mailing_id = ?", mailingID))
}

func (s *Store) bounceCounts(ctx context.Context, q *bun.SelectQuery) (mailing.BounceCounts, error) {
	var rows []struct {
		Kind string
		N    int
	}
	err := q.ColumnExpr("kind, COUNT(*) AS n").GroupExpr("kind").Scan(ctx, &rows)
	var c mailing.BounceCounts
	for _, r := range rows {
		switch r.Kind {
		case mailing.BounceHard:
			c.Hard = r.N
		case mailing.BounceSoft:
			c.Soft = r.N
		case mailing.BounceComplaint:
			c.Complaints = r.N
		}
	}
	return c, err
}

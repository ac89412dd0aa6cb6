package store

import (
	"context"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// A list page says how many items its search and filters match ("1–25 of 2,000"). These
// count what the List… query of the same name pages through, with the same conditions and
// no order or window. A count walks every match, so the web layer keeps its answer in the
// cache under the owner's data version (web/entity.go): a list page pays it once per change.

func ownedBy(q *bun.SelectQuery, scope mailing.Scope, col string) *bun.SelectQuery {
	if scope.All {
		return q
	}
	return q.Where(col+" = ?", scope.UserID)
}

func countOf(ctx context.Context, q *bun.SelectQuery) (int, error) {
	n, err := q.ColumnExpr("COUNT(*)").Count(ctx)
	return int(n), err
}

// CountClientList counts the clients ListClients pages through for p.
func (s *Store) CountClientList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error) {
	if p.Tag != "" && normalizeSearch(p.Q) == "" {
		// A client carries only its owner's tags: the tag's links are its clients in scope,
		// counted from the tag's index without reading a client.
		ids, args := tagIDs(scope, tagName(p.Tag))
		return countOf(ctx, s.DB.NewSelect().TableExpr("client_tags AS ct").Where("ct.tag_id IN ("+ids+")", args...))
	}
	q := ownedBy(s.DB.NewSelect().TableExpr("clients AS c"), scope, "c.owner_id")
	if cond, args := s.clientFilter(scope, p.Q, p.Tag); cond != "" {
		q = q.Where(strings.TrimPrefix(cond, " AND "), args...)
	}
	return countOf(ctx, q)
}

// CountMessageList counts the messages ListMessages pages through for p.
func (s *Store) CountMessageList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error) {
	q := ownedBy(s.DB.NewSelect().TableExpr("messages AS m"), scope, "m.owner_id")
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("m.subject_lc", term)
		q = q.Where(expr, args...)
	}
	return countOf(ctx, q)
}

// CountMailingList counts the mailings ListMailings pages through for p.
func (s *Store) CountMailingList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error) {
	q := ownedBy(s.DB.NewSelect().TableExpr("mailings AS ml"), scope, "ml.owner_id")
	switch p.Status {
	case mailing.StatusCreated, mailing.StatusRunning, mailing.StatusFinished:
		q = q.Where(StatusSQL("ml")+" = ?", s.now(), p.Status)
	case mailing.FilterDisabled:
		q = q.Where("ml.disabled")
	}
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("msg.subject_lc", term)
		q = q.Join("JOIN messages AS msg ON msg.id = ml.message_id").Where(expr, args...)
	}
	return countOf(ctx, q)
}

// CountLayoutList counts the layouts ListLayouts pages through for p.
func (s *Store) CountLayoutList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error) {
	q := ownedBy(s.DB.NewSelect().TableExpr("layouts AS l"), scope, "l.owner_id")
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("l.name_lc", term)
		q = q.Where(expr, args...)
	}
	return countOf(ctx, q)
}

// CountSuppressionList counts the suppressions ListSuppressions pages through for p.
func (s *Store) CountSuppressionList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error) {
	q := ownedBy(s.DB.NewSelect().TableExpr("suppressions AS s"), scope, "s.owner_id")
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("s.email", term)
		q = q.Where(expr, args...)
	}
	if slices.Contains(mailing.SuppressionReasons, p.Status) {
		q = q.Where("s.reason = ?", p.Status)
	}
	return countOf(ctx, q)
}

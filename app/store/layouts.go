package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

var layoutList = listSpec{
	sorts: map[string]sortColumn{
		"name":    {expr: "l.name_lc", kind: "string"},
		"created": {expr: "l.created_at", kind: "time"},
	},
	def: "name", idExpr: "l.id",
}

func layoutSortValue(l *mailing.Layout, sort string) (any, int64) {
	if sort == "created" {
		return l.CreatedAt, l.ID
	}
	return l.NameLC, l.ID
}

func (s *Store) layoutQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("layouts AS l").ColumnExpr("l.*")
	if scope.All {
		return q.ColumnExpr("u.email AS owner_email").Join("JOIN users AS u ON u.id = l.owner_id")
	}
	return q.Where("l.owner_id = ?", scope.UserID)
}

// ListLayouts returns a page of the layouts in scope whose name starts with p.Q.
func (s *Store) ListLayouts(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Layout], error) {
	q := s.layoutQuery(scope)
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("l.name_lc", term)
		q = q.Where(expr, args...)
	}
	return keyset(ctx, q, layoutList, p, layoutSortValue)
}

// LayoutByID returns a layout in scope; ENOTFOUND otherwise.
func (s *Store) LayoutByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Layout, error) {
	l := new(mailing.Layout)
	err := s.layoutQuery(scope).Where("l.id = ?", id).Scan(ctx, l)
	return l, notFound(err, "layout")
}

// LayoutChoices lists an owner's layouts (id and name) for the message form, by name.
func (s *Store) LayoutChoices(ctx context.Context, ownerID int64) ([]mailing.Layout, error) {
	var ls []mailing.Layout
	err := s.DB.NewSelect().Model(&ls).Column("id", "name").
		Where("owner_id = ?", ownerID).OrderExpr("name_lc, id").Limit(500).Scan(ctx)
	return ls, err
}

// SaveLayout creates l (ID 0) or saves it over the one it updates, which must be
// l.OwnerID's.
func (s *Store) SaveLayout(ctx context.Context, l *mailing.Layout) error {
	now := s.now()
	l.UpdatedAt = now
	if l.ID == 0 {
		l.CreatedAt = now
		_, err := s.DB.NewInsert().Model(l).Returning("id").Exec(ctx)
		return err
	}
	res, err := s.DB.NewUpdate().Model(l).Column("name", "name_lc", "html", "updated_at").
		Where("id = ? AND owner_id = ?", l.ID, l.OwnerID).Exec(ctx)
	return affected(res, err, "layout")
}

// DefaultLayout returns the id of ownerID's layout named mailing.DefaultLayoutName,
// saving mailing.DefaultLayoutHTML under that name first when they have none.
func (s *Store) DefaultLayout(ctx context.Context, ownerID int64) (int64, error) {
	var id int64
	err := s.DB.NewSelect().TableExpr("layouts").Column("id").
		Where("owner_id = ? AND name_lc = ?", ownerID, mailingDefaultLC).OrderExpr("id").Limit(1).Scan(ctx, &id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	l := &mailing.Layout{OwnerID: ownerID, Name: mailing.DefaultLayoutName, HTML: mailing.DefaultLayoutHTML}
	l.Validate()
	return l.ID, s.SaveLayout(ctx, l)
}

var mailingDefaultLC = strings.ToLower(mailing.DefaultLayoutName)

// DeleteLayout removes one of ownerID's layouts; ECONFLICT while a message uses it.
func (s *Store) DeleteLayout(ctx context.Context, ownerID, id int64) error {
	used, err := s.DB.NewSelect().TableExpr("messages").Where("layout_id = ?", id).Exists(ctx)
	if err != nil {
		return err
	}
	if used {
		return mailing.ErrLayoutInUse
	}
	res, err := s.DB.NewDelete().TableExpr("layouts").Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
	return affected(res, err, "layout")
}

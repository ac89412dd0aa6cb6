package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// User statuses the managers' list filters by.
const (
	UserActive      = "active"
	UserBlocked     = "blocked"
	UserUnconfirmed = "unconfirmed"
)

// UserStatuses are the values of the users list's status filter.
var UserStatuses = []string{UserActive, UserBlocked, UserUnconfirmed}

// UserRow is one line of the managers' users list.
type UserRow struct {
	ID          int64
	Email       string
	Role        string
	ConfirmedAt *time.Time
	BlockedAt   *time.Time
	CreatedAt   time.Time
	Mailings    int // how many mailings the user owns
}

// Status is the row's status: blocked, unconfirmed or active (blocked wins).
func (u *UserRow) Status() string {
	switch {
	case u.BlockedAt != nil:
		return UserBlocked
	case u.ConfirmedAt == nil:
		return UserUnconfirmed
	}
	return UserActive
}

// UserListParams are a users list's search, sort and page, with its filters: Status (one of
// UserStatuses) and Role.
type UserListParams struct {
	mailing.ListParams
	Role string
}

var userList = listSpec{
	sorts: map[string]sortColumn{
		"email":   {expr: "u.email", kind: "string"},
		"created": {expr: "u.created_at", kind: "time"},
	},
	def: "email", idExpr: "u.id",
}

func userSortValue(u *UserRow, sort string) (any, int64) {
	if sort == "created" {
		return u.CreatedAt, u.ID
	}
	return u.Email, u.ID
}

// UserSort reports the sort ListUsers uses for p.
func UserSort(p mailing.ListParams) (string, bool) { return userList.Sorts(p) }

// userRowQuery selects users with the number of mailings each owns, counted in the same
// query (a grouped join), never one query per row.
func (s *Store) userRowQuery() *bun.SelectQuery {
	return s.DB.NewSelect().ModelTableExpr("users AS u").
		ColumnExpr("u.id, u.email, u.role, u.confirmed_at, u.blocked_at, u.created_at").
		ColumnExpr("COUNT(ml.id) AS mailings").
		Join("LEFT JOIN mailings AS ml ON ml.owner_id = u.id").
		GroupExpr("u.id, u.email, u.role, u.confirmed_at, u.blocked_at, u.created_at")
}

// ListUsers returns a page of users whose email starts with p.Q, optionally of one role and
// one status, each with the count of their mailings.
func (s *Store) ListUsers(ctx context.Context, p UserListParams) (mailing.Page[UserRow], error) {
	q := s.userRowQuery()
	switch p.Status {
	case UserActive:
		q = q.Where("u.blocked_at IS NULL AND u.confirmed_at IS NOT NULL")
	case UserBlocked:
		q = q.Where("u.blocked_at IS NOT NULL")
	case UserUnconfirmed:
		q = q.Where("u.blocked_at IS NULL AND u.confirmed_at IS NULL")
	}
	if p.Role == mailing.RoleUser || p.Role == mailing.RoleManager {
		q = q.Where("u.role = ?", p.Role)
	}
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("u.email", term)
		q = q.Where(expr, args...)
	}
	return keyset(ctx, q, userList, p.ListParams, userSortValue)
}

// UserRowByID returns one user's row of the list; ENOTFOUND when there is no such user.
func (s *Store) UserRowByID(ctx context.Context, id int64) (*UserRow, error) {
	var rows []UserRow
	if err := s.userRowQuery().Where("u.id = ?", id).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, mailing.Errorf(mailing.ENOTFOUND, "user not found")
	}
	return &rows[0], nil
}

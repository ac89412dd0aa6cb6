package store

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// CreateUser inserts u; ECONFLICT when the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *mailing.User) error {
	now := s.now()
	u.CreatedAt, u.UpdatedAt = now, now
	if u.Role == "" {
		u.Role = mailing.RoleUser
	}
	_, err := s.DB.NewInsert().Model(u).Returning("id").Exec(ctx)
	if isUniqueViolation(err) {
		return mailing.Errorf(mailing.ECONFLICT, "email already registered")
	}
	return err
}

// UserByID returns a user; ENOTFOUND when there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (*mailing.User, error) {
	u := new(mailing.User)
	err := s.DB.NewSelect().Model(u).Where("id = ?", id).Scan(ctx)
	return u, notFound(err, "user")
}

// UserByEmail returns a user by normalised email; ENOTFOUND when there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (*mailing.User, error) {
	u := new(mailing.User)
	err := s.DB.NewSelect().Model(u).Where("email = ?", strings.ToLower(email)).Scan(ctx)
	return u, notFound(err, "user")
}

// ConfirmUser marks the account confirmed (idempotent).
func (s *Store) ConfirmUser(ctx context.Context, id int64) error {
	now := s.now()
	_, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("confirmed_at = COALESCE(confirmed_at, ?)", now).Set("updated_at = ?", now).
		Where("id = ?", id).Exec(ctx)
	return err
}

// ReplaceUnconfirmedPassword gives an account that was never confirmed the password of a new
// sign-up for its address, and reports whether it did: a confirmed account keeps its own.
// The newest sign-up wins, so whoever first registered someone else's address cannot keep
// a password that would open the account once its owner confirms it.
func (s *Store) ReplaceUnconfirmedPassword(ctx context.Context, id int64, hash, lang string) (bool, error) {
	res, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("password_hash = ?", hash).Set("language = ?", lang).Set("updated_at = ?", s.now()).
		Where("id = ? AND confirmed_at IS NULL", id).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetPassword stores a new hash, and — because a changed password must end what the old one
// allowed — deletes the user's unused reset links and every session but keepSession
// ("" ends them all).
func (s *Store) SetPassword(ctx context.Context, id int64, hash, keepSession string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		if _, err := tx.NewUpdate().Model((*mailing.User)(nil)).
			Set("password_hash = ?", hash).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().TableExpr("tokens").
			Where("user_id = ? AND kind = ? AND used_at IS NULL", id, mailing.TokenReset).Exec(ctx); err != nil {
			return err
		}
		q := tx.NewDelete().TableExpr("sessions").Where("user_id = ?", id)
		if keepSession != "" {
			q = q.Where("id <> ?", keepSession)
		}
		_, err := q.Exec(ctx)
		return err
	})
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, id int64, role string) error {
	_, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("role = ?", role).Set("updated_at = ?", s.now()).Where("id = ?", id).Exec(ctx)
	return err
}

// SetBlocked blocks or unblocks a user. Blocking deletes their sessions in the same
// transaction, so no request of theirs is served after it commits.
func (s *Store) SetBlocked(ctx context.Context, id int64, blocked bool) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return s.setBlocked(ctx, tx, id, blocked) })
}

func (s *Store) setBlocked(ctx context.Context, tx bun.IDB, id int64, blocked bool) error {
	now := s.now()
	q := tx.NewUpdate().Model((*mailing.User)(nil)).Set("updated_at = ?", now).Where("id = ?", id)
	if blocked {
		q = q.Set("blocked_at = COALESCE(blocked_at, ?)", now)
	} else {
		q = q.Set("blocked_at = NULL")
	}
	if _, err := q.Exec(ctx); err != nil {
		return err
	}
	if !blocked {
		return nil
	}
	_, err := tx.NewDelete().TableExpr("sessions").Where("user_id = ?", id).Exec(ctx)
	return err
}

// SetUserLanguage remembers the language emails to this user are written in.
func (s *Store) SetUserLanguage(ctx context.Context, id int64, lang string) error {
	_, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("language = ?", lang).Set("updated_at = ?", s.now()).Where("id = ?", id).Exec(ctx)
	return err
}

// SetProfile saves a user's language and time zone.
func (s *Store) SetProfile(ctx context.Context, id int64, lang, tz string) error {
	_, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("language = ?", lang).Set("timezone = ?", tz).Set("updated_at = ?", s.now()).Where("id = ?", id).Exec(ctx)
	return err
}

var userList = listSpec{
	sorts: map[string]sortColumn{
		"email":   {expr: "u.email", kind: "string"},
		"created": {expr: "u.created_at", kind: "time"},
	},
	def: "email", idExpr: "u.id",
}

func userSortValue(u *mailing.UserRow, sort string) (any, int64) {
	if sort == "created" {
		return u.CreatedAt, u.ID
	}
	return u.Email, u.ID
}

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
func (s *Store) ListUsers(ctx context.Context, p mailing.UserListParams) (mailing.Page[mailing.UserRow], error) {
	q := s.userRowQuery()
	switch p.Status {
	case mailing.UserActive:
		q = q.Where("u.blocked_at IS NULL AND u.confirmed_at IS NOT NULL")
	case mailing.UserBlocked:
		q = q.Where("u.blocked_at IS NOT NULL")
	case mailing.UserUnconfirmed:
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
func (s *Store) UserRowByID(ctx context.Context, id int64) (*mailing.UserRow, error) {
	var rows []mailing.UserRow
	if err := s.userRowQuery().Where("u.id = ?", id).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, mailing.Errorf(mailing.ENOTFOUND, "user not found")
	}
	return &rows[0], nil
}

// BlockUser blocks or unblocks a user for the manager actorID and writes the audit row in
// the same transaction: an action is never without its record.
func (s *Store) BlockUser(ctx context.Context, actorID, userID int64, blocked bool, detail string) error {
	action := mailing.AuditUnblockUser
	if blocked {
		action = mailing.AuditBlockUser
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setBlocked(ctx, tx, userID, blocked); err != nil {
			return err
		}
		return s.audit(ctx, tx, actorID, action, mailing.AuditTargetUser, userID, detail)
	})
}

type identityRow struct {
	bun.BaseModel `bun:"table:identities"`
	ID            int64 `bun:",pk,autoincrement"`
	UserID        int64
	Provider      string
	Subject       string
	Email         string
	CreatedAt     time.Time
}

// UserByIdentity returns the account linked to (provider, subject); ENOTFOUND when none.
func (s *Store) UserByIdentity(ctx context.Context, provider, subject string) (*mailing.User, error) {
	u := new(mailing.User)
	err := s.DB.NewSelect().Model(u).
		Join("JOIN identities AS i ON i.user_id = ?TableAlias.id").
		Where("i.provider = ? AND i.subject = ?", provider, subject).Scan(ctx)
	return u, notFound(err, "identity")
}

// CreateUserWithIdentity creates a confirmed account for a provider's user in one transaction.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *mailing.User, provider, subject string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		u.CreatedAt, u.UpdatedAt, u.ConfirmedAt = now, now, &now
		if u.Role == "" {
			u.Role = mailing.RoleUser
		}
		if _, err := tx.NewInsert().Model(u).Returning("id").Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return mailing.Errorf(mailing.ECONFLICT, "email already registered")
			}
			return err
		}
		_, err := tx.NewInsert().Model(&identityRow{UserID: u.ID, Provider: provider, Subject: subject, Email: u.Email, CreatedAt: now}).Exec(ctx)
		return err
	})
}

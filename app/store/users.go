package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// notFound turns sql.ErrNoRows into the domain's not-found error.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return mailing.Errorf(mailing.ENOTFOUND, "%s not found", what)
	}
	return err
}

// isUniqueViolation reports a unique-constraint error on either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE=23505") ||
		strings.Contains(msg, "duplicate key value")
}

func (s *Store) now() time.Time { return s.Clock.Now().UTC() }

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

// SetPassword stores a new hash, and — because a changed password must end what the old one
// allowed — deletes the user's unused reset links and every session but keepSession
// ("" ends them all).
func (s *Store) SetPassword(ctx context.Context, id int64, hash, keepSession string) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bunTx) error {
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
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bunTx) error { return s.setBlocked(ctx, tx, id, blocked) })
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

func trimLower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SetProfile saves a user's language and time zone.
func (s *Store) SetProfile(ctx context.Context, id int64, lang, tz string) error {
	_, err := s.DB.NewUpdate().Model((*mailing.User)(nil)).
		Set("language = ?", lang).Set("timezone = ?", tz).Set("updated_at = ?", s.now()).Where("id = ?", id).Exec(ctx)
	return err
}

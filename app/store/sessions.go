package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

type sessionRow struct {
	bun.BaseModel `bun:"table:sessions"`
	ID            string `bun:",pk"`
	UserID        int64
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// CreateSession stores a session by the hash of its cookie value.
func (s *Store) CreateSession(ctx context.Context, id string, userID int64, ttl time.Duration) error {
	now := s.now()
	_, err := s.DB.NewInsert().Model(&sessionRow{ID: id, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}).Exec(ctx)
	return err
}

// SessionUser returns the user of a live session. A session of a blocked user is deleted
// and reported as not found, so blocking takes effect on the very next request.
func (s *Store) SessionUser(ctx context.Context, id string) (*mailing.User, error) {
	var users []mailing.User
	err := s.scanPrepared(ctx, &users, "SELECT u.id, u.email, u.password_hash, u.role, u.language, u.timezone, "+
		s.timeText("u.confirmed_at")+", "+s.timeText("u.blocked_at")+", "+s.timeText("u.created_at")+", "+s.timeText("u.updated_at")+
		" FROM users AS u JOIN sessions AS s ON s.user_id = u.id WHERE s.id = ? AND s.expires_at > ?", id, s.now())
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, mailing.Errorf(mailing.ENOTFOUND, "session not found")
	}
	u := &users[0]
	if u.Blocked() {
		s.DeleteSession(ctx, id)
		return nil, mailing.Errorf(mailing.ENOTFOUND, "session not found")
	}
	return u, nil
}

// DeleteSession ends one session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.DB.NewDelete().TableExpr("sessions").Where("id = ?", id).Exec(ctx)
	return err
}

// CountSessions counts a user's live sessions.
func (s *Store) CountSessions(ctx context.Context, userID int64) (int, error) {
	n, err := s.DB.NewSelect().TableExpr("sessions").Where("user_id = ? AND expires_at > ?", userID, s.now()).Count(ctx)
	return int(n), err
}

// DeleteExpiredSessions removes sessions past their expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.DB.NewDelete().TableExpr("sessions").Where("expires_at <= ?", s.now()).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

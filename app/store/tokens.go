package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

type tokenRow struct {
	bun.BaseModel `bun:"table:tokens"`
	ID            int64 `bun:",pk,autoincrement"`
	UserID        int64
	Kind          string
	Hash          string
	ExpiresAt     time.Time
	UsedAt        *time.Time
	CreatedAt     time.Time
}

// CreateToken stores the hash of an emailed link's token.
func (s *Store) CreateToken(ctx context.Context, userID int64, kind, hash string, ttl time.Duration) error {
	now := s.now()
	_, err := s.DB.NewInsert().Model(&tokenRow{UserID: userID, Kind: kind, Hash: hash, ExpiresAt: now.Add(ttl), CreatedAt: now}).Exec(ctx)
	return err
}

// UseToken spends a token: one conditional update, so two requests racing with the same
// link cannot both succeed. ENOTFOUND when it is unknown, used, expired or of another kind.
func (s *Store) UseToken(ctx context.Context, kind, hash string) (userID int64, err error) {
	now := s.now()
	err = s.DB.NewUpdate().TableExpr("tokens").
		Set("used_at = ?", now).
		Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, kind, now).
		Returning("user_id").
		Scan(ctx, &userID)
	return userID, notFound(err, "token")
}

// TokenValid reports whether a token could be used now, without spending it (the reset
// form checks its link before asking for a new password).
func (s *Store) TokenValid(ctx context.Context, kind, hash string) (bool, error) {
	return s.DB.NewSelect().TableExpr("tokens").
		Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, kind, s.now()).Exists(ctx)
}

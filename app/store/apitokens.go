package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

type apiTokenRow struct {
	bun.BaseModel `bun:"table:api_tokens"`
	mailing.APIToken
}

// CreateAPIToken stores a token of t.UserID by the hash of its value.
func (s *Store) CreateAPIToken(ctx context.Context, t *mailing.APIToken) error {
	t.CreatedAt = s.now()
	row := &apiTokenRow{APIToken: *t}
	if _, err := s.DB.NewInsert().Model(row).Returning("id").Exec(ctx); err != nil {
		return err
	}
	t.ID = row.ID
	return nil
}

// ListAPITokens returns a user's tokens, newest first, revoked ones included.
func (s *Store) ListAPITokens(ctx context.Context, userID int64) ([]mailing.APIToken, error) {
	var rows []apiTokenRow
	err := s.DB.NewSelect().Model(&rows).Where("user_id = ?", userID).OrderExpr("id DESC").Scan(ctx)
	out := make([]mailing.APIToken, len(rows))
	for i := range rows {
		out[i] = rows[i].APIToken
	}
	return out, err
}

// RevokeAPIToken revokes one of userID's tokens (userID 0: anyone's, for the operator).
// ENOTFOUND for an unknown token or another user's.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64) (*mailing.APIToken, error) {
	q := s.DB.NewUpdate().TableExpr("api_tokens").Set("revoked_at = COALESCE(revoked_at, ?)", s.now()).Where("id = ?", id)
	if userID != 0 {
		q = q.Where("user_id = ?", userID)
	}
	res, err := q.Exec(ctx)
	if err := affected(res, err, "token"); err != nil {
		return nil, err
	}
	row := new(apiTokenRow)
	return &row.APIToken, s.DB.NewSelect().Model(row).Where("id = ?", id).Scan(ctx)
}

// APITokenUser resolves a token's hash to its token and user. A revoked token, or one whose
// user is blocked, is ENOTFOUND on the very request after the change: nothing is cached.
// Last use is written at most once a minute per token, so reads do not all turn into writes.
func (s *Store) APITokenUser(ctx context.Context, hash string) (*mailing.APIToken, *mailing.User, error) {
	row := new(apiTokenRow)
	if err := s.DB.NewSelect().Model(row).Where("hash = ? AND revoked_at IS NULL", hash).Scan(ctx); err != nil {
		return nil, nil, notFound(err, "token")
	}
	u, err := s.UserByID(ctx, row.UserID)
	if err != nil {
		return nil, nil, notFound(err, "token")
	}
	if u.Blocked() || !u.Confirmed() {
		return nil, nil, mailing.Errorf(mailing.ENOTFOUND, "token not found")
	}
	now := s.now()
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		if _, err := s.DB.NewUpdate().TableExpr("api_tokens").Set("last_used_at = ?", now).
			Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", row.ID, now.Add(-time.Minute)).Exec(ctx); err != nil {
			return nil, nil, err
		}
		row.LastUsedAt = &now
	}
	return &row.APIToken, u, nil
}

package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"

	"mailer/app/mailing"
)

// ValidCursor reports whether s has the shape of a cursor a list made, so the API can
// refuse a forged or truncated one instead of quietly answering the first page.
func (s *Store) ValidCursor(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cur cursor
	if dec.Decode(&cur) != nil || dec.More() {
		return false
	}
	return cur.ID > 0 && len(cur.V) > 0
}

// ListRuns returns a mailing's runs, newest first, at most limit of them.
func (s *Store) ListRuns(ctx context.Context, mailingID int64, limit int) ([]mailing.Run, error) {
	var runs []mailing.Run
	err := s.DB.NewSelect().Model(&runs).Where("mailing_id = ?", mailingID).OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx)
	return runs, err
}

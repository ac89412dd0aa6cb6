package store

import (
	"context"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

var messageList = listSpec{
	sorts: map[string]sortColumn{
		"subject": {expr: "m.subject_lc", kind: "string"},
		"created": {expr: "m.created_at", kind: "time"},
	},
	def: "created", defDesc: true, idExpr: "m.id",
}

func messageSortValue(m *mailing.Message, sort string) (any, int64) {
	if sort == "subject" {
		return m.SubjectLC, m.ID
	}
	return m.CreatedAt, m.ID
}

func (s *Store) messageQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("messages AS m").ColumnExpr("m.*")
	if scope.All {
		return q.ColumnExpr("u.email AS owner_email").Join("JOIN users AS u ON u.id = m.owner_id")
	}
	return q.Where("m.owner_id = ?", scope.UserID)
}

// ListMessages returns a page of the messages in scope whose subject starts with p.Q.
func (s *Store) ListMessages(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Message], error) {
	q := s.messageQuery(scope)
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("m.subject_lc", term)
		q = q.Where(expr, args...)
	}
	return keyset(ctx, q, messageList, p, messageSortValue)
}

// MessageByID returns a message in scope; ENOTFOUND otherwise.
func (s *Store) MessageByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Message, error) {
	m := new(mailing.Message)
	err := s.messageQuery(scope).Where("m.id = ?", id).Scan(ctx, m)
	return m, notFound(err, "message")
}

// MessageChoices lists an owner's messages (id and subject) for the mailing form, newest first.
func (s *Store) MessageChoices(ctx context.Context, ownerID int64) ([]mailing.Message, error) {
	var ms []mailing.Message
	err := s.DB.NewSelect().Model(&ms).Column("id", "subject").
		Where("owner_id = ?", ownerID).OrderExpr("created_at DESC, id DESC").Limit(500).Scan(ctx)
	return ms, err
}

// CreateMessage stores a new message of m.OwnerID.
func (s *Store) CreateMessage(ctx context.Context, m *mailing.Message) error {
	if m.Format == "" {
		m.Format = mailing.FormatText
	}
	now := s.now()
	m.CreatedAt, m.UpdatedAt = now, now
	_, err := s.DB.NewInsert().Model(m).Returning("id").Exec(ctx)
	return err
}

// SaveMessage creates m (ID 0) or saves it over the one it updates, which must be
// m.OwnerID's, as must its layout: another owner's layout is reported on its field,
// exactly as one that does not exist.
func (s *Store) SaveMessage(ctx context.Context, m *mailing.Message) error {
	if m.LayoutID != nil {
		ok, err := s.DB.NewSelect().TableExpr("layouts").Where("id = ? AND owner_id = ?", *m.LayoutID, m.OwnerID).Exists(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form",
				Fields: map[string]string{"layout_id": "validation.not_yours"}}
		}
	}
	if m.ID == 0 {
		return s.CreateMessage(ctx, m)
	}
	return s.UpdateMessage(ctx, m.OwnerID, m)
}

// UpdateMessage saves m when it belongs to ownerID; ENOTFOUND otherwise.
func (s *Store) UpdateMessage(ctx context.Context, ownerID int64, m *mailing.Message) error {
	if m.Format == "" {
		m.Format = mailing.FormatText
	}
	m.UpdatedAt = s.now()
	res, err := s.DB.NewUpdate().Model(m).Column("subject", "subject_lc", "format", "body", "text_body", "layout_id", "updated_at").
		Where("id = ? AND owner_id = ?", m.ID, ownerID).Exec(ctx)
	return affected(res, err, "message")
}

// DeleteMessage removes one of ownerID's messages; ECONFLICT while a mailing uses it. Its
// transactional sends (a hidden mailing) go with it.
func (s *Store) DeleteMessage(ctx context.Context, ownerID, id int64) error {
	used, err := s.DB.NewSelect().TableExpr("mailings").Where("message_id = ? AND NOT transactional", id).Exists(ctx)
	if err != nil {
		return err
	}
	if used {
		return mailing.ErrMessageInUse
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().TableExpr("mailings").Where("message_id = ? AND owner_id = ? AND transactional", id, ownerID).Exec(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().TableExpr("messages").Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
		return affected(res, err, "message")
	})
}

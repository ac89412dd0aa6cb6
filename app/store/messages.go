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

// MessageSort reports the sort ListMessages uses for p.
func MessageSort(p mailing.ListParams) (string, bool) { return messageList.Sorts(p) }

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
	now := s.now()
	m.CreatedAt, m.UpdatedAt = now, now
	_, err := s.DB.NewInsert().Model(m).Returning("id").Exec(ctx)
	return err
}

// UpdateMessage saves m when it belongs to ownerID; ENOTFOUND otherwise.
func (s *Store) UpdateMessage(ctx context.Context, ownerID int64, m *mailing.Message) error {
	m.UpdatedAt = s.now()
	res, err := s.DB.NewUpdate().Model(m).Column("subject", "subject_lc", "body", "updated_at").
		Where("id = ? AND owner_id = ?", m.ID, ownerID).Exec(ctx)
	return affected(res, err, "message")
}

// ErrMessageInUse refuses to delete a message that mailings still send.
var ErrMessageInUse = &mailing.Error{Code: mailing.ECONFLICT, Message: "messages.in_use"}

// DeleteMessage removes one of ownerID's messages; ECONFLICT while a mailing uses it.
func (s *Store) DeleteMessage(ctx context.Context, ownerID, id int64) error {
	used, err := s.DB.NewSelect().TableExpr("mailings").Where("message_id = ?", id).Exists(ctx)
	if err != nil {
		return err
	}
	if used {
		return ErrMessageInUse
	}
	res, err := s.DB.NewDelete().TableExpr("messages").Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
	return affected(res, err, "message")
}

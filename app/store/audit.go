package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Audited actions and their target types.
const (
	AuditBlockUser      = "block_user"
	AuditUnblockUser    = "unblock_user"
	AuditDisableMailing = "disable_mailing"
	AuditEnableMailing  = "enable_mailing"

	AuditTargetUser    = "user"
	AuditTargetMailing = "mailing"
)

// AuditActions are the values of the audit log's action filter.
var AuditActions = []string{AuditBlockUser, AuditUnblockUser, AuditDisableMailing, AuditEnableMailing}

// AuditEntry is one line of the audit log: who did what to which target, and when.
type AuditEntry struct {
	bun.BaseModel `bun:"table:audit_log"`

	ID         int64 `bun:",pk,autoincrement"`
	ActorID    int64
	Action     string
	TargetType string
	TargetID   int64
	Detail     string
	CreatedAt  time.Time

	ActorEmail  string `bun:",scanonly"` // the manager who acted
	TargetEmail string `bun:",scanonly"` // for user targets: the user's email now
}

// Audit records that the manager actorID did action to a target.
func (s *Store) Audit(ctx context.Context, actorID int64, action, targetType string, targetID int64, detail string) error {
	return s.audit(ctx, s.DB, actorID, action, targetType, targetID, detail)
}

func (s *Store) audit(ctx context.Context, db bun.IDB, actorID int64, action, targetType string, targetID int64, detail string) error {
	e := &AuditEntry{ActorID: actorID, Action: action, TargetType: targetType, TargetID: targetID, Detail: detail, CreatedAt: s.now()}
	_, err := db.NewInsert().Model(e).
		Column("actor_id", "action", "target_type", "target_id", "detail", "created_at").
		Returning("id").Exec(ctx)
	return err
}

// BlockUser blocks or unblocks a user for the manager actorID and writes the audit row in
// the same transaction: an action is never without its record.
func (s *Store) BlockUser(ctx context.Context, actorID, userID int64, blocked bool, detail string) error {
	action := AuditUnblockUser
	if blocked {
		action = AuditBlockUser
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setBlocked(ctx, tx, userID, blocked); err != nil {
			return err
		}
		return s.audit(ctx, tx, actorID, action, AuditTargetUser, userID, detail)
	})
}

// DisableMailing disables or enables a mailing for the manager actorID, audited in the same
// transaction.
func (s *Store) DisableMailing(ctx context.Context, actorID, mailingID int64, disabled bool, detail string) error {
	action := AuditEnableMailing
	if disabled {
		action = AuditDisableMailing
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setMailingDisabled(ctx, tx, mailingID, disabled); err != nil {
			return err
		}
		return s.audit(ctx, tx, actorID, action, AuditTargetMailing, mailingID, detail)
	})
}

var auditList = listSpec{
	sorts: map[string]sortColumn{"created": {expr: "a.created_at", kind: "time"}},
	def:   "created", defDesc: true, idExpr: "a.id",
}

func auditSortValue(e *AuditEntry, _ string) (any, int64) { return e.CreatedAt, e.ID }

// ListAudit returns a page of the audit log, newest first, optionally of one action
// (p.Status), with the actor's email and, for user targets, the target's.
func (s *Store) ListAudit(ctx context.Context, p mailing.ListParams) (mailing.Page[AuditEntry], error) {
	p.Sort, p.Desc = "", false // one order: newest first
	q := s.DB.NewSelect().ModelTableExpr("audit_log AS a").
		ColumnExpr("a.id, a.actor_id, a.action, a.target_type, a.target_id, a.detail, a.created_at").
		ColumnExpr("act.email AS actor_email").
		ColumnExpr("COALESCE(tu.email, '') AS target_email").
		Join("JOIN users AS act ON act.id = a.actor_id").
		Join("LEFT JOIN users AS tu ON a.target_type = ? AND tu.id = a.target_id", AuditTargetUser)
	for _, a := range AuditActions {
		if p.Status == a {
			q = q.Where("a.action = ?", a)
		}
	}
	return keyset(ctx, q, auditList, p, auditSortValue)
}

package store

import (
	"context"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Audit records that the manager actorID did action to a target.
func (s *Store) Audit(ctx context.Context, actorID int64, action, targetType string, targetID int64, detail string) error {
	return s.audit(ctx, s.DB, actorID, action, targetType, targetID, detail)
}

func (s *Store) audit(ctx context.Context, db bun.IDB, actorID int64, action, targetType string, targetID int64, detail string) error {
	e := &mailing.AuditEntry{ActorID: actorID, Action: action, TargetType: targetType, TargetID: targetID, Detail: detail, CreatedAt: s.now()}
	_, err := db.NewInsert().Model(e).ModelTableExpr("audit_log").
		Column("actor_id", "action", "target_type", "target_id", "detail", "created_at").
		Returning("id").Exec(ctx)
	return err
}

var auditList = listSpec{
	sorts: map[string]sortColumn{"created": {expr: "a.created_at", kind: "time"}},
	def:   "created", defDesc: true, idExpr: "a.id",
}

func auditSortValue(e *mailing.AuditEntry, _ string) (any, int64) { return e.CreatedAt, e.ID }

// ListAudit returns a page of the audit log, newest first, optionally of one action
// (p.Status), with the actor's email and, for user targets, the target's.
func (s *Store) ListAudit(ctx context.Context, p mailing.ListParams) (mailing.Page[mailing.AuditEntry], error) {
	p.Sort, p.Desc = "", false // one order: newest first
	q := s.DB.NewSelect().ModelTableExpr("audit_log AS a").
		ColumnExpr("a.id, a.actor_id, a.action, a.target_type, a.target_id, a.detail, a.created_at").
		ColumnExpr("act.email AS actor_email").
		ColumnExpr("COALESCE(tu.email, '') AS target_email").
		Join("JOIN users AS act ON act.id = a.actor_id").
		Join("LEFT JOIN users AS tu ON a.target_type = ? AND tu.id = a.target_id", mailing.AuditTargetUser)
	for _, a := range mailing.AuditActions {
		if p.Status == a {
			q = q.Where("a.action = ?", a)
		}
	}
	return keyset(ctx, q, auditList, p, auditSortValue)
}

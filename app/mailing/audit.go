package mailing

import "time"

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

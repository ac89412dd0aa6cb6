package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// StatusSQL is mailing.Status in SQL, for filters and counts: the same rule, the same edges
// (a test compares the two at the clock's edges). alias names the mailings table; the
// expression takes "now" as its one argument.
func StatusSQL(alias string) string {
	return "(CASE WHEN " + alias + ".end_at <= ? THEN 'finished' WHEN " + alias +
		".first_attempt_at IS NOT NULL THEN 'running' ELSE 'created' END)"
}

// audience is the condition on clients AS c (of the owner of mailings AS ml) that ml's
// audience takes when a run starts: all the owner's clients, or those picked by hand and
// those carrying any of its tags.
const audience = `(ml.all_clients
	OR EXISTS (SELECT 1 FROM mailing_clients AS mc WHERE mc.mailing_id = ml.id AND mc.client_id = c.id)
	OR EXISTS (SELECT 1 FROM mailing_tags AS mt JOIN client_tags AS ct ON ct.tag_id = mt.tag_id
		WHERE mt.mailing_id = ml.id AND ct.client_id = c.id))`

// audienceCount counts ml's audience as it is now, from the indexes of each part: the
// hand-picked, and the tagged who are not hand-picked.
const audienceCount = `(CASE WHEN ml.all_clients THEN (SELECT COUNT(*) FROM clients AS c WHERE c.owner_id = ml.owner_id)
	ELSE (SELECT COUNT(*) FROM mailing_clients AS mc WHERE mc.mailing_id = ml.id) +
		(SELECT COUNT(DISTINCT ct.client_id) FROM mailing_tags AS mt JOIN client_tags AS ct ON ct.tag_id = mt.tag_id
			WHERE mt.mailing_id = ml.id AND NOT EXISTS (SELECT 1 FROM mailing_clients AS mc2
				WHERE mc2.mailing_id = ml.id AND mc2.client_id = ct.client_id)) END)`

var mailingList = listSpec{
	sorts: map[string]sortColumn{
		"created": {expr: "ml.created_at", kind: "time"},
		"start":   {expr: "ml.start_at", kind: "time"},
	},
	def: "created", defDesc: true, idExpr: "ml.id",
}

func mailingSortValue(m *mailing.Mailing, sort string) (any, int64) {
	if sort == "start" {
		return m.StartAt, m.ID
	}
	return m.CreatedAt, m.ID
}

func (s *Store) mailingQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("mailings AS ml").ColumnExpr("ml.*").
		ColumnExpr("msg.subject AS message_subject").
		ColumnExpr("u.email AS owner_email").
		ColumnExpr("(u.blocked_at IS NOT NULL) AS owner_blocked").
		ColumnExpr(audienceCount + " AS recipients").
		Join("JOIN messages AS msg ON msg.id = ml.message_id").
		Join("JOIN users AS u ON u.id = ml.owner_id")
	if !scope.All {
		q = q.Where("ml.owner_id = ?", scope.UserID)
	}
	return q
}

// ListMailings returns a page of the mailings in scope, optionally of one derived status,
// or whose message subject starts with p.Q.
func (s *Store) ListMailings(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Mailing], error) {
	q := s.mailingQuery(scope).Where("NOT ml.transactional")
	switch p.Status {
	case mailing.StatusCreated, mailing.StatusRunning, mailing.StatusFinished:
		q = q.Where(StatusSQL("ml")+" = ?", s.now(), p.Status)
	case mailing.FilterDisabled:
		q = q.Where("ml.disabled")
	}
	if term := normalizeSearch(p.Q); term != "" {
		expr, args := s.prefix("msg.subject_lc", term)
		q = q.Where(expr, args...)
	}
	return keyset(ctx, q, mailingList, p, mailingSortValue)
}

// MailingByID returns a mailing in scope; ENOTFOUND otherwise.
func (s *Store) MailingByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Mailing, error) {
	m := new(mailing.Mailing)
	err := s.mailingQuery(scope).Where("ml.id = ?", id).Scan(ctx, m)
	return m, notFound(err, "mailing")
}

// MailingStatus reads a mailing's status through StatusSQL (the rule as lists apply it).
func (s *Store) MailingStatus(ctx context.Context, id int64) (string, error) {
	var st string
	err := s.DB.NewSelect().TableExpr("mailings AS ml").ColumnExpr(StatusSQL("ml"), s.now()).
		Where("ml.id = ?", id).Scan(ctx, &st)
	return st, notFound(err, "mailing")
}

// MailingRecipientIDs lists the client ids a mailing sends to.
func (s *Store) MailingRecipientIDs(ctx context.Context, mailingID int64) ([]int64, error) {
	var ids []int64
	err := s.DB.NewSelect().TableExpr("mailing_clients").Column("client_id").
		Where("mailing_id = ?", mailingID).OrderExpr("client_id").Scan(ctx, &ids)
	return ids, err
}

// MailingRecipients returns a page of a mailing's audience as it is now.
func (s *Store) MailingRecipients(ctx context.Context, mailingID int64, p mailing.ListParams) (mailing.Page[mailing.Client], error) {
	q := s.DB.NewSelect().ModelTableExpr("clients AS c").ColumnExpr("c.*").
		Join("JOIN mailings AS ml ON ml.id = ? AND ml.owner_id = c.owner_id", mailingID).Where(audience)
	return keyset(ctx, q, clientList, p, clientSortValue)
}

// MailingPicked counts the clients picked by hand for a mailing.
func (s *Store) MailingPicked(ctx context.Context, mailingID int64) (int, error) {
	n, err := s.DB.NewSelect().TableExpr("mailing_clients").Where("mailing_id = ?", mailingID).Count(ctx)
	return int(n), err
}

// MailingTags lists the names of the tags a mailing's audience takes.
func (s *Store) MailingTags(ctx context.Context, mailingID int64) ([]string, error) {
	var names []string
	err := s.DB.NewSelect().TableExpr("mailing_tags AS mt").ColumnExpr("t.name").
		Join("JOIN tags AS t ON t.id = mt.tag_id").Where("mt.mailing_id = ?", mailingID).
		OrderExpr("t.name_lc").Scan(ctx, &names)
	return names, err
}

// ClientsByIDs returns those of ids that belong to ownerID, for redisplaying a form.
func (s *Store) ClientsByIDs(ctx context.Context, ownerID int64, ids []int64) ([]mailing.Client, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var cs []mailing.Client
	err := s.DB.NewSelect().Model(&cs).Where("owner_id = ? AND id IN (?)", ownerID, bun.In(ids)).
		OrderExpr("email").Limit(1000).Scan(ctx)
	return cs, err
}

// SaveMailing creates (m.ID == 0) or updates one of m.OwnerID's mailings with its recipients
// in one transaction. The message and every recipient must be the owner's own: an id of
// someone else's is reported on its field, exactly as an id that does not exist.
func (s *Store) SaveMailing(ctx context.Context, m *mailing.Mailing, r mailing.Recipients) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		fields := map[string]string{}
		ok, err := tx.NewSelect().TableExpr("messages").Where("id = ? AND owner_id = ?", m.MessageID, m.OwnerID).Exists(ctx)
		if err != nil {
			return err
		}
		if !ok {
			fields["message_id"] = "validation.not_yours"
		}
		ids := uniqueIDs(r.ClientIDs)
		if !r.All {
			if len(ids) == 0 && len(r.Tags) == 0 {
				fields["client_ids"] = "validation.recipients"
			} else if n, err := countOwned(ctx, tx, m.OwnerID, ids); err != nil {
				return err
			} else if n != len(ids) {
				fields["client_ids"] = "validation.not_yours"
			}
		} else if n, err := tx.NewSelect().TableExpr("clients").Where("owner_id = ?", m.OwnerID).Count(ctx); err != nil {
			return err
		} else if n == 0 {
			fields["client_ids"] = "validation.recipients"
		}
		if len(fields) > 0 {
			return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form", Fields: fields}
		}

		now := s.now()
		m.UpdatedAt, m.AllClients = now, r.All
		if m.ID == 0 {
			m.CreatedAt = now
			if _, err := tx.NewInsert().Model(m).Returning("id").Exec(ctx); err != nil {
				return err
			}
		} else {
			res, err := tx.NewUpdate().Model(m).Column("message_id", "start_at", "end_at", "period", "all_clients", "updated_at").
				Where("id = ? AND owner_id = ?", m.ID, m.OwnerID).Exec(ctx)
			if err := affected(res, err, "mailing"); err != nil {
				return err
			}
			for _, t := range []string{"mailing_clients", "mailing_tags"} {
				if _, err := tx.NewDelete().TableExpr(t).Where("mailing_id = ?", m.ID).Exec(ctx); err != nil {
					return err
				}
			}
		}
		if r.All {
			return nil
		}
		if len(r.Tags) > 0 {
			tagIDs, err := s.ensureTags(ctx, tx, m.OwnerID, r.Tags)
			if err != nil {
				return err
			}
			for _, id := range tagIDs {
				if _, err := tx.NewRaw("INSERT INTO mailing_tags (mailing_id, tag_id) VALUES (?, ?)", m.ID, id).Exec(ctx); err != nil {
					return err
				}
			}
		}
		type row struct {
			bun.BaseModel `bun:"table:mailing_clients"`
			MailingID     int64
			ClientID      int64
		}
		for start := 0; start < len(ids); start += 1000 {
			chunk := ids[start:min(start+1000, len(ids))]
			rows := make([]row, len(chunk))
			for i, id := range chunk {
				rows[i] = row{MailingID: m.ID, ClientID: id}
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

func countOwned(ctx context.Context, tx bun.Tx, ownerID int64, ids []int64) (int, error) {
	total := 0
	for start := 0; start < len(ids); start += 500 {
		n, err := tx.NewSelect().TableExpr("clients").
			Where("owner_id = ? AND id IN (?)", ownerID, bun.In(ids[start:min(start+500, len(ids))])).Count(ctx)
		if err != nil {
			return 0, err
		}
		total += int(n)
	}
	return total, nil
}

func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id > 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// DeleteMailing removes one of ownerID's mailings; ENOTFOUND otherwise.
func (s *Store) DeleteMailing(ctx context.Context, ownerID, id int64) error {
	res, err := s.DB.NewDelete().TableExpr("mailings").Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
	return affected(res, err, "mailing")
}

// SetMailingDisabled sets a mailing's disabled flag (a manager's power).
func (s *Store) SetMailingDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.setMailingDisabled(ctx, s.DB, id, disabled)
}

func (s *Store) setMailingDisabled(ctx context.Context, db bun.IDB, id int64, disabled bool) error {
	res, err := db.NewUpdate().TableExpr("mailings").Set("disabled = ?", disabled).Set("updated_at = ?", s.now()).
		Where("id = ?", id).Exec(ctx)
	return affected(res, err, "mailing")
}

// DisableMailing disables or enables a mailing for the manager actorID, audited in the same
// transaction.
func (s *Store) DisableMailing(ctx context.Context, actorID, mailingID int64, disabled bool, detail string) error {
	action := mailing.AuditEnableMailing
	if disabled {
		action = mailing.AuditDisableMailing
	}
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setMailingDisabled(ctx, tx, mailingID, disabled); err != nil {
			return err
		}
		return s.audit(ctx, tx, actorID, action, mailing.AuditTargetMailing, mailingID, detail)
	})
}

// MarkAttempted records that a mailing has had its first send attempt (the Running status
// derives from it); later calls change nothing.
func (s *Store) MarkAttempted(ctx context.Context, id int64, at time.Time) error {
	_, err := s.DB.NewUpdate().TableExpr("mailings").Set("first_attempt_at = ?", at.UTC()).
		Where("id = ? AND first_attempt_at IS NULL", id).Exec(ctx)
	return err
}

// mailing.HomeCounts counts, in scope: all mailings; running mailings that are not disabled and
// whose owner is not blocked; distinct recipient emails across the mailings.
func (s *Store) HomeCounts(ctx context.Context, scope mailing.Scope) (mailing.HomeCounts, error) {
	var hc mailing.HomeCounts
	owner := func(q *bun.SelectQuery, col string) *bun.SelectQuery {
		if scope.All {
			return q
		}
		return q.Where(col+" = ?", scope.UserID)
	}
	n, err := owner(s.DB.NewSelect().TableExpr("mailings AS ml").Where("NOT ml.transactional"), "ml.owner_id").Count(ctx)
	if err != nil {
		return hc, err
	}
	hc.Mailings = int(n)
	n, err = owner(s.DB.NewSelect().TableExpr("mailings AS ml").
		Join("JOIN users AS u ON u.id = ml.owner_id").
		Where(StatusSQL("ml")+" = 'running'", s.now()).
		Where("NOT ml.disabled AND NOT ml.transactional AND u.blocked_at IS NULL"), "ml.owner_id").Count(ctx)
	if err != nil {
		return hc, err
	}
	hc.Running = int(n)
	// The clients some mailing's audience takes as it is now. An owner's emails are unique,
	// so for one owner distinct clients are distinct emails.
	inAudience := "EXISTS (SELECT 1 FROM mailings AS ml WHERE ml.owner_id = c.owner_id AND " + audience + ")"
	if !scope.All {
		err = s.DB.NewSelect().TableExpr("clients AS c").ColumnExpr("COUNT(*)").
			Where("c.owner_id = ?", scope.UserID).Where(inAudience).Scan(ctx, &hc.Recipients)
	} else {
		err = s.DB.NewSelect().TableExpr("clients AS c").ColumnExpr("COUNT(DISTINCT c.email)").
			Where(inAudience).Scan(ctx, &hc.Recipients)
	}
	if err != nil {
		return hc, err
	}
	return hc, s.homeExtras(ctx, scope, &hc)
}

package store

import (
	"context"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

var clientList = listSpec{
	sorts: map[string]sortColumn{
		"email":   {expr: "c.email", kind: "string"},
		"name":    {expr: "c.name_lc", kind: "string"},
		"created": {expr: "c.created_at", kind: "time"},
	},
	def: "email", idExpr: "c.id",
}

func clientSortValue(c *mailing.Client, sort string) (any, int64) {
	switch sort {
	case "name":
		return c.NameLC, c.ID
	case "created":
		return c.CreatedAt, c.ID
	}
	return c.Email, c.ID
}

// ClientSort reports the sort ListClients uses for p.
func ClientSort(p mailing.ListParams) (string, bool) { return clientList.Sorts(p) }

func (s *Store) clientQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("clients AS c").ColumnExpr("c.*")
	if scope.All {
		return q.ColumnExpr("u.email AS owner_email").Join("JOIN users AS u ON u.id = c.owner_id")
	}
	return q.Where("c.owner_id = ?", scope.UserID)
}

// ListClients returns a page of the clients in scope whose email or name starts with p.Q.
func (s *Store) ListClients(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Client], error) {
	q := s.clientQuery(scope)
	if term := normalizeSearch(p.Q); term != "" {
		// Two index range scans joined by UNION: with OR the planner walks every client of
		// the owner in list order and filters.
		e1, a1 := s.prefix("email", term)
		e2, a2 := s.prefix("name_lc", term)
		owner, oargs := "", []any{}
		if !scope.All {
			owner, oargs = "owner_id = ? AND ", []any{scope.UserID}
		}
		args := append(append(append(append([]any{}, oargs...), a1...), oargs...), a2...)
		q = q.Where("c.id IN (SELECT id FROM clients WHERE "+owner+e1+" UNION SELECT id FROM clients WHERE "+owner+e2+")", args...)
	}
	return keyset(ctx, q, clientList, p, clientSortValue)
}

// ClientByID returns a client in scope; ENOTFOUND for another owner's, so ids reveal nothing.
func (s *Store) ClientByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Client, error) {
	c := new(mailing.Client)
	err := s.clientQuery(scope).Where("c.id = ?", id).Scan(ctx, c)
	return c, notFound(err, "client")
}

func duplicateEmail() error {
	return &mailing.Error{Code: mailing.ECONFLICT, Message: "validation.form",
		Fields: map[string]string{"email": "validation.email_taken"}}
}

// CreateClient stores a new client of c.OwnerID; ECONFLICT when the owner has the email already.
func (s *Store) CreateClient(ctx context.Context, c *mailing.Client) error {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.DB.NewInsert().Model(c).Returning("id").Exec(ctx)
	if isUniqueViolation(err) {
		return duplicateEmail()
	}
	return err
}

// UpdateClient saves c's fields when it belongs to ownerID; ENOTFOUND otherwise.
func (s *Store) UpdateClient(ctx context.Context, ownerID int64, c *mailing.Client) error {
	c.UpdatedAt = s.now()
	res, err := s.DB.NewUpdate().Model(c).Column("email", "full_name", "name_lc", "comment", "updated_at").
		Where("id = ? AND owner_id = ?", c.ID, ownerID).Exec(ctx)
	if isUniqueViolation(err) {
		return duplicateEmail()
	}
	return affected(res, err, "client")
}

// DeleteClient removes one of ownerID's clients; ENOTFOUND otherwise.
func (s *Store) DeleteClient(ctx context.Context, ownerID, id int64) error {
	res, err := s.DB.NewDelete().TableExpr("clients").Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
	return affected(res, err, "client")
}

// UpsertClients inserts or updates ownerID's clients by email, in one transaction; an
// existing email keeps its id (and its place in mailings) and takes the new name and comment.
func (s *Store) UpsertClients(ctx context.Context, ownerID int64, clients []mailing.Client) (created, updated int, err error) {
	if len(clients) == 0 {
		return 0, 0, nil
	}
	err = s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		emails := make([]string, len(clients))
		for i := range clients {
			emails[i] = clients[i].Email
		}
		var existing int
		for start := 0; start < len(emails); start += 500 {
			end := min(start+500, len(emails))
			n, err := tx.NewSelect().TableExpr("clients").
				Where("owner_id = ? AND email IN (?)", ownerID, bun.In(emails[start:end])).Count(ctx)
			if err != nil {
				return err
			}
			existing += int(n)
		}
		now := s.now()
		for start := 0; start < len(clients); start += 500 {
			batch := clients[start:min(start+500, len(clients))]
			for i := range batch {
				batch[i].OwnerID, batch[i].CreatedAt, batch[i].UpdatedAt = ownerID, now, now
			}
			if _, err := tx.NewInsert().Model(&batch).ExcludeColumn("id").
				On("CONFLICT (owner_id, email) DO UPDATE").
				Set("full_name = EXCLUDED.full_name, name_lc = EXCLUDED.name_lc, comment = EXCLUDED.comment, updated_at = EXCLUDED.updated_at").
				Exec(ctx); err != nil {
				return err
			}
		}
		created, updated = len(clients)-existing, existing
		return nil
	})
	return created, updated, err
}

// EachClient calls fn for every client of ownerID in email order, reading in batches so an
// export of any size holds one batch in memory.
func (s *Store) EachClient(ctx context.Context, ownerID int64, fn func(*mailing.Client) error) error {
	after := ""
	for {
		var batch []mailing.Client
		if err := s.DB.NewSelect().Model(&batch).
			Where("owner_id = ? AND email > ?", ownerID, after).
			OrderExpr("email ASC").Limit(1000).Scan(ctx); err != nil {
			return err
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if len(batch) < 1000 {
			return nil
		}
		after = batch[len(batch)-1].Email
	}
}

// CountClients counts ownerID's clients.
func (s *Store) CountClients(ctx context.Context, ownerID int64) (int, error) {
	n, err := s.DB.NewSelect().TableExpr("clients").Where("owner_id = ?", ownerID).Count(ctx)
	return int(n), err
}

func affected(res interface{ RowsAffected() (int64, error) }, err error, what string) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mailing.Errorf(mailing.ENOTFOUND, "%s not found", what)
	}
	return nil
}

func normalizeSearch(q string) string {
	q = trimLower(q)
	if len(q) > 200 {
		q = q[:200]
	}
	return q
}

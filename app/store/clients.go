package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

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
	from, conds, args := "clients AS c", []string(nil), []any(nil)
	if term := normalizeSearch(p.Q); term != "" {
		// A search is the union of two pages: the page of email matches and the page of
		// name matches, each already cut to the window, so at most two pages are sorted.
		w := clientList.window(p)
		cols := []string{"c.email", "c.name_lc"}
		plans, err := s.clientSearchPlans(ctx, scope, w, cols, term)
		if err != nil {
			return mailing.Page[mailing.Client]{}, err
		}
		var parts []string
		for i, col := range cols {
			q, a := s.clientSearchPage(scope, w, col, term, plans[i])
			parts = append(parts, "SELECT id FROM ("+q+") AS b"+strconv.Itoa(i))
			args = append(args, a...)
		}
		// The union carries ids only; the page's rows are read once, for its ≤ 2 pages.
		from = "(" + strings.Join(parts, " UNION ") + ") AS m " + s.outerJoin() + " clients AS c ON c.id = m.id"
	} else if !scope.All {
		conds, args = []string{"c.owner_id = ?"}, []any{scope.UserID}
	}
	// What a list shows and pages by; updated_at is left out (SQLite's driver parses every
	// time it reads, and a list page reads many).
	cols := clientListColumns + ", " + s.timeText("c.unsubscribed_at") + ", " + s.timeText("c.created_at")
	sel := "SELECT " + cols + " FROM " + from
	if scope.All {
		sel = "SELECT " + cols + ", u.email AS owner_email FROM " + from + " JOIN users AS u ON u.id = c.owner_id"
	}
	return keysetSQL(ctx, s, sel, conds, args, clientList, p, clientSortValue)
}

const clientListColumns = "c.id, c.owner_id, c.email, c.full_name, c.name_lc, c.comment"

// searchFew is how many matches of one prefix are fetched and sorted; beyond it, walking
// the list's own index and skipping non-matches finds a page sooner (with more than
// searchFew matches spread over the list, a match is met every few rows).
var searchFew = 1000

// searchPlan is how one column's matches of a client search are paged.
type searchPlan int

const (
	planRange searchPlan = iota // walk the prefix's range of an index already in the list's order
	planFew                     // fetch every match and sort them
	planWalk                    // walk the sort's index, skipping non-matches
)

// clientSearchPlans chooses, for each of cols, how its matches of term are paged. The plan
// is chosen in Go: SQLite keeps no statistics to choose by, and PostgreSQL's statistics
// mislead it (it takes a prefix's matches as spread evenly over the sort's index, and walks
// that index past every non-match when they are bunched). Few matches are fetched and sorted; on
// SQLite, a list sorted by the column itself walks the prefix's range, already in order;
// otherwise the sort's index is walked. One statement counts the matches of every column
// that needs it.
func (s *Store) clientSearchPlans(ctx context.Context, scope mailing.Scope, w window, cols []string, term string) ([]searchPlan, error) {
	plans := make([]searchPlan, len(cols))
	var counted []int // indexes of cols whose matches are counted
	var counts []string
	var args []any
	for i, col := range cols {
		if col == w.col.expr && s.Dialect != "postgres" {
			plans[i] = planRange
			continue
		}
		counted = append(counted, i)
		owner, oargs := s.ownerCond(scope)
		match, margs := s.prefix(col, term)
		counts = append(counts, "(SELECT count(*) FROM (SELECT 1 FROM clients AS c WHERE "+owner+match+" LIMIT ?) AS x"+strconv.Itoa(i)+")")
		args = append(slices.Concat(args, oargs, margs), searchFew+1)
	}
	if len(counts) == 0 {
		return plans, nil
	}
	rows, err := s.queryPrepared(ctx, "SELECT "+strings.Join(counts, ", "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := make([]int, len(counts))
	dest := make([]any, len(counts))
	for i := range n {
		dest[i] = &n[i]
	}
	if !rows.Next() {
		return nil, cmp.Or(rows.Err(), sql.ErrNoRows)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	for j, i := range counted {
		plans[i] = planWalk
		if n[j] <= searchFew {
			plans[i] = planFew
		}
	}
	return plans, rows.Close()
}

// ownerCond limits a query on clients AS c to scope, as a condition followed by AND.
func (s *Store) ownerCond(scope mailing.Scope) (string, []any) {
	if scope.All {
		return "", nil
	}
	return "c.owner_id = ? AND ", []any{scope.UserID}
}

// clientSearchPage returns the SQL of the window's page of clients in scope whose col
// starts with term, paged by plan.
func (s *Store) clientSearchPage(scope mailing.Scope, w window, col, term string, plan searchPlan) (string, []any) {
	owner, args := s.ownerCond(scope)
	tail := " ORDER BY " + w.order + " LIMIT " + strconv.Itoa(w.limit+1)
	match, margs := s.prefix(col, term)
	switch {
	case plan == planFew && s.Dialect == "postgres":
		// OFFSET 0 keeps PostgreSQL from merging the subquery into the outer one, which
		// would let it choose the walk again.
		return "SELECT c.id FROM (SELECT c.* FROM clients AS c WHERE " + owner + match + " OFFSET 0) AS c" + where(w.cond) + tail,
			slices.Concat(args, margs, w.args)
	case plan == planFew:
		return "SELECT c.id FROM (SELECT c.id FROM clients AS c WHERE " + owner + match + ") AS m CROSS JOIN" +
			" clients AS c ON c.id = m.id" + where(w.cond) + tail, slices.Concat(args, margs, w.args)
	case plan == planWalk && s.Dialect != "postgres":
		// Unary + keeps SQLite from answering the prefix from its index, so it walks the
		// sort's index instead and stops at the page's end.
		match, margs = s.prefix("+"+col, term)
	}
	cursor := ""
	if w.cond != "" {
		cursor = " AND " + w.cond
	}
	return "SELECT c.id FROM clients AS c WHERE " + owner + match + cursor + tail, slices.Concat(args, margs, w.args)
}

func where(cond string) string {
	if cond == "" {
		return ""
	}
	return " WHERE " + cond
}

// outerJoin joins so that the table on its left stays the outer loop: SQLite's CROSS JOIN
// promises that; PostgreSQL plans joins by its statistics and has no such spelling.
func (s *Store) outerJoin() string {
	if s.Dialect == "postgres" {
		return "JOIN"
	}
	return "CROSS JOIN"
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

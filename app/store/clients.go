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

func (s *Store) clientQuery(scope mailing.Scope) *bun.SelectQuery {
	q := s.DB.NewSelect().ModelTableExpr("clients AS c").ColumnExpr("c.*")
	if scope.All {
		return q.ColumnExpr("u.email AS owner_email").Join("JOIN users AS u ON u.id = c.owner_id")
	}
	return q.Where("c.owner_id = ?", scope.UserID)
}

// ListClients returns a page of the clients in scope whose email or name starts with p.Q.
func (s *Store) ListClients(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Client], error) {
	page, err := s.listClients(ctx, scope, p)
	if err == nil {
		err = s.withTags(ctx, page.Items)
	}
	return page, err
}

func (s *Store) listClients(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Client], error) {
	from, conds, args := "clients AS c", []string(nil), []any(nil)
	owned := func() {
		if !scope.All {
			conds, args = append(conds, "c.owner_id = ?"), append(args, scope.UserID)
		}
	}
	w := clientList.window(p)
	term := normalizeSearch(p.Q)
	var cols []string // the columns a search matches
	if term != "" {
		cols = []string{"c.email", "c.name_lc"}
	}
	var tagCond string // the tag's condition, after AND, on a client the query reads
	var tagArgs []any
	plans, tagFew := []searchPlan(nil), false
	if term != "" || p.Tag != "" {
		var err error
		if plans, tagFew, err = s.clientListPlans(ctx, scope, w, cols, term, p.Tag); err != nil {
			return mailing.Page[mailing.Client]{}, err
		}
		if p.Tag != "" {
			tagCond, tagArgs = tagged(scope, tagName(p.Tag))
		}
	}
	switch {
	case p.Tag != "" && tagFew:
		// A tag of few clients: the tag's index gives them all, a search filters them, and
		// they are sorted.
		ids, a := tagIDs(scope, tagName(p.Tag))
		links := "SELECT ct.client_id AS id FROM client_tags AS ct WHERE ct.tag_id IN (" + ids + ")"
		if s.Dialect == "postgres" {
			// Planned once for every tag, PostgreSQL takes a tag for as large as the average
			// and would hash the whole list against it; LATERAL keeps it looking each up.
			from = "(" + links + " OFFSET 0) AS m CROSS JOIN LATERAL (SELECT c.* FROM clients AS c WHERE c.id = m.id OFFSET 0) AS c"
		} else {
			from = "(" + links + ") AS m CROSS JOIN clients AS c ON c.id = m.id"
		}
		args = a
		owned()
		if cond, a := s.clientFilter(scope, p.Q, ""); cond != "" {
			conds, args = append(conds, strings.TrimPrefix(cond, " AND ")), append(args, a...)
		}
	case term != "":
		// A search is the union of two pages: the page of email matches and the page of
		// name matches, each already cut to the window, so at most two pages are sorted.
		// A tag of many clients is looked up for each match.
		var parts []string
		for i, col := range cols {
			q, a := s.clientSearchPage(scope, w, col, term, plans[i], tagCond, tagArgs)
			parts = append(parts, "SELECT id FROM ("+q+") AS b"+strconv.Itoa(i))
			args = append(args, a...)
		}
		// The union carries ids only; the page's rows are read once, for its ≤ 2 pages.
		from = "(" + strings.Join(parts, " UNION ") + ") AS m " + s.outerJoin() + " clients AS c ON c.id = m.id"
	default:
		// The list, or a tag of many clients: the sort's index is walked, and with a tag
		// each client's links are looked up until the page is full.
		owned()
		if tagCond != "" {
			conds, args = append(conds, strings.TrimPrefix(tagCond, " AND ")), append(args, tagArgs...)
		}
	}
	// What a list shows and pages by; updated_at is left out (SQLite's driver parses every
	// time it reads, and a list page reads many).
	cols = []string{clientListColumns, s.timeText("c.unsubscribed_at"), s.timeText("c.created_at")}
	sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + from
	if scope.All {
		sel = "SELECT " + strings.Join(cols, ", ") + ", u.email AS owner_email FROM " + from + " JOIN users AS u ON u.id = c.owner_id"
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

// clientListPlans chooses, for each of cols, how its matches of term are paged, and
// whether the tag named tag (if any) has few enough clients to fetch them all. The plan
// is chosen in Go: SQLite keeps no statistics to choose by, and PostgreSQL's statistics
// mislead it (it takes a prefix's matches as spread evenly over the sort's index, and walks
// that index past every non-match when they are bunched). Few matches are fetched and sorted; on
// SQLite, a list sorted by the column itself walks the prefix's range, already in order;
// otherwise the sort's index is walked. One statement counts the matches of every column
// that needs it, and the tag's clients.
func (s *Store) clientListPlans(ctx context.Context, scope mailing.Scope, w window, cols []string, term, tag string) ([]searchPlan, bool, error) {
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
	if tag != "" {
		ids, targs := tagIDs(scope, tagName(tag))
		counts = append(counts, "(SELECT count(*) FROM (SELECT 1 FROM client_tags AS ct WHERE ct.tag_id IN ("+ids+") LIMIT ?) AS xt)")
		args = append(slices.Concat(args, targs), searchFew+1)
	}
	if len(counts) == 0 {
		return plans, false, nil
	}
	rows, err := s.queryPrepared(ctx, "SELECT "+strings.Join(counts, ", "), args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	n := make([]int, len(counts))
	dest := make([]any, len(counts))
	for i := range n {
		dest[i] = &n[i]
	}
	if !rows.Next() {
		return nil, false, cmp.Or(rows.Err(), sql.ErrNoRows)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, false, err
	}
	for j, i := range counted {
		plans[i] = planWalk
		if n[j] <= searchFew {
			plans[i] = planFew
		}
	}
	return plans, tag != "" && n[len(n)-1] <= searchFew, rows.Close()
}

// ownerCond limits a query on clients AS c to scope, as a condition followed by AND.
func (s *Store) ownerCond(scope mailing.Scope) (string, []any) {
	if scope.All {
		return "", nil
	}
	return "c.owner_id = ? AND ", []any{scope.UserID}
}

// clientSearchPage returns the SQL of the window's page of clients in scope whose col
// starts with term and that meet also (a condition after AND, or ""), paged by plan.
func (s *Store) clientSearchPage(scope mailing.Scope, w window, col, term string, plan searchPlan, also string, alsoArgs []any) (string, []any) {
	owner, args := s.ownerCond(scope)
	tail := " ORDER BY " + w.order + " LIMIT " + strconv.Itoa(w.limit+1)
	prefix := func(expr string) (string, []any) {
		match, margs := s.prefix(expr, term)
		return match + also, append(margs, alsoArgs...)
	}
	match, margs := prefix(col)
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
		match, margs = prefix("+" + col)
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

// ClientByID returns a client in scope with its tags; ENOTFOUND for another owner's, so
// ids reveal nothing.
func (s *Store) ClientByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Client, error) {
	c := new(mailing.Client)
	if err := s.clientQuery(scope).Where("c.id = ?", id).Scan(ctx, c); err != nil {
		return c, notFound(err, "client")
	}
	tags, err := s.ClientTags(ctx, []int64{id})
	c.Tags = tags[id]
	return c, err
}

func duplicateEmail() error {
	return &mailing.Error{Code: mailing.ECONFLICT, Message: "validation.form",
		Fields: map[string]string{"email": "validation.email_taken"}}
}

// CreateClient stores a new client of c.OwnerID; ECONFLICT when the owner has the email already.
func (s *Store) CreateClient(ctx context.Context, c *mailing.Client) error {
	return s.createClient(ctx, s.DB, c)
}

func (s *Store) createClient(ctx context.Context, db bun.IDB, c *mailing.Client) error {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := db.NewInsert().Model(c).Returning("id").Exec(ctx)
	if isUniqueViolation(err) {
		return duplicateEmail()
	}
	return err
}

// SaveClient creates c (ID 0) or saves it over the one it updates, which must be
// c.OwnerID's: the forms' single path.
func (s *Store) SaveClient(ctx context.Context, c *mailing.Client) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if c.ID == 0 {
			err = s.createClient(ctx, tx, c)
		} else {
			err = s.updateClient(ctx, tx, c.OwnerID, c)
		}
		if err != nil || c.Tags == nil {
			return err
		}
		return s.tagClients(ctx, tx, c.OwnerID, map[int64][]string{c.ID: c.Tags})
	})
}

// UpdateClient saves c's fields when it belongs to ownerID; ENOTFOUND otherwise.
func (s *Store) UpdateClient(ctx context.Context, ownerID int64, c *mailing.Client) error {
	return s.updateClient(ctx, s.DB, ownerID, c)
}

func (s *Store) updateClient(ctx context.Context, db bun.IDB, ownerID int64, c *mailing.Client) error {
	c.UpdatedAt = s.now()
	res, err := db.NewUpdate().Model(c).Column("email", "full_name", "name_lc", "comment", "updated_at").
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
			if err := s.tagImported(ctx, tx, ownerID, batch); err != nil {
				return err
			}
		}
		created, updated = len(clients)-existing, existing
		return nil
	})
	return created, updated, err
}

// tagImported gives the imported clients that name tags (a file with a tags column) those
// tags, in place of their old ones.
func (s *Store) tagImported(ctx context.Context, tx bun.Tx, ownerID int64, batch []mailing.Client) error {
	byEmail := map[string][]string{}
	for _, c := range batch {
		if c.Tags != nil {
			byEmail[c.Email] = c.Tags
		}
	}
	if len(byEmail) == 0 {
		return nil
	}
	emails := make([]string, 0, len(byEmail))
	for e := range byEmail {
		emails = append(emails, e)
	}
	var rows []mailing.Client
	if err := tx.NewSelect().Model(&rows).Column("id", "email").
		Where("owner_id = ? AND email IN (?)", ownerID, bun.In(emails)).Scan(ctx); err != nil {
		return err
	}
	tags := make(map[int64][]string, len(rows))
	for _, r := range rows {
		tags[r.ID] = byEmail[r.Email]
	}
	return s.tagClients(ctx, tx, ownerID, tags)
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
		if err := s.withTags(ctx, batch); err != nil {
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

// Unsubscribe marks a client unsubscribed and puts their address on the owner's
// suppression list, so no later run mails it.
func (s *Store) Unsubscribe(ctx context.Context, clientID int64) (*mailing.Client, error) {
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		c := new(mailing.Client)
		if err := tx.NewSelect().Model(c).Column("id", "owner_id", "email").Where("id = ?", clientID).Scan(ctx); err != nil {
			return notFound(err, "client")
		}
		if _, err := tx.NewUpdate().TableExpr("clients").Set("unsubscribed_at = COALESCE(unsubscribed_at, ?)", now).
			Set("updated_at = ?", now).Where("id = ?", clientID).Exec(ctx); err != nil {
			return err
		}
		return s.suppress(ctx, tx, []mailing.Suppression{{OwnerID: c.OwnerID, Email: c.Email, Reason: mailing.SuppressUnsubscribed}})
	})
	if err != nil {
		return nil, err
	}
	return s.ClientByID(ctx, mailing.Scope{All: true}, clientID)
}

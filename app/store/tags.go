package store

import (
	"context"
	"strings"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// ensureTags returns the ids of ownerID's tags named names, by lower-cased name,
// creating those that are new.
func (s *Store) ensureTags(ctx context.Context, db bun.IDB, ownerID int64, names []string) (map[string]int64, error) {
	if len(names) == 0 {
		return map[string]int64{}, nil
	}
	now := s.now()
	lcs := make([]string, len(names))
	rows := make([]mailing.Tag, len(names))
	for i, n := range names {
		lcs[i] = strings.ToLower(n)
		rows[i] = mailing.Tag{OwnerID: ownerID, Name: n, NameLC: lcs[i], CreatedAt: now}
	}
	if _, err := db.NewInsert().Model(&rows).ExcludeColumn("id").On("CONFLICT (owner_id, name_lc) DO NOTHING").Exec(ctx); err != nil {
		return nil, err
	}
	var found []mailing.Tag
	err := db.NewSelect().Model(&found).Column("id", "name_lc").
		Where("owner_id = ? AND name_lc IN (?)", ownerID, bun.In(lcs)).Scan(ctx)
	ids := make(map[string]int64, len(found))
	for _, t := range found {
		ids[t.NameLC] = t.ID
	}
	return ids, err
}

type clientTagRow struct {
	bun.BaseModel `bun:"table:client_tags"`
	ClientID      int64
	TagID         int64
}

// tagClients makes each client's tags those named for it: the names are ownerID's tags,
// created when new.
func (s *Store) tagClients(ctx context.Context, db bun.IDB, ownerID int64, tags map[int64][]string) error {
	if len(tags) == 0 {
		return nil
	}
	var names []string
	clients := make([]int64, 0, len(tags))
	for id, ns := range tags {
		names = append(names, ns...)
		clients = append(clients, id)
	}
	ids, err := s.ensureTags(ctx, db, ownerID, names)
	if err != nil {
		return err
	}
	if _, err := db.NewDelete().TableExpr("client_tags").Where("client_id IN (?)", bun.In(clients)).Exec(ctx); err != nil {
		return err
	}
	var rows []clientTagRow
	for id, ns := range tags {
		for _, n := range ns {
			rows = append(rows, clientTagRow{ClientID: id, TagID: ids[strings.ToLower(n)]})
		}
	}
	for start := 0; start < len(rows); start += 1000 {
		batch := rows[start:min(start+1000, len(rows))]
		if _, err := db.NewInsert().Model(&batch).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ClientTags returns the tag names of each of ids, in name order.
func (s *Store) ClientTags(ctx context.Context, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ClientID int64
		Name     string
	}
	err := s.DB.NewSelect().TableExpr("client_tags AS ct").ColumnExpr("ct.client_id, t.name").
		Join("JOIN tags AS t ON t.id = ct.tag_id").Where("ct.client_id IN (?)", bun.In(ids)).
		OrderExpr("t.name_lc").Scan(ctx, &rows)
	for _, r := range rows {
		out[r.ClientID] = append(out[r.ClientID], r.Name)
	}
	return out, err
}

// withTags sets the Tags of clients from the database.
func (s *Store) withTags(ctx context.Context, clients []mailing.Client) error {
	ids := make([]int64, len(clients))
	for i := range clients {
		ids[i] = clients[i].ID
	}
	tags, err := s.ClientTags(ctx, ids)
	for i := range clients {
		clients[i].Tags = tags[clients[i].ID]
	}
	return err
}

// ListTags returns the owner's tags (every owner's for scope.All) by name, each with the
// number of clients carrying it.
func (s *Store) ListTags(ctx context.Context, scope mailing.Scope) ([]mailing.Tag, error) {
	var tags []mailing.Tag
	q := s.DB.NewSelect().TableExpr("tags AS t").ColumnExpr("t.id, t.owner_id, t.name, t.name_lc, t.created_at").
		ColumnExpr("(SELECT COUNT(*) FROM client_tags AS ct WHERE ct.tag_id = t.id) AS clients").
		OrderExpr("t.name_lc, t.id").Limit(1000)
	if !scope.All {
		q = q.Where("t.owner_id = ?", scope.UserID)
	}
	err := q.Scan(ctx, &tags)
	return tags, err
}

// TagClients adds the tag named tag to the clients sel picks among ownerID's, or with
// remove takes it off them, and returns how many clients it changed.
func (s *Store) TagClients(ctx context.Context, ownerID int64, tag string, remove bool, sel mailing.ClientSelection) (int, error) {
	var n int64
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		picked, args := "c.owner_id = ?", []any{ownerID}
		if sel.All {
			cond, a := s.clientFilter(mailing.Scope{UserID: ownerID}, sel.Q, sel.Tag)
			picked, args = picked+cond, append(args, a...)
		} else if len(sel.IDs) > 0 {
			picked, args = picked+" AND c.id IN (?)", append(args, bun.In(sel.IDs))
		} else {
			return nil
		}
		var tagID int64
		if remove {
			err := tx.NewSelect().TableExpr("tags").Column("id").
				Where("owner_id = ? AND name_lc = ?", ownerID, strings.ToLower(tag)).Scan(ctx, &tagID)
			if err != nil {
				return notFound(err, "tag")
			}
			res, err := tx.NewRaw("DELETE FROM client_tags WHERE tag_id = ? AND client_id IN (SELECT c.id FROM clients AS c WHERE "+picked+")",
				append([]any{tagID}, args...)...).Exec(ctx)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		}
		ids, err := s.ensureTags(ctx, tx, ownerID, []string{tag})
		if err != nil {
			return err
		}
		res, err := tx.NewRaw("INSERT INTO client_tags (client_id, tag_id) SELECT c.id, ? FROM clients AS c WHERE "+picked+
			" ON CONFLICT DO NOTHING", append([]any{ids[strings.ToLower(tag)]}, args...)...).Exec(ctx)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// clientFilter is the condition, after AND, that a client list's search q and tag put on
// clients AS c of the owners in scope: the email or name starts with q, and the client
// carries tag.
func (s *Store) clientFilter(scope mailing.Scope, q, tag string) (string, []any) {
	var cond string
	var args []any
	if term := normalizeSearch(q); term != "" {
		e, ea := s.prefix("c.email", term)
		n, na := s.prefix("c.name_lc", term)
		cond, args = " AND ("+e+" OR "+n+")", append(ea, na...)
	}
	if tag != "" {
		ids, ia := tagIDs(scope, tagName(tag))
		cond += " AND c.id IN (SELECT ct.client_id FROM client_tags AS ct WHERE ct.tag_id IN (" + ids + "))"
		args = append(args, ia...)
	}
	return cond, args
}

// tagName is a tag filter as tags are matched: trimmed and lower-cased.
func tagName(tag string) string { return strings.ToLower(strings.TrimSpace(tag)) }

// tagIDs is SQL for the ids of the tags named name (lower-cased) of the owners in scope:
// the owner's one, or for every owner theirs. A client carries only its owner's tags, so
// these tags' links are the clients in scope carrying the name. The query refers to no
// client: the database finds the tags once per statement. (Matched to each client's owner,
// as it was, SQLite built the tag's list of clients anew for every client it read — at a
// million clients, a page never came back.)
func tagIDs(scope mailing.Scope, name string) (string, []any) {
	if scope.All {
		return "SELECT t.id FROM tags AS t WHERE t.name_lc = ?", []any{name}
	}
	return "SELECT t.id FROM tags AS t WHERE t.owner_id = ? AND t.name_lc = ?", []any{scope.UserID, name}
}

// tagged is the condition, after AND, that a client c of scope carries the tag named name:
// a look-up of the client's own links, for a query that walks the list's index.
func tagged(scope mailing.Scope, name string) (string, []any) {
	ids, args := tagIDs(scope, name)
	return " AND EXISTS (SELECT 1 FROM client_tags AS ct WHERE ct.client_id = c.id AND ct.tag_id IN (" + ids + "))", args
}

package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// Lists page by keyset — "after this (sort value, id)" — not by OFFSET, so page 1,000 of
// 100,000 clients costs what page 1 does.

// sortColumn is one column a list may be sorted by.
type sortColumn struct {
	expr string // SQL expression, qualified with the table alias
	kind string // "string", "time" or "int": how a cursor value is decoded
}

type listSpec struct {
	sorts   map[string]sortColumn
	def     string // default sort
	defDesc bool
	idExpr  string
}

type cursor struct {
	V  json.RawMessage `json:"v"`
	ID int64           `json:"id"`
}

const maxPageSize = 100

func (spec listSpec) sort(p mailing.ListParams) (string, sortColumn) {
	if col, ok := spec.sorts[p.Sort]; ok {
		return p.Sort, col
	}
	return spec.def, spec.sorts[spec.def]
}

// Sorts reports the sort a list actually uses for p (the default when p asks for none).
func (spec listSpec) Sorts(p mailing.ListParams) (name string, desc bool) {
	name, _ = spec.sort(p)
	if p.Sort == "" {
		return name, spec.defDesc
	}
	return name, p.Desc
}

// keyset applies ordering, the cursor and the limit to q, scans the rows into dst and
// returns them with the cursors of the neighbouring pages. value returns a row's sort value
// (for the named sort) and id.
func keyset[T any](ctx context.Context, q *bun.SelectQuery, spec listSpec, p mailing.ListParams, value func(*T, string) (any, int64)) (mailing.Page[T], error) {
	var page mailing.Page[T]
	name, col := spec.sort(p)
	_, desc := spec.Sorts(p)
	limit := p.Limit
	if limit <= 0 || limit > maxPageSize {
		limit = 25
	}
	// Going back walks the other way and reverses the rows afterwards.
	walkDesc := desc != p.Back
	hasCursor := false
	if p.Cursor != "" {
		if v, id, ok := decodeCursor(p.Cursor, col.kind); ok {
			hasCursor = true
			op := ">"
			if walkDesc {
				op = "<"
			}
			q = q.Where("("+col.expr+" "+op+" ? OR ("+col.expr+" = ? AND "+spec.idExpr+" "+op+" ?))", v, v, id)
		}
	}
	dir := " ASC"
	if walkDesc {
		dir = " DESC"
	}
	var rows []T
	q = q.OrderExpr(col.expr + dir).OrderExpr(spec.idExpr + dir).Limit(int64(limit + 1))
	if err := q.Scan(ctx, &rows); err != nil {
		return page, err
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if p.Back {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	page.Items = rows
	if len(rows) == 0 {
		return page, nil
	}
	first, last := &rows[0], &rows[len(rows)-1]
	if p.Back {
		page.Next = encodeCursor(value(last, name))
		if more {
			page.Prev = encodeCursor(value(first, name))
		}
	} else {
		if more {
			page.Next = encodeCursor(value(last, name))
		}
		if hasCursor {
			page.Prev = encodeCursor(value(first, name))
		}
	}
	return page, nil
}

func encodeCursor(v any, id int64) string {
	if t, ok := v.(time.Time); ok {
		v = t.UTC().Format(time.RFC3339Nano)
	}
	raw, _ := json.Marshal(v)
	b, _ := json.Marshal(cursor{V: raw, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, kind string) (any, int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, 0, false
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil {
		return nil, 0, false
	}
	switch kind {
	case "time":
		var str string
		if json.Unmarshal(c.V, &str) != nil {
			return nil, 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return nil, 0, false
		}
		return t.UTC(), c.ID, true
	case "int":
		var n int64
		if json.Unmarshal(c.V, &n) != nil {
			return nil, 0, false
		}
		return n, c.ID, true
	default:
		var str string
		if json.Unmarshal(c.V, &str) != nil {
			return nil, 0, false
		}
		return str, c.ID, true
	}
}

// prefix adds "expr starts with q" in a form each dialect answers from an index: a range
// on SQLite (binary collation), LIKE 'q%' with text_pattern_ops indexes on PostgreSQL.
func (s *Store) prefix(expr, q string) (string, []any) {
	if s.Dialect == "postgres" {
		esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q)
		return expr + ` LIKE ?`, []any{esc + "%"}
	}
	return "(" + expr + " >= ? AND " + expr + " < ?)", []any{q, q + "\U0010FFFF"}
}

package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
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

// window is the part of a keyset page that a query applies: the cursor condition (empty on
// the first page), the order and the row limit (one more than the page, to see a next page).
type window struct {
	name      string // sort actually used
	col       sortColumn
	cond      string
	args      []any
	order     string
	limit     int // rows on a page
	hasCursor bool
}

func (spec listSpec) window(p mailing.ListParams) window {
	name, col := spec.sort(p)
	_, desc := spec.Sorts(p)
	w := window{name: name, col: col, limit: p.Limit}
	if w.limit <= 0 || w.limit > maxPageSize {
		w.limit = 25
	}
	// Going back walks the other way and reverses the rows afterwards.
	walkDesc := desc != p.Back
	if p.Cursor != "" {
		if v, id, ok := decodeCursor(p.Cursor, col.kind); ok {
			w.hasCursor = true
			op := ">"
			if walkDesc {
				op = "<"
			}
			// A row value, not "a > x OR (a = x AND id > y)": SQLite turns only the row
			// value into an index range when x is a bound parameter.
			w.cond = "(" + col.expr + ", " + spec.idExpr + ") " + op + " (?, ?)"
			w.args = []any{v, id}
		}
	}
	dir := " ASC"
	if walkDesc {
		dir = " DESC"
	}
	w.order = col.expr + dir + ", " + spec.idExpr + dir
	return w
}

// keyset applies ordering, the cursor and the limit to q, scans the rows into dst and
// returns them with the cursors of the neighbouring pages. value returns a row's sort value
// (for the named sort) and id.
func keyset[T any](ctx context.Context, q *bun.SelectQuery, spec listSpec, p mailing.ListParams, value func(*T, string) (any, int64)) (mailing.Page[T], error) {
	w := spec.window(p)
	if w.cond != "" {
		q = q.Where(w.cond, w.args...)
	}
	q = q.OrderExpr(w.order).Limit(int64(w.limit + 1))
	var rows []T
	if err := q.Scan(ctx, &rows); err != nil {
		return mailing.Page[T]{}, err
	}
	return pageOf(rows, spec, w, p, value), nil
}

// keysetSQL is keyset for a query written as SQL, run as a prepared statement: sel is the
// query up to its WHERE, conds its conditions (joined by AND) with their args.
func keysetSQL[T any](ctx context.Context, s *Store, sel string, conds []string, args []any, spec listSpec, p mailing.ListParams, value func(*T, string) (any, int64)) (mailing.Page[T], error) {
	w := spec.window(p)
	if w.cond != "" {
		conds = append(conds, w.cond)
		args = append(args, w.args...)
	}
	if len(conds) > 0 {
		sel += " WHERE " + strings.Join(conds, " AND ")
	}
	var rows []T
	if err := s.scanPrepared(ctx, &rows, sel+" ORDER BY "+w.order+" LIMIT "+strconv.Itoa(w.limit+1), args...); err != nil {
		return mailing.Page[T]{}, err
	}
	return pageOf(rows, spec, w, p, value), nil
}

// pageOf makes a page of the rows a window's query returned (one more than a page when
// there is a next page).
func pageOf[T any](rows []T, spec listSpec, w window, p mailing.ListParams, value func(*T, string) (any, int64)) mailing.Page[T] {
	var page mailing.Page[T]
	page.Sort, page.Desc = spec.Sorts(p)
	name, limit, hasCursor := w.name, w.limit, w.hasCursor
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
		return page
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
	return page
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

// prefix adds "expr starts with q" as a range each dialect answers from an index, bound
// parameters and all: SQLite compares text bytewise (binary collation); on PostgreSQL the
// bytewise operators ~>=~ and ~<~ use the text_pattern_ops indexes whatever the database's
// collation, where LIKE ? would leave a reused (generic) plan unable to use any index.
// Everything starting with q sorts between q and q followed by the last code point.
func (s *Store) prefix(expr, q string) (string, []any) {
	lt, ge := "<", ">="
	if s.Dialect == "postgres" {
		lt, ge = "~<~", "~>=~"
	}
	return "(" + expr + " " + ge + " ? AND " + expr + " " + lt + " ?)", []any{q, q + "\U0010FFFF"}
}

// normalizeSearch is a search as lists match it: trimmed, lower-cased, at most 200 bytes.
func normalizeSearch(q string) string {
	q = strings.ToLower(strings.TrimSpace(q))
	if len(q) > 200 {
		q = q[:200]
	}
	return q
}

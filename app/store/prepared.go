package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// Bun writes a query's arguments into its text, so SQLite parses and plans every query
// anew: on a list page that was a third of the request's CPU. The queries every page runs
// (the session's user, the lists) go through prepared statements instead, cached by their
// text: database/sql prepares one once per connection, and later uses only bind and step.

// queryPrepared runs query (with ? placeholders) as a cached prepared statement.
func (s *Store) queryPrepared(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	bound := make([]any, len(args))
	for i, a := range args {
		bound[i] = s.arg(a)
	}
	if s.tracePrepared != nil {
		s.tracePrepared(query, bound)
	}
	return st.QueryContext(ctx, bound...)
}

// scanPrepared runs query as queryPrepared does and scans the rows into dest as Bun does.
func (s *Store) scanPrepared(ctx context.Context, dest any, query string, args ...any) error {
	rows, err := s.queryPrepared(ctx, query, args...)
	if err != nil {
		return err
	}
	return s.DB.ScanRows(ctx, rows, dest) // closes rows
}

func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	text := query
	if s.Dialect == "postgres" {
		text = dollarPlaceholders(query)
	}
	st, err := s.DB.DB.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// arg passes a time to SQLite in the text form Bun stores, so comparisons with stored
// times compare like with like.
func (s *Store) arg(v any) any {
	if t, ok := v.(time.Time); ok && s.Dialect == "sqlite" {
		b := s.DB.Dialect().AppendTime(nil, t)
		return string(b[1 : len(b)-1]) // without Bun's quotes
	}
	return v
}

// timeText selects the time column col (a qualified name) for Bun to parse. SQLite's
// driver parses a DATETIME column itself, first trying (and failing, at some cost) the
// layout of time.Time.String before Bun's: about a fifth of a list query's CPU. Read as text,
// the value is parsed once, by Bun.
func (s *Store) timeText(col string) string {
	if s.Dialect != "sqlite" {
		return col
	}
	return "CAST(" + col + " AS TEXT) AS " + col[strings.IndexByte(col, '.')+1:]
}

func (s *Store) closeStmts() {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
}

// dollarPlaceholders numbers ? placeholders as PostgreSQL's $1, $2, …. Queries given to
// queryPrepared hold no ? but placeholders.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		n++
		b.WriteString(q[:i])
		b.WriteString("$" + strconv.Itoa(n))
		q = q[i+1:]
	}
}

package store_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

// Pages over a million clients stay as fast as over a thousand only while every query they
// run is answered from an index (performance issue, item 5). These tests seed a database,
// run each query the clients list, its search, its tag filter, their counts and the
// statistics page make — through the store, as the pages call it — and explain every
// statement that ran. SQLite keeps no statistics, so its plans do not depend on the size;
// PostgreSQL plans by them, so the seed is analysed, and it is large enough that PostgreSQL
// prefers its indexes where it would at a million (PLANS_CLIENTS=1000000 checks that size).

// plansClients is how many clients the plan tests seed.
func plansClients(t *testing.T) int {
	if v := os.Getenv("PLANS_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("PLANS_CLIENTS=%q: want a number ≥ 1000", v)
		}
		return n
	}
	return 20_000
}

type planFixture struct {
	st      *store.Store
	ctx     context.Context
	clock   *testutil.Clock
	owner   int64
	n       int
	mailing *mailing.Mailing // to every client of the owner
}

// seedPlans gives an owner n clients (client0000000@example.com onwards, "Client 0000000"),
// another owner a tenth as many, the tag "newsletter" on every second of the owner's clients,
// "vip" on every hundredth and "rare" on ten of them, and a mailing to all of them whose attempts cover 85 % of them over
// the last six days. Rows are made in SQL: a million through the store would take minutes.
// Ids are those of a fresh database: the owner's clients 1 … n.
func seedPlans(t *testing.T, n int) *planFixture {
	t.Helper()
	clock := testutil.NewClock()
	st := testutil.DB(t, clock)
	f := &planFixture{st: st, ctx: context.Background(), clock: clock, n: n}
	now := clock.Now()
	pg := st.Dialect == "postgres"
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := st.DB.NewRaw(query, args...).Exec(f.ctx); err != nil {
			t.Fatalf("seed: %v\n%s", err, query)
		}
	}
	// series(lo, hi) is a table g of i = lo … hi-1 and pad i's digits to seven.
	series := func(lo, hi int) (with, from string) {
		if pg {
			return "", "generate_series(" + strconv.Itoa(lo) + ", " + strconv.Itoa(hi-1) + ") AS g(i)"
		}
		return "WITH RECURSIVE g(i) AS (SELECT " + strconv.Itoa(lo) + " UNION ALL SELECT i + 1 FROM g WHERE i < " + strconv.Itoa(hi-1) + ") ", "g"
	}
	pad := "printf('%07d', i)"
	if pg {
		pad = "lpad(i::text, 7, '0')"
	}
	users := map[string]int64{}
	for _, email := range []string{"owner@example.com", "other@example.com"} {
		u := &mailing.User{Email: email}
		if err := st.CreateUser(f.ctx, u); err != nil {
			t.Fatal(err)
		}
		users[email] = u.ID
	}
	f.owner = users["owner@example.com"]
	for _, o := range []struct {
		owner  int64
		prefix string
		n      int
	}{{f.owner, "client", n}, {users["other@example.com"], "other", n / 10}} {
		// In statements of 100,000 rows: one of a million outlasts the PostgreSQL driver's
		// read timeout.
		for lo := 0; lo < o.n; lo += 100_000 {
			with, from := series(lo, min(lo+100_000, o.n))
			exec(with+"INSERT INTO clients (owner_id, email, full_name, name_lc, comment, created_at, updated_at) SELECT ?, ? || "+
				pad+" || '@example.com', 'Client ' || "+pad+", 'client ' || "+pad+", '', ?, ? FROM "+from,
				o.owner, o.prefix, now, now)
		}
	}
	for _, tag := range []struct {
		name  string
		every int
	}{{"newsletter", 2}, {"vip", 100}, {"rare", n / 10}} {
		tg := &mailing.Tag{OwnerID: f.owner, Name: tag.name, NameLC: tag.name, CreatedAt: now}
		if _, err := st.DB.NewInsert().Model(tg).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < 2*n; lo += 200_000 {
			exec("INSERT INTO client_tags (client_id, tag_id) SELECT id, ? FROM clients WHERE owner_id = ? AND id % ? = 0 AND id > ? AND id <= ?",
				tg.ID, f.owner, tag.every, lo, lo+200_000)
		}
	}
	msg := &mailing.Message{OwnerID: f.owner, Subject: "Hi", Body: "Hello"}
	msg.Validate()
	if err := st.CreateMessage(f.ctx, msg); err != nil {
		t.Fatal(err)
	}
	m := &mailing.Mailing{OwnerID: f.owner, MessageID: msg.ID, StartAt: now.Add(-7 * 24 * time.Hour), EndAt: now.Add(time.Hour),
		Period: mailing.PeriodNone}
	if err := st.SaveMailing(f.ctx, m, mailing.Recipients{All: true}); err != nil {
		t.Fatal(err)
	}
	f.mailing = m
	run := &mailing.Run{MailingID: m.ID, OwnerID: f.owner, Kind: mailing.RunManual, StartedAt: now.Add(-6 * 24 * time.Hour)}
	if _, err := st.DB.NewInsert().Model(run).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	// An attempt a second apart, back from now, 85 % successes.
	at := "strftime('%Y-%m-%d %H:%M:%S+00:00', ?, '-' || (c.id % 518400) || ' seconds')"
	nowArg := any(now.Format(time.DateTime))
	if pg {
		at, nowArg = "?::timestamptz - (c.id % 518400) * interval '1 second'", now
	}
	for lo := 0; lo < 2*n; lo += 100_000 {
		exec("INSERT INTO attempts (mailing_id, run_id, delivery_id, client_id, email, attempted_at, status, smtp_code, response, latency_ms, reason)"+
			" SELECT ?, ?, c.id, c.id, c.email, "+at+", CASE WHEN c.id % 100 < 85 THEN 'success' ELSE 'failure' END,"+
			" CASE WHEN c.id % 100 < 85 THEN 250 ELSE 550 END,"+
			" CASE WHEN c.id % 100 < 85 THEN '250 2.0.0 Ok: queued' ELSE '550 5.1.1 User unknown' END, 20,"+
			" CASE WHEN c.id % 100 < 85 THEN '' ELSE '550 5.1.1' END"+
			" FROM clients AS c WHERE c.owner_id = ? AND c.id % 20 < 17 AND c.id > ? AND c.id <= ?",
			m.ID, run.ID, nowArg, f.owner, lo, lo+100_000)
	}
	if pg {
		// What autovacuum does soon after a bulk load, and what PostgreSQL plans by.
		exec("VACUUM ANALYZE")
	}
	return f
}

// statement is one statement a store call ran: its text with ? placeholders and bound
// arguments (prepared), or its text as Bun wrote it, arguments included.
type statement struct {
	query    string
	args     []any
	prepared bool
}

// recorder collects the statements of the store calls made while it is on.
type recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []statement
}

func (r *recorder) add(s statement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.stmts = append(r.stmts, s)
	}
}

func (r *recorder) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	switch strings.ToUpper(strings.Fields(e.Query + " x")[0]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH":
		r.add(statement{query: e.Query})
	}
	return ctx
}

func (r *recorder) AfterQuery(context.Context, *bun.QueryEvent) {}

// record runs fn and returns the statements it ran.
func (r *recorder) record(t *testing.T, fn func() error) []statement {
	t.Helper()
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
	err := fn()
	r.mu.Lock()
	r.on = false
	got := r.stmts
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("the call ran no statement")
	}
	return got
}

func (f *planFixture) recorder() *recorder {
	r := &recorder{}
	f.st.DB.AddQueryHook(r)
	store.TracePrepared(f.st, func(q string, args []any) {
		r.add(statement{query: q, args: append([]any(nil), args...), prepared: true})
	})
	return r
}

// explain returns the plan of s, a line per node.
func (f *planFixture) explain(t *testing.T, s statement) []string {
	t.Helper()
	var lines []string
	if f.st.Dialect == "postgres" {
		// A prepared statement runs with its generic plan (store.Open asks for those): explain
		// that one, not a plan for the literal values.
		conn, err := f.st.DB.Conn(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		q := "EXPLAIN " + s.query
		if s.prepared {
			if _, err := conn.ExecContext(f.ctx, "PREPARE plan_test AS "+store.DollarPlaceholders(s.query)); err != nil {
				t.Fatalf("prepare: %v\n%s", err, s.query)
			}
			defer conn.ExecContext(f.ctx, "DEALLOCATE plan_test")
			q = "EXPLAIN EXECUTE plan_test"
			if len(s.args) > 0 {
				q += "(" + strings.TrimSuffix(strings.Repeat("?, ", len(s.args)), ", ") + ")"
			}
		}
		if err := conn.NewRaw(q, s.args...).Scan(f.ctx, &lines); err != nil {
			t.Fatalf("explain: %v\n%s", err, s.query)
		}
		return lines
	}
	rows, err := f.st.DB.DB.QueryContext(f.ctx, "EXPLAIN QUERY PLAN "+s.query, s.args...)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, s.query)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// The tables that grow with the clients: a plan may only reach them through an index.
var bigTables = `(c|clients|ct|client_tags|a|attempts|d|deliveries)`

var (
	// SQLite: "SCAN c" reads the table whole; "SCAN c USING INDEX …" walks a whole index
	// and reads the table for each entry, which only a query that stops at its LIMIT may do
	// (a walk of a covering index reads the index alone: a count over every client does);
	// a correlated list subquery is built anew for every row.
	sqliteFullScan  = regexp.MustCompile(`^SCAN ` + bigTables + `$`)
	sqliteIndexWalk = regexp.MustCompile(`^SCAN ` + bigTables + ` USING INDEX`)
	sqlitePerRow    = regexp.MustCompile(`CORRELATED LIST SUBQUERY`)
	// PostgreSQL: a sequential scan of a big table, with the rows it expects; a subquery
	// run again for every row (a SubPlan that is not hashed), which may look a row up (an
	// EXISTS it could not turn into a join) but not read a list (one that refers to the row).
	pgFullScan = regexp.MustCompile(`Seq Scan on (clients|client_tags|attempts|deliveries) .*rows=(\d+)`)
	pgPerRow   = regexp.MustCompile(`^SubPlan \d+`)
	pgRows     = regexp.MustCompile(`rows=(\d+)`)
)

// pgPerRowList returns the non-hashed SubPlans of a PostgreSQL plan whose nodes expect more
// than a hundred rows each time they run.
func pgPerRowList(plan []string) []string {
	var bad []string
	text := strings.Join(plan, "\n")
	for i, line := range plan {
		// A hashed SubPlan ("hashed SubPlan 4" where it is used) runs once.
		if !pgPerRow.MatchString(strings.TrimSpace(line)) || strings.Contains(text, "hashed "+strings.TrimSpace(line)+")") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for _, sub := range plan[i+1:] {
			if len(sub)-len(strings.TrimLeft(sub, " ")) <= indent {
				break
			}
			if m := pgRows.FindStringSubmatch(sub); m != nil {
				if n, _ := strconv.Atoi(m[1]); n > 100 {
					bad = append(bad, strings.TrimSpace(line)+" reads "+m[1]+" rows for each row")
					break
				}
			}
		}
	}
	return bad
}

// checkPlans explains the statements of one call and fails on any that reads a big table
// other than through an index. whole says the call reads every match (a count, the
// statistics): PostgreSQL may then read a table whole where it expects a tenth of it or
// more to match — counting nine clients in ten from the table took 344 ms at a million
// clients, from the narrowest index 469 ms.
func (f *planFixture) checkPlans(t *testing.T, name string, stmts []statement, whole bool) {
	t.Helper()
	for _, s := range stmts {
		plan := f.explain(t, s)
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s\n%s", name, s.query, text)
		var bad []string
		if f.st.Dialect == "postgres" {
			bad = pgPerRowList(plan)
		}
		for _, line := range plan {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->"))
			if f.st.Dialect == "postgres" {
				if m := pgFullScan.FindStringSubmatch(line); m != nil {
					rows, _ := strconv.ParseFloat(m[2], 64)
					if !whole || rows < f.rows(t, m[1])/10 {
						bad = append(bad, line)
					}
				}
				continue
			}
			switch {
			case sqliteFullScan.MatchString(line), sqlitePerRow.MatchString(line):
				bad = append(bad, line)
			case sqliteIndexWalk.MatchString(line) && !strings.Contains(s.query, " LIMIT "):
				bad = append(bad, line)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s: %s plan is not index-driven (%s):\n%s\n%s", name, f.st.Dialect, strings.Join(bad, "; "), s.query, text)
		}
	}
}

// rows is the number of rows PostgreSQL's statistics give table.
func (f *planFixture) rows(t *testing.T, table string) float64 {
	t.Helper()
	var n float64
	if err := f.st.DB.NewRaw("SELECT reltuples FROM pg_class WHERE oid = ?::regclass", table).Scan(f.ctx, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPagePlansStayOnIndexes(t *testing.T) {
	f := seedPlans(t, plansClients(t))
	r := f.recorder()
	t.Run("clients", func(t *testing.T) { f.clientListPlans(t, r) })
	t.Run("statistics", func(t *testing.T) { f.statsPlans(t, r) })
	t.Run("start a run", func(t *testing.T) {
		// Every client gets a delivery, chunk by chunk: each chunk a range of the owner's
		// addresses, a small share of them as at a million.
		store.SetDeliveryChunk(t, min(10_000, f.n/50))
		f.checkPlans(t, "start a run", r.record(t, func() error {
			_, err := f.st.CreateRun(f.ctx, f.mailing, mailing.RunManual, nil, 0)
			return err
		}), true)
	})
}

func (f *planFixture) clientListPlans(t *testing.T, r *recorder) {
	own := mailing.Scope{UserID: f.owner}
	mid := fmt.Sprintf("client%07d", f.n/2)
	type call struct {
		name  string
		scope mailing.Scope
		p     mailing.ListParams
	}
	calls := []call{
		{"first page", own, mailing.ListParams{Limit: 25}},
		{"by name", own, mailing.ListParams{Limit: 25, Sort: "name"}},
		{"by creation, newest first", own, mailing.ListParams{Limit: 25, Sort: "created", Desc: true}},
		{"search, a hundred matches", own, mailing.ListParams{Limit: 25, Q: mid[:len(mid)-2]}},
		{"search, every client matches", own, mailing.ListParams{Limit: 25, Q: "client"}},
		{"search by name, sorted by creation", own, mailing.ListParams{Limit: 25, Q: "client 00", Sort: "created"}},
		{"tag on every second client", own, mailing.ListParams{Limit: 25, Tag: "newsletter"}},
		{"tag on one client in a hundred", own, mailing.ListParams{Limit: 25, Tag: "vip"}},
		{"tag on ten clients", own, mailing.ListParams{Limit: 25, Tag: "rare"}},
		{"tag and search", own, mailing.ListParams{Limit: 25, Tag: "vip", Q: "client00"}},
		{"every owner's clients", mailing.Scope{All: true}, mailing.ListParams{Limit: 25}},
		{"every owner's clients, tag", mailing.Scope{All: true}, mailing.ListParams{Limit: 25, Tag: "vip"}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var page mailing.Page[mailing.Client]
			stmts := r.record(t, func() (err error) {
				page, err = f.st.ListClients(f.ctx, c.scope, c.p)
				return err
			})
			if len(page.Items) == 0 {
				t.Fatalf("%s: an empty page; the fixture should fill it", c.name)
			}
			f.checkPlans(t, c.name, stmts, false)
			if page.Next != "" {
				// A later page: the keyset cursor's condition joins the query.
				p := c.p
				p.Cursor = page.Next
				f.checkPlans(t, c.name+", next page", r.record(t, func() error {
					_, err := f.st.ListClients(f.ctx, c.scope, p)
					return err
				}), false)
			}
			f.checkPlans(t, c.name+", count", r.record(t, func() error {
				_, err := f.st.CountClientList(f.ctx, c.scope, c.p)
				return err
			}), true)
		})
	}
}

func (f *planFixture) statsPlans(t *testing.T, r *recorder) {
	now := f.clock.Now()
	for _, scope := range []mailing.Scope{{UserID: f.owner}, {All: true}} {
		var st *mailing.Stats
		stmts := r.record(t, func() (err error) {
			st, err = f.st.Stats(f.ctx, mailing.StatsFilter{Scope: scope, Loc: time.UTC, From: now.AddDate(0, 0, -29), To: now})
			return err
		})
		if st.Success == 0 || st.Failure == 0 {
			t.Fatalf("statistics of %+v: %d successes, %d failures; the fixture recorded both", scope, st.Success, st.Failure)
		}
		f.checkPlans(t, fmt.Sprintf("statistics, scope %+v", scope), stmts, true)
	}
}

// Each claimed delivery leaves a dead entry at the front of its run's pending range in
// PostgreSQL's index until vacuum; a claim that started at the front walked them all — at a
// million recipients thousands of pages per claim, and the send fell to a quarter of the raw
// loop's rate. A claim after the cursor reads about as many index pages at the end of a
// run as at its start.
func TestClaimsAfterTheCursorSkipWhatWasClaimed(t *testing.T) {
	f, run, cur := claimedRun(t)
	until := f.clock.Now().Add(time.Hour)
	r := f.recorder()
	// pages is what the claim's walk of the run's pending range read, run and rolled back.
	pages := func(name string, claim func() error) int {
		t.Helper()
		plan := f.explainAnalyze(t, name, r.record(t, claim)[0])
		for i, line := range plan {
			if !strings.Contains(line, "Index Scan using deliveries_run_state") {
				continue
			}
			for _, next := range plan[i+1:] {
				if m := pgBuffers.FindStringSubmatch(next); m != nil {
					hit, _ := strconv.Atoi(m[1])
					read, _ := strconv.Atoi(m[2])
					t.Logf("%s: %d index and table pages\n%s", name, hit+read, strings.Join(plan, "\n"))
					return hit + read
				}
			}
		}
		t.Fatalf("%s: no walk of deliveries_run_state in the plan:\n%s", name, strings.Join(plan, "\n"))
		return 0
	}
	fromFront := pages("a claim from the front", func() error {
		_, err := f.st.ClaimDeliveries(f.ctx, run.ID, "w", 50, until)
		return err
	})
	afterCursor := pages("a claim after the cursor", func() error {
		_, err := f.st.ClaimNext(f.ctx, run.ID, "w", 50, until, cur)
		return err
	})
	if fromFront < 40 {
		t.Fatalf("a claim from the front read only %d pages past %d claimed deliveries: the test cannot tell", fromFront, f.n*3/4)
	}
	if afterCursor*4 > fromFront {
		t.Errorf("a claim after the cursor read %d pages, a claim from the front %d: want a quarter at most", afterCursor, fromFront)
	}
}

// The statements that find claimed deliveries by id — marking them handed, extending,
// recording and handing back their claims, and taking back a dead worker's — reach them
// through the primary key alone: the indexes that lead with the state hold a dead entry for
// every delivery sent so far, and a plan that combined one of them with the ids walked
// them all (4 ms to mark 16 deliveries handed at 100,000 recipients).
func TestDeliveriesFoundByIDUseThePrimaryKeyAlone(t *testing.T) {
	f, run, cur := claimedRun(t)
	// The statistics say what they would soon after a bulk send: few rows are being sent.
	if _, err := f.st.DB.ExecContext(f.ctx, "ANALYZE deliveries"); err != nil {
		t.Fatal(err)
	}
	claimed, err := f.st.ClaimNext(f.ctx, run.ID, "w", 50, f.clock.Now().Add(time.Hour), cur)
	if err != nil || len(claimed) != 50 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	ids := make([]int64, len(claimed))
	for i, d := range claimed {
		ids[i] = d.ID
	}
	r := f.recorder()
	at := f.clock.Now()
	outcome := func(d mailing.Delivery, state string) store.Outcome {
		return store.Outcome{Delivery: d, State: state, RetryAt: at.Add(time.Minute), Attempt: mailing.Attempt{
			MailingID: d.MailingID, RunID: d.RunID, DeliveryID: d.ID, Email: d.Email, AttemptedAt: at,
			Status: mailing.AttemptFailure, SMTPCode: 451, Response: "451 4.3.0 later"}}
	}
	calls := map[string]func() error{
		"mark handed":   func() error { return f.st.MarkHanded(f.ctx, "w", ids[:16]) },
		"extend claims": func() error { return f.st.ExtendClaims(f.ctx, "w", ids, at.Add(time.Hour)) },
		"record outcomes": func() error {
			return f.st.RecordOutcomes(f.ctx, "w", []store.Outcome{outcome(claimed[0], mailing.DeliverySent),
				outcome(claimed[1], mailing.DeliveryFailed), outcome(claimed[2], mailing.DeliveryPending)})
		},
		"release claims": func() error { return f.st.ReleaseClaims(f.ctx, "w", ids[40:]) },
		"take back expired claims": func() error {
			f.clock.Advance(3 * time.Hour)
			_, err := f.st.ReleaseExpiredClaims(f.ctx)
			return err
		},
	}
	for name, call := range calls {
		stmts := r.record(t, call)
		// Each finds its rows through an index, claims run out included (a partial index
		// of the deliveries being sent).
		f.checkPlans(t, name, stmts, false)
		for _, stmt := range stmts {
			if !strings.Contains(stmt.query, "deliveries") || !strings.Contains(stmt.query, "IN (") {
				continue
			}
			plan := strings.Join(f.explainAnalyze(t, name, stmt), "\n")
			if strings.Contains(plan, "deliveries_run_state") || strings.Contains(plan, "deliveries_claims") {
				t.Errorf("%s: the plan walks a state index:\n%s\n%s", name, stmt.query, plan)
			}
		}
	}
}

// claimedRun starts a run to every seeded client and claims three quarters of it through a
// cursor, each claim recorded sent — the dead index entries of a run three quarters done.
// PostgreSQL only: SQLite removes an index entry as its row changes.
func claimedRun(t *testing.T) (*planFixture, *mailing.Run, *store.ClaimCursor) {
	t.Helper()
	f := seedPlans(t, plansClients(t))
	if f.st.Dialect != "postgres" {
		t.Skip("SQLite removes an index entry as its row changes")
	}
	// Vacuum would clear the dead entries this test is about while it runs.
	if _, err := f.st.DB.ExecContext(f.ctx, "ALTER TABLE deliveries SET (autovacuum_enabled = false)"); err != nil {
		t.Fatal(err)
	}
	run, err := f.st.CreateRun(f.ctx, f.mailing, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	until := f.clock.Now().Add(time.Hour)
	var cur store.ClaimCursor
	for claimed := 0; claimed < f.n*3/4; {
		ds, err := f.st.ClaimNext(f.ctx, run.ID, "w", 500, until, &cur)
		if err != nil || len(ds) == 0 {
			t.Fatalf("claim after %d: %d, %v", claimed, len(ds), err)
		}
		ids := make([]int64, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("state = 'sent'").Set("claimed_by = NULL").
			Where("id IN (?)", bun.In(ids)).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		claimed += len(ds)
	}
	return f, run, &cur
}

// pgBuffers is the pages a node of an EXPLAIN (ANALYZE, BUFFERS) plan read.
var pgBuffers = regexp.MustCompile(`Buffers: shared hit=(\d+)(?: read=(\d+))?`)

// explainAnalyze runs stmt under EXPLAIN (ANALYZE, BUFFERS) in a transaction it rolls back,
// after the statements settings (what the statement's own transaction had set), and
// returns the plan.
func (f *planFixture) explainAnalyze(t *testing.T, name string, stmt statement, settings ...string) []string {
	t.Helper()
	tx, err := f.st.DB.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range settings {
		if _, err := tx.ExecContext(f.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var plan []string
	if err := tx.NewRaw("EXPLAIN (ANALYZE, BUFFERS) "+stmt.query, stmt.args...).Scan(f.ctx, &plan); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stmt.query)
	}
	return plan
}

// A run's start reads the owner's clients a range at a time, each range ending where the
// address index says; only a walk of that index in its order keeps a range cheap. Right
// after a big import the statistics still count a few hundred clients, and PostgreSQL
// then fetched every client past the range's start and sorted them, range after range
// (17 s of a million-recipient start). The start rules those plans out, whatever the
// statistics say.
func TestRunStartWalksTheClientsInOrderBeforeStatisticsCatchUp(t *testing.T) {
	clock := testutil.NewClock()
	st := testutil.DB(t, clock)
	if st.Dialect != "postgres" {
		t.Skip("SQLite keeps no statistics")
	}
	ctx := context.Background()
	f := &planFixture{st: st, ctx: ctx, clock: clock}
	// The statistics of an empty table, which autovacuum must not refresh while the test runs.
	for _, q := range []string{"ALTER TABLE clients SET (autovacuum_enabled = false)", "ANALYZE clients"} {
		if _, err := st.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	u := &mailing.User{Email: "owner@example.com"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	if _, err := st.DB.NewRaw(`INSERT INTO clients (owner_id, email, full_name, name_lc, comment, created_at, updated_at)
		SELECT ?, 'client' || lpad(i::text, 6, '0') || '@example.com', '', '', '', ?, ? FROM generate_series(1, 20000) AS g(i)`,
		u.ID, now, now).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	msg := &mailing.Message{OwnerID: u.ID, Subject: "Hi", Body: "Hello"}
	msg.Validate()
	if err := st.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	m := &mailing.Mailing{OwnerID: u.ID, MessageID: msg.ID, StartAt: now, EndAt: now.Add(time.Hour), Period: mailing.PeriodNone}
	if err := st.SaveMailing(ctx, m, mailing.Recipients{All: true}); err != nil {
		t.Fatal(err)
	}
	store.SetDeliveryChunk(t, 2000)
	r := f.recorder()
	stmts := r.record(t, func() error {
		_, err := st.CreateRun(ctx, m, mailing.RunManual, nil, 0)
		return err
	})
	// Each range's end, explained after what the run's transaction set before it.
	var settings []string
	ranges := 0
	for _, s := range stmts {
		if strings.Contains(s.query, "set_config(") {
			settings = append(settings, s.query)
			continue
		}
		if !strings.Contains(s.query, "OFFSET") {
			continue
		}
		ranges++
		text := strings.Join(f.explainAnalyze(t, "a range's end", s, settings...), "\n")
		if !strings.Contains(text, "Index Only Scan") || strings.Contains(text, "Sort") || strings.Contains(text, "Bitmap") {
			t.Errorf("a range's end is not a walk of the address index:\n%s\n%s", s.query, text)
		}
	}
	if ranges < 10 {
		t.Fatalf("%d ranges for 20,000 clients in ranges of 2,000: the test cannot tell", ranges)
	}
}

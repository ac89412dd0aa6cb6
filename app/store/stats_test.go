package store_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

// statsData is a store with attempts inserted directly, and the list of them the test
// keeps to count on its own.
type statsData struct {
	st       *store.Store
	ctx      context.Context
	attempts []mailing.Attempt
	owner    map[int64]int64  // mailing id → owner id
	subject  map[int64]string // mailing id → subject
	runs     map[int64]int64  // mailing id → run id
	nextDel  int64
}

func newStatsData(t *testing.T) *statsData {
	t.Helper()
	return &statsData{
		st: testutil.DB(t, testutil.NewClock()), ctx: context.Background(),
		owner: map[int64]int64{}, subject: map[int64]string{}, runs: map[int64]int64{}, nextDel: 1000,
	}
}

func (d *statsData) user(t *testing.T, email string) int64 {
	t.Helper()
	u := &mailing.User{Email: email}
	if err := d.st.CreateUser(d.ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// mailing makes a mailing of owner with a run the attempts can belong to.
func (d *statsData) mailing(t *testing.T, owner int64, subject string) int64 {
	t.Helper()
	msg := &mailing.Message{OwnerID: owner, Subject: subject, Body: "Hello"}
	msg.Validate()
	if err := d.st.CreateMessage(d.ctx, msg); err != nil {
		t.Fatal(err)
	}
	c := &mailing.Client{OwnerID: owner, Email: fmt.Sprintf("r%d@example.com", len(d.owner))}
	c.Validate()
	if err := d.st.CreateClient(d.ctx, c); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	m := &mailing.Mailing{OwnerID: owner, MessageID: msg.ID, StartAt: now, EndAt: now.AddDate(1, 0, 0), Period: mailing.PeriodNone}
	if err := d.st.SaveMailing(d.ctx, m, mailing.Recipients{ClientIDs: []int64{c.ID}}); err != nil {
		t.Fatal(err)
	}
	run := &mailing.Run{MailingID: m.ID, OwnerID: owner, Kind: mailing.RunManual, StartedAt: now}
	if _, err := d.st.DB.NewInsert().Model(run).Returning("id").Exec(d.ctx); err != nil {
		t.Fatal(err)
	}
	d.owner[m.ID], d.subject[m.ID], d.runs[m.ID] = owner, subject, run.ID
	return m.ID
}

// add queues an attempt; delivery 0 means a new delivery.
func (d *statsData) add(mailingID int64, at time.Time, status, response string, delivery int64) int64 {
	if delivery == 0 {
		d.nextDel++
		delivery = d.nextDel
	}
	d.attempts = append(d.attempts, mailing.Attempt{
		MailingID: mailingID, RunID: d.runs[mailingID], DeliveryID: delivery, Email: "r@example.com",
		AttemptedAt: at, Status: status, Response: response,
	})
	return delivery
}

func (d *statsData) insert(t *testing.T) {
	t.Helper()
	rows := d.attempts
	for start := 0; start < len(rows); start += 200 {
		chunk := rows[start:min(start+200, len(rows))]
		if _, err := d.st.DB.NewInsert().Model(&chunk).Exec(d.ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// expected counts the test's own attempts the way the figures are defined.
func (d *statsData) expected(f mailing.StatsFilter) *mailing.Stats {
	loc := f.Loc
	first, last := f.From.In(loc).Format(time.DateOnly), f.To.In(loc).Format(time.DateOnly)
	want := &mailing.Stats{Mailings: []mailing.MailingStat{}, Failures: []mailing.FailureStat{}}
	byMailing := map[int64]*mailing.MailingStat{}
	sentDel := map[int64]bool{}
	sentByMailing := map[int64]map[int64]bool{}
	byDay := map[string]*mailing.DayStat{}
	failures := map[string]int{}
	for _, a := range d.attempts {
		day := a.AttemptedAt.In(loc).Format(time.DateOnly)
		if day < first || day > last {
			continue
		}
		if !f.Scope.All && d.owner[a.MailingID] != f.Scope.UserID {
			continue
		}
		ms := byMailing[a.MailingID]
		if ms == nil {
			ms = &mailing.MailingStat{MailingID: a.MailingID, Subject: d.subject[a.MailingID]}
			byMailing[a.MailingID] = ms
			sentByMailing[a.MailingID] = map[int64]bool{}
		}
		ds := byDay[day]
		if ds == nil {
			ds = &mailing.DayStat{}
			byDay[day] = ds
		}
		if a.Status == mailing.AttemptSuccess {
			want.Success++
			ms.Success++
			ds.Success++
			sentDel[a.DeliveryID] = true
			sentByMailing[a.MailingID][a.DeliveryID] = true
		} else {
			want.Failure++
			ms.Failure++
			ds.Failure++
			failures[a.Response]++
		}
	}
	want.Sent = len(sentDel)
	for id, ms := range byMailing {
		ms.Sent = len(sentByMailing[id])
		want.Mailings = append(want.Mailings, *ms)
	}
	sort.Slice(want.Mailings, func(i, j int) bool {
		a, b := want.Mailings[i], want.Mailings[j]
		if a.Sent != b.Sent {
			return a.Sent > b.Sent
		}
		if a.Success != b.Success {
			return a.Success > b.Success
		}
		if a.Failure != b.Failure {
			return a.Failure > b.Failure
		}
		return a.MailingID > b.MailingID
	})
	if len(want.Mailings) > mailing.StatsTopMailings {
		want.Mailings = want.Mailings[:mailing.StatsTopMailings]
	}
	for r, n := range failures {
		want.Failures = append(want.Failures, mailing.FailureStat{Response: r, Count: n, Example: r})
	}
	sort.Slice(want.Failures, func(i, j int) bool {
		a, b := want.Failures[i], want.Failures[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Response < b.Response
	})
	if len(want.Failures) > mailing.StatsTopFailures {
		want.Failures = want.Failures[:mailing.StatsTopFailures]
	}
	for day, _ := time.ParseInLocation(time.DateOnly, first, loc); day.Format(time.DateOnly) <= last; day = day.AddDate(0, 0, 1) {
		ds := mailing.DayStat{Day: day}
		if got := byDay[day.Format(time.DateOnly)]; got != nil {
			ds.Success, ds.Failure = got.Success, got.Failure
		}
		want.Days = append(want.Days, ds)
	}
	return want
}

// compare checks every figure the store computes against the test's own count.
func (d *statsData) compare(t *testing.T, name string, f mailing.StatsFilter) *mailing.Stats {
	t.Helper()
	got, err := d.st.Stats(d.ctx, f)
	if err != nil {
		t.Fatalf("%s: Stats: %v", name, err)
	}
	want := d.expected(f)
	if got.Success != want.Success || got.Failure != want.Failure || got.Sent != want.Sent {
		t.Errorf("%s: totals success/failure/sent = %d/%d/%d, want %d/%d/%d",
			name, got.Success, got.Failure, got.Sent, want.Success, want.Failure, want.Sent)
	}
	if len(got.Mailings) != len(want.Mailings) {
		t.Errorf("%s: %d mailings, want %d: %+v", name, len(got.Mailings), len(want.Mailings), got.Mailings)
	} else {
		for i := range want.Mailings {
			g, w := got.Mailings[i], want.Mailings[i]
			if g.MailingID != w.MailingID || g.Subject != w.Subject || g.Success != w.Success || g.Failure != w.Failure || g.Sent != w.Sent {
				t.Errorf("%s: mailing row %d = %+v, want %+v", name, i, g, w)
			}
		}
	}
	if fmt.Sprint(got.Failures) != fmt.Sprint(want.Failures) {
		t.Errorf("%s: top failures = %v, want %v", name, got.Failures, want.Failures)
	}
	if len(got.Days) != len(want.Days) {
		t.Fatalf("%s: %d days, want %d", name, len(got.Days), len(want.Days))
	}
	sumS, sumF := 0, 0
	for i := range want.Days {
		g, w := got.Days[i], want.Days[i]
		if !g.Day.Equal(w.Day) || g.Day.Location() != f.Loc || g.Success != w.Success || g.Failure != w.Failure {
			t.Errorf("%s: day %d = %s %d/%d, want %s %d/%d", name, i,
				g.Day.Format(time.RFC3339), g.Success, g.Failure, w.Day.Format(time.RFC3339), w.Success, w.Failure)
		}
		sumS, sumF = sumS+g.Success, sumF+g.Failure
	}
	if sumS != got.Success || sumF != got.Failure {
		t.Errorf("%s: days add up to %d/%d, totals are %d/%d", name, sumS, sumF, got.Success, got.Failure)
	}
	return got
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func date(loc *time.Location, y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 12, 0, 0, 0, loc)
}

var failureTexts = []string{
	"550 5.1.1 user unknown", "552 mailbox full", "554 rejected as spam", "421 try again later",
	"451 greylisted", "dial tcp: connection refused", "535 authentication failed", "553 bad address",
	"450 mailbox busy", "554 relay denied", "timeout", "521 does not accept mail",
}

// Figures for many attempts across days, hours, owners and zones, each checked against
// the test's own count of what it inserted.
func TestStatsMatchTheTestsOwnCounts(t *testing.T) {
	d := newStatsData(t)
	ann, bob := d.user(t, "ann@example.com"), d.user(t, "bob@example.com")
	annMailings := []int64{d.mailing(t, ann, "Ann's news"), d.mailing(t, ann, "Ann's offers"), d.mailing(t, ann, "Ann's digest")}
	bobMailing := d.mailing(t, bob, "Bob's letter")
	all := append(append([]int64{}, annMailings...), bobMailing)

	rng := rand.New(rand.NewSource(7))
	base := time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 600; i++ {
		m := all[rng.Intn(len(all))]
		at := base.Add(time.Duration(rng.Int63n(int64(11 * 24 * time.Hour))))
		if rng.Intn(3) == 0 {
			// A failure, sometimes retried to a success of the same delivery.
			resp := failureTexts[min(rng.Intn(len(failureTexts)), rng.Intn(len(failureTexts)))]
			del := d.add(m, at, mailing.AttemptFailure, resp, 0)
			if rng.Intn(2) == 0 {
				d.add(m, at.Add(time.Duration(rng.Intn(180))*time.Minute), mailing.AttemptSuccess, "250 ok", del)
			}
			continue
		}
		d.add(m, at, mailing.AttemptSuccess, "250 ok", 0)
	}
	// Edges: local midnights in Moscow (21:00 UTC), just before them, fractional seconds,
	// a time given in another zone, and the very bounds of the period.
	moscow := mustLoc(t, "Europe/Moscow")
	for _, at := range []time.Time{
		time.Date(2026, 1, 3, 22, 30, 0, 0, time.UTC),
		time.Date(2026, 1, 3, 21, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 3, 20, 59, 59, 999000000, time.UTC),
		time.Date(2026, 1, 4, 0, 0, 0, 500000000, time.UTC),
		time.Date(2026, 1, 5, 1, 30, 0, 0, moscow),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 1, 7, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 31, 21, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 7, 21, 0, 0, 0, time.UTC),
	} {
		d.add(annMailings[0], at, mailing.AttemptSuccess, "250 ok", 0)
		d.add(bobMailing, at, mailing.AttemptFailure, "550 5.1.1 user unknown", 0)
	}
	d.insert(t)

	for _, zone := range []string{"UTC", "Europe/Moscow", "America/Los_Angeles", "Asia/Kolkata"} {
		loc := mustLoc(t, zone)
		from, to := date(loc, 2026, 1, 1), date(loc, 2026, 1, 7)
		d.compare(t, zone+" ann", mailing.StatsFilter{Scope: mailing.Scope{UserID: ann}, Loc: loc, From: from, To: to})
		d.compare(t, zone+" bob", mailing.StatsFilter{Scope: mailing.Scope{UserID: bob}, Loc: loc, From: from, To: to})
		d.compare(t, zone+" all", mailing.StatsFilter{Scope: mailing.Scope{UserID: ann, All: true}, Loc: loc, From: from, To: to})
		d.compare(t, zone+" one day", mailing.StatsFilter{Scope: mailing.Scope{All: true}, Loc: loc, From: date(loc, 2026, 1, 4), To: date(loc, 2026, 1, 4)})
	}

	// Owner scoping, stated outright: Bob's attempts never reach Ann's figures, and the
	// service-wide figures are the two owners' together.
	loc := time.UTC
	from, to := date(loc, 2025, 12, 1), date(loc, 2026, 1, 31)
	annSt := d.compare(t, "ann whole", mailing.StatsFilter{Scope: mailing.Scope{UserID: ann}, Loc: loc, From: from, To: to})
	bobSt := d.compare(t, "bob whole", mailing.StatsFilter{Scope: mailing.Scope{UserID: bob}, Loc: loc, From: from, To: to})
	allSt := d.compare(t, "all whole", mailing.StatsFilter{Scope: mailing.Scope{All: true}, Loc: loc, From: from, To: to})
	for _, m := range annSt.Mailings {
		if m.MailingID == bobMailing {
			t.Error("Bob's mailing is in Ann's figures")
		}
	}
	if allSt.Success != annSt.Success+bobSt.Success || allSt.Failure != annSt.Failure+bobSt.Failure {
		t.Errorf("service-wide %d/%d is not Ann's %d/%d plus Bob's %d/%d",
			allSt.Success, allSt.Failure, annSt.Success, annSt.Failure, bobSt.Success, bobSt.Failure)
	}
	if len(d.attempts) != allSt.Success+allSt.Failure {
		t.Errorf("the whole range counts %d attempts, %d were inserted", allSt.Success+allSt.Failure, len(d.attempts))
	}
	if len(allSt.Failures) != mailing.StatsTopFailures {
		t.Errorf("top failures has %d rows, want %d", len(allSt.Failures), mailing.StatsTopFailures)
	}
}

// The day of an attempt is the day in the user's zone: 22:30 UTC is already tomorrow in
// Moscow, and 18:45 UTC tomorrow in India (a half-hour offset) while 18:15 is not.
func TestStatsBucketDaysInTheUsersZone(t *testing.T) {
	d := newStatsData(t)
	owner := d.user(t, "tz@example.com")
	m := d.mailing(t, owner, "Zones")
	d.add(m, time.Date(2026, 1, 3, 22, 30, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)
	d.add(m, time.Date(2026, 1, 3, 18, 45, 0, 0, time.UTC), mailing.AttemptFailure, "451 later", 0)
	d.add(m, time.Date(2026, 1, 3, 18, 15, 0, 0, time.UTC), mailing.AttemptFailure, "451 later", 0)
	d.insert(t)

	day := func(loc *time.Location, st *mailing.Stats, dd int) mailing.DayStat {
		t.Helper()
		for _, ds := range st.Days {
			if ds.Day.Equal(time.Date(2026, 1, dd, 0, 0, 0, 0, loc)) {
				return ds
			}
		}
		t.Fatalf("no day %d in %v", dd, st.Days)
		return mailing.DayStat{}
	}
	get := func(loc *time.Location) *mailing.Stats {
		t.Helper()
		st, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{UserID: owner}, Loc: loc, From: date(loc, 2026, 1, 2), To: date(loc, 2026, 1, 5)})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Days) != 4 {
			t.Fatalf("%s: %d days, want 4", loc, len(st.Days))
		}
		return st
	}
	utc := get(time.UTC)
	if got := day(time.UTC, utc, 3); got.Success != 1 || got.Failure != 2 {
		t.Errorf("UTC Jan 3 = %d/%d, want 1/2", got.Success, got.Failure)
	}
	msk := mustLoc(t, "Europe/Moscow")
	st := get(msk)
	if got := day(msk, st, 3); got.Success != 0 || got.Failure != 2 {
		t.Errorf("Moscow Jan 3 = %d/%d, want 0/2", got.Success, got.Failure)
	}
	if got := day(msk, st, 4); got.Success != 1 || got.Failure != 0 {
		t.Errorf("Moscow Jan 4 = %d/%d, want 1/0 (22:30 UTC is 01:30 next day)", got.Success, got.Failure)
	}
	ist := mustLoc(t, "Asia/Kolkata")
	st = get(ist)
	if got := day(ist, st, 3); got.Failure != 1 {
		t.Errorf("India Jan 3 failures = %d, want 1 (18:15 UTC is 23:45)", got.Failure)
	}
	if got := day(ist, st, 4); got.Failure != 1 || got.Success != 1 {
		t.Errorf("India Jan 4 = %d/%d, want 1/1 (18:45 UTC is 00:15)", got.Success, got.Failure)
	}
	// Days across a daylight-saving change keep their local midnights.
	ny := mustLoc(t, "America/New_York")
	dst, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{All: true}, Loc: ny, From: date(ny, 2026, 3, 7), To: date(ny, 2026, 3, 9)})
	if err != nil {
		t.Fatal(err)
	}
	for i, ds := range dst.Days {
		if want := time.Date(2026, 3, 7+i, 0, 0, 0, 0, ny); !ds.Day.Equal(want) {
			t.Errorf("DST day %d = %s, want %s", i, ds.Day, want)
		}
	}
}

// SQLite keeps bun's times as text with an offset; strftime must read them as instants.
func TestStatsSQLiteReadsStoredTimes(t *testing.T) {
	d := newStatsData(t)
	if d.st.Dialect != "sqlite" {
		t.Skip("SQLite only")
	}
	owner := d.user(t, "lite@example.com")
	m := d.mailing(t, owner, "Lite")
	at := time.Date(2026, 1, 5, 9, 0, 0, 250000000, time.UTC)
	d.add(m, at, mailing.AttemptSuccess, "250 ok", 0)
	d.insert(t)
	var raw string
	var epoch int64
	if err := d.st.DB.NewRaw("SELECT CAST(attempted_at AS TEXT), CAST(strftime('%s', attempted_at) AS INTEGER) FROM attempts").
		Scan(d.ctx, &raw, &epoch); err != nil {
		t.Fatal(err)
	}
	if raw != "2026-01-05 09:00:00.25+00:00" {
		t.Logf("stored as %q", raw)
	}
	if epoch != at.Unix() {
		t.Errorf("strftime('%%s', %q) = %d, want %d", raw, epoch, at.Unix())
	}
}

func TestStatsOfAnEmptyPeriod(t *testing.T) {
	d := newStatsData(t)
	owner := d.user(t, "none@example.com")
	m := d.mailing(t, owner, "Quiet")
	d.add(m, time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)
	d.insert(t)
	st, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{UserID: owner}, Loc: time.UTC, From: date(time.UTC, 2026, 1, 1), To: date(time.UTC, 2026, 1, 30)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Success != 0 || st.Failure != 0 || st.Sent != 0 || len(st.Mailings) != 0 || len(st.Failures) != 0 {
		t.Errorf("empty period has figures: %+v", st)
	}
	if len(st.Days) != 30 {
		t.Errorf("%d days, want 30", len(st.Days))
	}
	for _, ds := range st.Days {
		if ds.Success != 0 || ds.Failure != 0 {
			t.Errorf("day %s has attempts", ds.Day)
		}
	}
}

// In Chile clocks jump from 00:00 to 01:00 on the first Sunday of September: that day has
// no midnight. Its days must still be counted once each, starting at 01:00, and the page
// must come back (stepping by midnights never left 2023-09-02).
func TestStatsAcrossADayWithoutMidnight(t *testing.T) {
	d := newStatsData(t)
	owner := d.user(t, "cl@example.com")
	m := d.mailing(t, owner, "Chile")
	scl := mustLoc(t, "America/Santiago")
	d.add(m, time.Date(2023, 9, 3, 0, 30, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)    // Sep 2, 20:30 local
	d.add(m, time.Date(2023, 9, 3, 4, 30, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)    // Sep 3, 01:30 local
	d.add(m, time.Date(2023, 9, 4, 2, 59, 0, 0, time.UTC), mailing.AttemptFailure, "451 later", 0) // Sep 3, 23:59 local
	d.insert(t)
	from := time.Date(2023, 9, 1, 12, 0, 0, 0, scl)
	to := time.Date(2023, 9, 5, 12, 0, 0, 0, scl)
	done := make(chan struct{})
	var st *mailing.Stats
	var err error
	go func() {
		defer close(done)
		st, err = d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{UserID: owner}, Loc: scl, From: from, To: to})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Stats never returned for a period holding a day without midnight")
	}
	if err != nil {
		t.Fatal(err)
	}
	var days []string
	for _, ds := range st.Days {
		days = append(days, ds.Day.Format("2006-01-02 15:04"))
	}
	want := []string{"2023-09-01 00:00", "2023-09-02 00:00", "2023-09-03 01:00", "2023-09-04 00:00", "2023-09-05 00:00"}
	if strings.Join(days, ",") != strings.Join(want, ",") {
		t.Fatalf("days %v, want %v", days, want)
	}
	if got := st.Days[1]; got.Success != 1 || got.Failure != 0 {
		t.Errorf("Sep 2 = %d/%d, want 1/0", got.Success, got.Failure)
	}
	if got := st.Days[2]; got.Success != 1 || got.Failure != 1 {
		t.Errorf("Sep 3 = %d/%d, want 1/1", got.Success, got.Failure)
	}
	start, end := (mailing.StatsFilter{Loc: scl, From: time.Date(2023, 9, 3, 12, 0, 0, 0, scl), To: time.Date(2023, 9, 3, 12, 0, 0, 0, scl)}).Bounds()
	if !start.Equal(time.Date(2023, 9, 3, 4, 0, 0, 0, time.UTC)) || !end.Equal(time.Date(2023, 9, 4, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("Sep 3 bounds = [%s, %s), want [04:00Z, 03:00Z next day)", start.UTC(), end.UTC())
	}
}

// TestStatsCountBouncesPerMailingAndDay: bounces and complaints reported in the period are
// counted in total, on their mailing's row (those tied to one) and on their local day;
// another owner's and those outside the period are not.
func TestStatsCountBouncesPerMailingAndDay(t *testing.T) {
	d := newStatsData(t)
	ann, bob := d.user(t, "ann@example.com"), d.user(t, "bob@example.com")
	m := d.mailing(t, ann, "News")
	other := d.mailing(t, bob, "Bob's")
	msk := mustLoc(t, "Europe/Moscow")
	d.add(m, time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)
	d.add(other, time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC), mailing.AttemptSuccess, "250 ok", 0)
	d.insert(t)
	bounce := func(owner int64, mailingID *int64, kind string, at time.Time) {
		t.Helper()
		if _, err := d.st.RecordBounce(d.ctx, mailing.Bounce{OwnerID: owner, Email: "x@example.com", Kind: kind,
			Source: mailing.BounceFromWebhook, MailingID: mailingID, CreatedAt: at}, mailing.BouncePolicy{}); err != nil {
			t.Fatal(err)
		}
	}
	bounce(ann, &m, mailing.BounceHard, time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC))
	bounce(ann, &m, mailing.BounceSoft, time.Date(2026, 1, 3, 22, 30, 0, 0, time.UTC)) // Jan 4 in Moscow
	bounce(ann, &m, mailing.BounceComplaint, time.Date(2026, 1, 4, 10, 0, 0, 0, time.UTC))
	bounce(ann, nil, mailing.BounceComplaint, time.Date(2026, 1, 4, 11, 0, 0, 0, time.UTC)) // matched by address only
	bounce(ann, &m, mailing.BounceHard, time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC))       // outside the period
	bounce(bob, &other, mailing.BounceHard, time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC))   // another owner's

	st, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{UserID: ann}, Loc: msk, From: date(msk, 2026, 1, 2), To: date(msk, 2026, 1, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bounces != (mailing.BounceCounts{Hard: 1, Soft: 1, Complaints: 2}) {
		t.Errorf("period's bounces %+v, want 1 hard, 1 soft, 2 complaints", st.Bounces)
	}
	if len(st.Mailings) != 1 || st.Mailings[0].Bounces != 2 || st.Mailings[0].Complaints != 1 {
		t.Errorf("per mailing %+v, want News with 2 bounces and 1 complaint", st.Mailings)
	}
	var perDay []int
	for _, ds := range st.Days {
		perDay = append(perDay, ds.Bounces)
	}
	if fmt.Sprint(perDay) != "[0 1 3 0]" {
		t.Errorf("bounces per Moscow day Jan 2–5: %v, want [0 1 3 0]", perDay)
	}
	all, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{All: true}, Loc: msk, From: date(msk, 2026, 1, 2), To: date(msk, 2026, 1, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if all.Bounces.Hard != 2 {
		t.Errorf("the whole service's hard bounces: %d, want 2", all.Bounces.Hard)
	}
}

// Failures are grouped by their normalised reason: timeouts to different local ports are
// one row, not one each; attempts from before reasons were kept group by their text.
func TestTopFailuresGroupByReason(t *testing.T) {
	d := newStatsData(t)
	ann := d.user(t, "ann@example.com")
	m := d.mailing(t, ann, "News")
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for i, port := range []int{40001, 40002, 40003} {
		d.add(m, at.Add(time.Duration(i)*time.Minute), mailing.AttemptFailure,
			fmt.Sprintf("read tcp 127.0.0.1:%d->127.0.0.1:25: i/o timeout", port), 0)
		d.attempts[len(d.attempts)-1].Reason = "timeout"
	}
	d.add(m, at, mailing.AttemptFailure, "550 5.1.1 <a@example.com> no such user", 0)
	d.attempts[len(d.attempts)-1].Reason = "550 5.1.1"
	d.add(m, at, mailing.AttemptFailure, "550 5.1.1 <b@example.com> no such user", 0)
	d.attempts[len(d.attempts)-1].Reason = "550 5.1.1"
	d.add(m, at, mailing.AttemptFailure, "an old text", 0) // no reason: written before
	d.insert(t)
	st, err := d.st.Stats(d.ctx, mailing.StatsFilter{Scope: mailing.Scope{UserID: ann}, Loc: time.UTC,
		From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := "[{timeout 3 read tcp 127.0.0.1:40001->127.0.0.1:25: i/o timeout} {550 5.1.1 2 550 5.1.1 <a@example.com> no such user} {an old text 1 an old text}]"
	if got := fmt.Sprint(st.Failures); got != want {
		t.Fatalf("top failures %s, want %s", got, want)
	}
}

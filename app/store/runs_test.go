package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
	"mailer/app/store"
)

// deliveryWrites records how many rows each statement writing deliveries wrote.
type deliveryWrites struct {
	mu   sync.Mutex
	rows []int64
}

func (w *deliveryWrites) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (w *deliveryWrites) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if !strings.HasPrefix(strings.TrimSpace(e.Query), "INSERT INTO deliveries") || e.Err != nil || e.Result == nil {
		return
	}
	n, _ := e.Result.RowsAffected()
	w.mu.Lock()
	w.rows = append(w.rows, n)
	w.mu.Unlock()
}

func (w *deliveryWrites) take() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.rows
	w.rows = nil
	return got
}

// A run's deliveries are written a chunk at a time (a million in one statement outlasted
// the PostgreSQL driver's read timeout): every recipient exactly once, whatever the chunk
// size and wherever its boundaries fall — the last chunk full or empty, another owner's
// addresses between the owner's, a suppressed address at a boundary — for every audience
// and for a resend.
func TestRunWritesEachRecipientOnceChunkByChunk(t *testing.T) {
	f := newFixture(t)
	owner, other := f.user(t, "owner@example.com"), f.user(t, "other@example.com")
	const n = 2500
	var mine, theirs []mailing.Client
	for i := range n {
		// The other owner's addresses sort between the owner's: a range of the owner's
		// addresses must not take theirs.
		mine = append(mine, mailing.Client{Email: fmt.Sprintf("c%05d@example.com", i), FullName: fmt.Sprintf("C %d", i)})
		if i%5 == 0 {
			theirs = append(theirs, mailing.Client{Email: fmt.Sprintf("c%05d@example.net", i)})
		}
		if i%3 == 0 {
			mine[i].Tags = []string{"third"}
		}
	}
	for _, c := range [][]mailing.Client{mine, theirs} {
		for i := range c {
			c[i].Validate()
		}
	}
	if _, _, err := f.st.UpsertClients(f.ctx, owner, mine); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.UpsertClients(f.ctx, other, theirs); err != nil {
		t.Fatal(err)
	}
	var ids []int64 // the owner's clients, in the order of mine
	byID := map[int64]string{}
	if err := f.st.EachClient(f.ctx, owner, func(c *mailing.Client) error {
		ids = append(ids, c.ID)
		byID[c.ID] = c.Email
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	newMailing := func(t *testing.T, r mailing.Recipients) *mailing.Mailing {
		t.Helper()
		msg := &mailing.Message{OwnerID: owner, Subject: "Hi", Body: "Hello"}
		msg.Validate()
		if err := f.st.CreateMessage(f.ctx, msg); err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		m := &mailing.Mailing{OwnerID: owner, MessageID: msg.ID, StartAt: now, EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
		if err := f.st.SaveMailing(f.ctx, m, r); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Suppressed: the 1,000th address (the end of a chunk of 1,000) and every 400th.
	suppressed := map[string]bool{mine[999].Email: true}
	for i := 0; i < n; i += 400 {
		suppressed[mine[i].Email] = true
	}
	var list []mailing.Suppression
	for e := range suppressed {
		list = append(list, mailing.Suppression{OwnerID: owner, Email: e, Reason: mailing.SuppressManual})
	}
	if _, err := f.st.Suppress(f.ctx, list); err != nil {
		t.Fatal(err)
	}
	writes := &deliveryWrites{}
	f.st.DB.AddQueryHook(writes)

	// check starts a run and compares its deliveries with want (client ids), each once,
	// and the statements' sizes with the chunk.
	check := func(t *testing.T, chunk int, m *mailing.Mailing, resendOf int64, want []int64) *mailing.Run {
		t.Helper()
		kind := mailing.RunManual
		if resendOf != 0 {
			kind = mailing.RunResend
		}
		run, err := f.st.CreateRun(f.ctx, m, kind, nil, resendOf)
		if err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			ClientID int64
			Email    string
			State    string
		}
		if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("client_id", "email", "state").
			Where("run_id = ?", run.ID).OrderExpr("client_id").Scan(f.ctx, &rows); err != nil {
			t.Fatal(err)
		}
		var got []int64
		pending := 0
		for _, r := range rows {
			got = append(got, r.ClientID)
			if r.Email != byID[r.ClientID] {
				t.Errorf("delivery to client %d has address %q, want %q", r.ClientID, r.Email, byID[r.ClientID])
			}
			wantState := mailing.DeliveryPending
			if suppressed[r.Email] {
				wantState = mailing.DeliverySuppressed
			}
			if r.State != wantState {
				t.Errorf("delivery to %s is %s, want %s", r.Email, r.State, wantState)
			}
			if r.State == mailing.DeliveryPending {
				pending++
			}
		}
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Fatalf("run wrote %d deliveries, want %d, one per recipient (first difference: %v)", len(got), len(want), firstDiff(got, want))
		}
		if run.Total != pending {
			t.Errorf("run total %d, want %d (the recipients not suppressed)", run.Total, pending)
		}
		sizes := writes.take()
		if len(sizes) < 2 && chunk < len(want) {
			t.Errorf("deliveries written by %d statement(s) %v, want one per chunk of %d", len(sizes), sizes, chunk)
		}
		for _, s := range sizes {
			if s > int64(chunk) {
				t.Errorf("a statement wrote %d deliveries, more than the chunk of %d (all: %v)", s, chunk, sizes)
			}
		}
		return run
	}

	// The tag is on every third client; two more are picked by hand.
	var third []int64
	for i, id := range ids {
		if i%3 == 0 || i == 1 || i == 2 {
			third = append(third, id)
		}
	}
	thirdAndTwo := mailing.Recipients{Tags: []string{"third"}, ClientIDs: []int64{ids[1], ids[2]}}
	for _, chunk := range []int{1000, 500, 1} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			if chunk == 1 {
				// One recipient a statement: slow, so a tag's audience only.
				store.SetDeliveryChunk(t, 1)
				check(t, chunk, newMailing(t, thirdAndTwo), 0, third)
				return
			}
			store.SetDeliveryChunk(t, chunk)
			all := newMailing(t, mailing.Recipients{All: true})
			run := check(t, chunk, all, 0, ids)
			check(t, chunk, newMailing(t, thirdAndTwo), 0, third)

			// A resend takes the failed and cancelled deliveries of the run, each once.
			var failed []int64
			for i, id := range ids {
				if suppressed[byID[id]] {
					continue
				}
				state := mailing.DeliverySent
				switch {
				case i%7 == 0:
					state = mailing.DeliveryFailed
				case i%11 == 0:
					state = mailing.DeliveryCancelled
				}
				if state != mailing.DeliverySent {
					failed = append(failed, id)
				}
				if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("state = ?", state).
					Where("run_id = ? AND client_id = ?", run.ID, id).Exec(f.ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.st.FinishRun(f.ctx, run.ID); err != nil {
				t.Fatal(err)
			}
			check(t, chunk, all, run.ID, failed)
		})
	}
}

func firstDiff(a, b []int64) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %d, want %d", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// A claimer that keeps a cursor takes the deliveries after it first, and still every one
// that is due before it: claims handed back by a stopping worker and retries come due — so
// a run never ends with a delivery left behind the cursor.
func TestClaimsAfterTheCursorMissNothing(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "owner@example.com")
	var ids []int64
	for i := range 30 {
		ids = append(ids, f.client(t, owner, fmt.Sprintf("c%02d@example.com", i)))
	}
	m := f.mailing(t, owner, f.clock.Now().Add(24*time.Hour), ids...)
	run, err := f.st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cur store.ClaimCursor
	claim := func(n int) []mailing.Delivery {
		t.Helper()
		ds, err := f.st.ClaimNext(f.ctx, run.ID, "w", n, f.clock.Now().Add(time.Hour), &cur)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	idsOf := func(ds []mailing.Delivery) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	claimed := map[int64]int{}
	take := func(ds []mailing.Delivery) {
		for _, d := range ds {
			claimed[d.ID]++
		}
	}
	first, second := claim(10), claim(10)
	take(first)
	take(second)
	if len(first) != 10 || len(second) != 10 || slices.Max(idsOf(first)) > slices.Min(idsOf(second)) {
		t.Fatalf("claims out of order: %v then %v", idsOf(first), idsOf(second))
	}
	// Three of the first claim handed back (before the cursor), one of the second deferred.
	back := idsOf(first)[:3]
	if err := f.st.ReleaseClaims(f.ctx, "w", back); err != nil {
		t.Fatal(err)
	}
	deferred := second[0]
	at := f.clock.Now()
	if err := f.st.RecordOutcomes(f.ctx, "w", []store.Outcome{{Delivery: deferred, State: mailing.DeliveryPending,
		RetryAt: at.Add(time.Minute), Attempt: mailing.Attempt{MailingID: m.ID, RunID: run.ID, DeliveryID: deferred.ID,
			Email: deferred.Email, AttemptedAt: at, Status: mailing.AttemptFailure, SMTPCode: 451, Response: "451 4.3.0 later"}}}); err != nil {
		t.Fatal(err)
	}
	rest := claim(20)
	take(rest)
	got := idsOf(rest)
	if len(got) != 13 {
		t.Fatalf("claimed %d after the cursor and before it, want the 10 left and the 3 handed back", len(got))
	}
	for _, id := range back {
		if !slices.Contains(got, id) {
			t.Errorf("delivery %d, handed back before the cursor, was not claimed again", id)
		}
	}
	if slices.Contains(got, deferred.ID) || len(claim(5)) != 0 {
		t.Fatal("a delivery was claimed before it was due")
	}
	f.clock.Advance(2 * time.Minute)
	if again := claim(5); len(again) != 1 || again[0].ID != deferred.ID {
		t.Fatalf("after its retry came due: %v, want delivery %d", idsOf(again), deferred.ID)
	}
	claimed[deferred.ID]++
	if len(claimed) != 30 {
		t.Errorf("%d deliveries claimed, want all 30", len(claimed))
	}
	for id, n := range claimed {
		want := 1
		if id == deferred.ID || slices.Contains(back, id) {
			want = 2
		}
		if n != want {
			t.Errorf("delivery %d claimed %d times, want %d", id, n, want)
		}
	}
}

package store_test

import (
	"testing"
	"time"

	"mailer/app/mailing"
)

func TestHomeRecentRunsAndFirstSteps(t *testing.T) {
	f := newFixture(t)
	a, b := f.user(t, "a@example.com"), f.user(t, "b@example.com")

	// A new user has nothing yet: the first-steps panel shows every step.
	got, err := f.st.HomeCounts(f.ctx, mailing.Scope{UserID: a})
	if err != nil {
		t.Fatal(err)
	}
	if got.Clients != 0 || got.Messages != 0 || got.Mailings != 0 || len(got.Recent) != 0 {
		t.Fatalf("a new user's home: %+v", got)
	}

	end := f.clock.Now().Add(24 * time.Hour)
	x, y, z := f.client(t, a, "x@example.com"), f.client(t, a, "y@example.com"), f.client(t, a, "z@example.com")
	first := f.mailing(t, a, end, x)
	second := f.mailing(t, a, end, x, y, z)
	other := f.mailing(t, b, end, f.client(t, b, "w@example.com"))
	r1, _ := f.runOf(t, first) // runOf marks what it left pending as sent
	r2, err := f.st.CreateRun(f.ctx, second, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Of the second run: y failed, z cancelled, x still pending.
	for email, state := range map[string]string{"y@example.com": mailing.DeliveryFailed, "z@example.com": mailing.DeliveryCancelled} {
		if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("state = ?", state).
			Where("run_id = ? AND email = ?", r2.ID, email).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	rb, _ := f.runOf(t, other)

	got, err = f.st.HomeCounts(f.ctx, mailing.Scope{UserID: a})
	if err != nil {
		t.Fatal(err)
	}
	if got.Clients != 1 || got.Messages != 1 {
		t.Fatalf("first steps of a user with clients and messages: clients %d, messages %d; want 1 and 1 (any)", got.Clients, got.Messages)
	}
	if len(got.Recent) != 2 {
		t.Fatalf("user a's recent runs: %+v, want 2 (not b's)", got.Recent)
	}
	newest, older := got.Recent[0], got.Recent[1]
	if newest.RunID != r2.ID || newest.MailingID != second.ID || newest.Subject != "Hi" || newest.Total != 3 ||
		newest.Sent != 0 || newest.Failed != 1 || newest.Cancelled != 1 || newest.Pending != 1 || newest.State() != mailing.RunRunning {
		t.Errorf("newest run: %+v (state %s)", newest, newest.State())
	}
	if older.RunID != r1.ID || older.Sent != 1 || older.Pending != 0 || older.State() != mailing.RunDone {
		t.Errorf("older run: %+v (state %s)", older, older.State())
	}
	// Once nothing is pending, failures name the state.
	if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("state = 'sent'").
		Where("run_id = ? AND state = 'pending'", r2.ID).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	all, err := f.st.HomeCounts(f.ctx, mailing.Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Recent) != 3 || all.Recent[0].RunID != rb.ID || all.Recent[0].OwnerEmail != "b@example.com" ||
		all.Recent[1].State() != mailing.RunWithFailures {
		t.Fatalf("service-wide recent runs: %+v", all.Recent)
	}
}

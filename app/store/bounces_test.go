package store_test

import (
	"testing"
	"time"

	"mailer/app/mailing"
)

// A report's key is taken with its bounces in one transaction: the same key again is a
// replay, refused with nothing stored; a report that failed stores nothing and may come
// again; keys older than a week are forgotten.
func TestRecordBouncesRefusesAReplayedReport(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.user(t, "ann@example.com"), f.user(t, "bob@example.com")
	f.client(t, ann, "gone@example.com")
	f.client(t, bob, "gone@example.com")
	owners, err := f.st.AddressOwners(f.ctx, " Gone@Example.com")
	if err != nil || len(owners) != 2 || owners[0] != ann || owners[1] != bob {
		t.Fatalf("AddressOwners = %v, %v", owners, err)
	}
	if none, err := f.st.AddressOwners(f.ctx, "nobody@example.com"); err != nil || len(none) != 0 {
		t.Fatalf("AddressOwners(nobody) = %v, %v", none, err)
	}
	policy := mailing.BouncePolicy{SoftLimit: 3, SoftWindow: 30 * 24 * time.Hour}
	hard := []mailing.Bounce{{OwnerID: ann, Email: "gone@example.com", Kind: mailing.BounceHard, Source: mailing.BounceFromWebhook, Detail: "550 5.1.1"}}
	count := func() int {
		n, err := f.st.DB.NewSelect().TableExpr("bounces").Count(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	// A bounce the database refuses (an unknown kind) rolls the key back with it.
	bad := []mailing.Bounce{{OwnerID: ann, Email: "gone@example.com", Kind: "bogus", Source: mailing.BounceFromWebhook}}
	if _, err := f.st.RecordBounces(f.ctx, "ses", "m-1", bad, policy); err == nil {
		t.Fatal("a bounce of an unknown kind was stored")
	}
	if n, err := f.st.RecordBounces(f.ctx, "ses", "m-1", hard, policy); err != nil || n != 1 {
		t.Fatalf("RecordBounces = %d, %v", n, err)
	}
	if _, err := f.st.RecordBounces(f.ctx, "ses", "m-1", hard, policy); mailing.ErrorCode(err) != mailing.ECONFLICT {
		t.Fatalf("replay: err = %v, want a conflict", err)
	}
	if count() != 1 {
		t.Fatalf("%d bounces stored, want 1", count())
	}
	// Keys are per source.
	if _, err := f.st.RecordBounces(f.ctx, "mailgun", "m-1", nil, policy); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	if _, err := f.st.RecordBounces(f.ctx, "sendgrid", "other", nil, policy); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.st.DB.NewSelect().TableExpr("bounce_events").Count(f.ctx); n != 1 {
		t.Fatalf("%d report keys kept after a week, want only the new one", n)
	}
	sup, err := f.st.ListSuppressions(f.ctx, mailing.Scope{UserID: ann}, mailing.ListParams{Limit: 10})
	if err != nil || len(sup.Items) != 1 || sup.Items[0].Reason != mailing.SuppressHardBounce {
		t.Fatalf("ann's suppressions = %+v, %v", sup.Items, err)
	}
}

func TestBounceTargetNamesTheDeliveryAndItsOwner(t *testing.T) {
	f := newFixture(t)
	ann := f.user(t, "ann@example.com")
	c := f.client(t, ann, "r@example.com")
	m := f.mailing(t, ann, f.clock.Now().Add(24*time.Hour), c)
	run, err := f.st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("id").Where("run_id = ?", run.ID).Scan(f.ctx, &id); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.BounceTarget(f.ctx, id)
	want := mailing.BounceTarget{DeliveryID: id, RunID: run.ID, MailingID: m.ID, OwnerID: ann, Email: "r@example.com"}
	if err != nil || got != want {
		t.Fatalf("BounceTarget = %+v, %v; want %+v", got, err, want)
	}
	if _, err := f.st.BounceTarget(f.ctx, id+1000); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("unknown delivery: %v", err)
	}
}

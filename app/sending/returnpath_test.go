package sending_test

import (
	"testing"
	"time"

	"mailer/app/mailing"
)

// With MAIL_RETURN_PATH each mail's MAIL FROM is a VERP address whose token verifies to that
// very delivery, and its Message-ID parses back to the run and delivery too; without it the
// envelope sender stays the From address.
func TestReturnPathIsAVERPAddressPerDelivery(t *testing.T) {
	f := newFixture(t, fixtureOptions{n: 3})
	secret := []byte("test-secret-key-0123456789abcdef0123456789")
	e := f.engine("w1", nil)
	e.Options.Secret = secret
	e.Options.ReturnPath = "bounces@example.com"
	run := f.start(e, f.m)
	f.process(e, run.ID)
	got := f.sink.WaitFor(t, 3, 5*time.Second)
	var rows []deliveryRow
	if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("id", "email").Where("run_id = ?", run.ID).Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	byEmail := map[string]int64{}
	for _, r := range rows {
		byEmail[r.Email] = r.ID
	}
	for _, r := range got {
		id, ok := mailing.ParseVERPAddress("bounces@example.com", secret, r.From)
		if !ok || id != byEmail[r.To[0]] {
			t.Fatalf("MAIL FROM %q to %s: delivery %d, %v; want %d", r.From, r.To[0], id, ok, byEmail[r.To[0]])
		}
		if runID, d, ok := mailing.ParseMessageID(r.MessageID); !ok || runID != run.ID || d != byEmail[r.To[0]] {
			t.Fatalf("Message-ID %q does not name run %d, delivery %d", r.MessageID, run.ID, byEmail[r.To[0]])
		}
		if _, ok := mailing.ParseVERPAddress("bounces@example.com", []byte("another secret of enough length!!"), r.From); ok {
			t.Fatal("a token verified under another secret")
		}
	}

	e.Options.ReturnPath = ""
	m2 := f.newMailing(f.clients[0].ID)
	f.process(e, f.start(e, m2).ID)
	if last := f.sink.WaitFor(t, 4, 5*time.Second)[3]; last.From != "m@example.com" {
		t.Fatalf("MAIL FROM without MAIL_RETURN_PATH = %q", last.From)
	}
}

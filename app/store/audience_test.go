package store_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"mailer/app/mailing"
)

func (f *fixture) tagged(t *testing.T, owner int64, email string, tags ...string) int64 {
	t.Helper()
	c := &mailing.Client{OwnerID: owner, Email: email, Tags: tags}
	c.Validate()
	if err := f.st.SaveClient(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// runOf starts a run of m and returns its recipients' emails by delivery state.
func (f *fixture) runOf(t *testing.T, m *mailing.Mailing) (*mailing.Run, map[string][]string) {
	t.Helper()
	run, err := f.st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Email, State, Reason string }
	if err := f.st.DB.NewSelect().TableExpr("deliveries").Column("email", "state", "reason").
		Where("run_id = ?", run.ID).OrderExpr("email").Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, r := range rows {
		by[r.State] = append(by[r.State], r.Email)
		if r.State == mailing.DeliverySuppressed {
			by["reason:"+r.Email] = []string{r.Reason}
		}
	}
	// The run is finished before the next starts: a manual run waits for the one going on.
	if _, err := f.st.DB.NewUpdate().TableExpr("deliveries").Set("state = 'sent'").Where("run_id = ? AND state = 'pending'", run.ID).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	return run, by
}

func TestTagsAreOneOwnersCaseInsensitiveAndCounted(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.user(t, "ann@example.com"), f.user(t, "bob@example.com")
	f.tagged(t, ann, "a@x.example", "VIP", "news")
	f.tagged(t, ann, "b@x.example", "vip")
	f.tagged(t, bob, "c@x.example", "vip")
	tags, err := f.st.ListTags(f.ctx, mailing.Scope{UserID: ann})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range tags {
		got = append(got, tg.Name+"="+strconv.Itoa(tg.Clients))
	}
	if !slices.Equal(got, []string{"news=1", "VIP=2"}) {
		t.Fatalf("ann's tags %v, want news=1 VIP=2 (named as first typed, bob's not counted)", got)
	}
	page, err := f.st.ListClients(f.ctx, mailing.Scope{UserID: ann}, mailing.ListParams{Tag: "Vip"})
	if err != nil || len(page.Items) != 2 || !slices.Equal(page.Items[0].Tags, []string{"news", "VIP"}) {
		t.Fatalf("ann's clients tagged Vip: %+v %v", page.Items, err)
	}
	// Bulk tagging: every client the list shows for its search, then one picked by id.
	n, err := f.st.TagClients(f.ctx, ann, "Spring", false, mailing.ClientSelection{All: true, Q: "a@"})
	if err != nil || n != 1 {
		t.Fatalf("tag the search's clients: %d %v", n, err)
	}
	n, err = f.st.TagClients(f.ctx, ann, "spring", true, mailing.ClientSelection{All: true})
	if err != nil || n != 1 {
		t.Fatalf("untag everyone: %d %v", n, err)
	}
	if n, err := f.st.TagClients(f.ctx, bob, "vip", false, mailing.ClientSelection{IDs: []int64{f.tagged(t, ann, "d@x.example")}}); err != nil || n != 0 {
		t.Fatalf("bob tagged ann's client: %d %v", n, err)
	}
}

func TestTheAudienceIsResolvedWhenEachRunStarts(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	picked := f.client(t, owner, "picked@example.com")
	f.tagged(t, owner, "vip1@example.com", "vip")
	f.tagged(t, owner, "other@example.com", "other")
	end := f.clock.Now().Add(30 * 24 * time.Hour)
	m := f.mailing(t, owner, end, picked)
	if err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: []int64{picked}, Tags: []string{"VIP"}}); err != nil {
		t.Fatal(err)
	}
	run, by := f.runOf(t, m)
	if run.Total != 2 || !slices.Equal(by["pending"], []string{"picked@example.com", "vip1@example.com"}) {
		t.Fatalf("first run %d: %v", run.Total, by)
	}
	// Tagged after the mailing was saved: in the next run.
	f.tagged(t, owner, "vip2@example.com", "vip")
	run, by = f.runOf(t, m)
	if run.Total != 3 || !slices.Contains(by["pending"], "vip2@example.com") {
		t.Fatalf("second run %d: %v", run.Total, by)
	}
	got, err := f.st.MailingByID(f.ctx, mailing.Scope{UserID: owner}, m.ID)
	if err != nil || got.Recipients != 3 {
		t.Fatalf("the audience now: %d %v", got.Recipients, err)
	}

	// All clients: those added after the save are in.
	all := f.mailing(t, owner, end, picked)
	if err := f.st.SaveMailing(f.ctx, all, mailing.Recipients{All: true}); err != nil {
		t.Fatal(err)
	}
	f.client(t, owner, "late@example.com")
	run, by = f.runOf(t, all)
	if run.Total != 5 || !slices.Contains(by["pending"], "late@example.com") {
		t.Fatalf("all-clients run %d: %v", run.Total, by)
	}
}

func TestASuppressedAddressIsRecordedNeverSent(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	a, b := f.client(t, owner, "a@example.com"), f.client(t, owner, "b@example.com")
	m := f.mailing(t, owner, f.clock.Now().Add(48*time.Hour), a, b)
	if _, err := f.st.Suppress(f.ctx, []mailing.Suppression{{OwnerID: owner, Email: "B@example.com", Reason: mailing.SuppressComplaint}}); err != nil {
		t.Fatal(err)
	}
	run, by := f.runOf(t, m)
	if run.Total != 1 || !slices.Equal(by["pending"], []string{"a@example.com"}) || !slices.Equal(by["suppressed"], []string{"b@example.com"}) ||
		by["reason:b@example.com"][0] != mailing.SuppressComplaint {
		t.Fatalf("run %d: %v", run.Total, by)
	}
	p, err := f.st.Progress(f.ctx, run.ID)
	if err != nil || p.Suppressed != 1 || p.Total != 1 || !p.Done() {
		t.Fatalf("progress %+v %v", p, err)
	}
	// Nobody left to send to: no run.
	if _, err := f.st.Suppress(f.ctx, []mailing.Suppression{{OwnerID: owner, Email: "a@example.com", Reason: mailing.SuppressManual}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0); err != mailing.ErrNoRecipients {
		t.Fatalf("a run to suppressed addresses only: %v", err)
	}
}

func TestAStrongerReasonReplacesAWeakerOne(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	reasonOf := func(email string) string {
		page, err := f.st.ListSuppressions(f.ctx, mailing.Scope{UserID: owner}, mailing.ListParams{Q: email})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("suppression of %s: %+v %v", email, page.Items, err)
		}
		return page.Items[0].Reason
	}
	for _, r := range []string{mailing.SuppressManual, mailing.SuppressComplaint, mailing.SuppressUnsubscribed} {
		if _, err := f.st.Suppress(f.ctx, []mailing.Suppression{{OwnerID: owner, Email: "x@example.com", Reason: r}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := reasonOf("x@example.com"); got != mailing.SuppressComplaint {
		t.Fatalf("reason %q, want the complaint to stay", got)
	}
}

func TestSoftBouncesSuppressOnceTheyPassTheLimitWithinTheWindow(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	policy := mailing.BouncePolicy{SoftLimit: 3, SoftWindow: 30 * 24 * time.Hour}
	bounce := func(kind string, at time.Time) string {
		reason, err := f.st.RecordBounce(f.ctx, mailing.Bounce{OwnerID: owner, Email: "soft@example.com", Kind: kind,
			Source: mailing.BounceFromSMTP, Detail: "452 4.2.2 mailbox full", CreatedAt: at}, policy)
		if err != nil {
			t.Fatal(err)
		}
		return reason
	}
	now := f.clock.Now()
	if r := bounce(mailing.BounceSoft, now.Add(-40*24*time.Hour)); r != "" {
		t.Fatalf("first soft bounce suppressed: %q", r)
	}
	bounce(mailing.BounceSoft, now.Add(-2*24*time.Hour))
	if r := bounce(mailing.BounceSoft, now.Add(-time.Hour)); r != "" {
		t.Fatalf("two soft bounces in the window suppressed: %q", r)
	}
	if r := bounce(mailing.BounceSoft, now); r != mailing.SuppressSoftBounces {
		t.Fatalf("third soft bounce in the window: %q", r)
	}
	if r, err := f.st.RecordBounce(f.ctx, mailing.Bounce{OwnerID: owner, Email: "Hard@example.com", Kind: mailing.BounceHard, Source: mailing.BounceFromWebhook}, policy); err != nil || r != mailing.SuppressHardBounce {
		t.Fatalf("hard bounce: %q %v", r, err)
	}
}

func TestAnUnsubscribeIsASuppressionAndRemovingItResubscribes(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	id := f.client(t, owner, "leaver@example.com")
	if _, err := f.st.Unsubscribe(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	page, err := f.st.ListSuppressions(f.ctx, mailing.Scope{UserID: owner}, mailing.ListParams{Status: mailing.SuppressUnsubscribed})
	if err != nil || len(page.Items) != 1 || page.Items[0].Email != "leaver@example.com" {
		t.Fatalf("suppressions after an unsubscribe: %+v %v", page.Items, err)
	}
	if _, err := f.st.Unsuppress(f.ctx, owner+1, page.Items[0].ID); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("another owner removed it: %v", err)
	}
	if _, err := f.st.Unsuppress(f.ctx, owner, page.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	c, err := f.st.ClientByID(f.ctx, mailing.Scope{UserID: owner}, id)
	if err != nil || c.UnsubscribedAt != nil {
		t.Fatalf("client after the removal: %+v %v", c, err)
	}
}

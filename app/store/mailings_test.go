package store_test

import (
	"context"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

type fixture struct {
	st    *store.Store
	clock *testutil.Clock
	ctx   context.Context
}

func newFixture(t *testing.T) *fixture {
	clock := testutil.NewClock()
	return &fixture{st: testutil.DB(t, clock), clock: clock, ctx: context.Background()}
}

func (f *fixture) user(t *testing.T, email string) int64 {
	t.Helper()
	u := &mailing.User{Email: email}
	if err := f.st.CreateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (f *fixture) client(t *testing.T, owner int64, email string) int64 {
	t.Helper()
	c := &mailing.Client{OwnerID: owner, Email: email}
	c.Validate()
	if err := f.st.CreateClient(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) mailing(t *testing.T, owner int64, end time.Time, clients ...int64) *mailing.Mailing {
	t.Helper()
	msg := &mailing.Message{OwnerID: owner, Subject: "Hi", Body: "Hello"}
	msg.Validate()
	if err := f.st.CreateMessage(f.ctx, msg); err != nil {
		t.Fatal(err)
	}
	m := &mailing.Mailing{OwnerID: owner, MessageID: msg.ID, StartAt: end.Add(-24 * time.Hour), EndAt: end, Period: mailing.PeriodNone}
	if err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: clients}); err != nil {
		t.Fatal(err)
	}
	return m
}

// The Go rule and the SQL expression must agree, above all where the clock meets the end.
func TestStatusInGoAndSQLAgreeAtTheEdgesOfTheClock(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "o@example.com")
	c := f.client(t, owner, "r@example.com")
	now := f.clock.Now()
	for _, tc := range []struct {
		end       time.Duration
		attempted bool
		want      string
	}{
		{-time.Second, false, mailing.StatusFinished},
		{0, false, mailing.StatusFinished},
		{time.Second, false, mailing.StatusCreated},
		{-time.Second, true, mailing.StatusFinished},
		{0, true, mailing.StatusFinished},
		{time.Second, true, mailing.StatusRunning},
		{time.Microsecond, true, mailing.StatusRunning},
	} {
		m := f.mailing(t, owner, now.Add(tc.end), c)
		if tc.attempted {
			if err := f.st.MarkAttempted(f.ctx, m.ID, now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		stored, err := f.st.MailingByID(f.ctx, mailing.Scope{UserID: owner}, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		goStatus := mailing.Status(stored, f.clock.Now())
		sqlStatus, err := f.st.MailingStatus(f.ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if goStatus != tc.want || sqlStatus != tc.want {
			t.Errorf("end now%+v attempted=%v: Go %s, SQL %s, want %s", tc.end, tc.attempted, goStatus, sqlStatus, tc.want)
		}
		// The list filter uses the same expression.
		page, err := f.st.ListMailings(f.ctx, mailing.Scope{UserID: owner}, mailing.ListParams{Status: tc.want, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range page.Items {
			found = found || it.ID == m.ID
		}
		if !found {
			t.Errorf("end now%+v: not listed under %s", tc.end, tc.want)
		}
	}
	// Moving the clock past the end finishes a running mailing, in Go and in SQL.
	m := f.mailing(t, owner, now.Add(time.Hour), c)
	f.st.MarkAttempted(f.ctx, m.ID, now)
	f.clock.Advance(time.Hour)
	if st, _ := f.st.MailingStatus(f.ctx, m.ID); st != mailing.StatusFinished {
		t.Fatalf("after the clock passed the end: %s", st)
	}
}

func TestHomeCountsRunningExcludesDisabledAndBlockedOwners(t *testing.T) {
	f := newFixture(t)
	a, b := f.user(t, "a@example.com"), f.user(t, "b@example.com")
	a1, a2 := f.client(t, a, "x@example.com"), f.client(t, a, "y@example.com")
	b1 := f.client(t, b, "x@example.com") // the same address at another owner
	end := f.clock.Now().Add(24 * time.Hour)
	running := f.mailing(t, a, end, a1, a2)
	disabled := f.mailing(t, a, end, a1)
	f.mailing(t, a, end, a2) // created, never attempted
	blockedOwners := f.mailing(t, b, end, b1)
	for _, m := range []*mailing.Mailing{running, disabled, blockedOwners} {
		f.st.MarkAttempted(f.ctx, m.ID, f.clock.Now())
	}
	f.st.SetMailingDisabled(f.ctx, disabled.ID, true)
	f.st.SetBlocked(f.ctx, b, true)

	got, err := f.st.HomeCounts(f.ctx, mailing.Scope{UserID: a})
	if err != nil {
		t.Fatal(err)
	}
	// The three figures (the runs and first steps are TestHomeRecentRunsAndFirstSteps's).
	figures := func(h mailing.HomeCounts) [3]int { return [3]int{h.Mailings, h.Running, h.Recipients} }
	if want := [3]int{3, 1, 2}; figures(got) != want {
		t.Fatalf("user a: %+v, want mailings, running, recipients %v", got, want)
	}
	all, err := f.st.HomeCounts(f.ctx, mailing.Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	// Service-wide: x@ appears at two owners but is one recipient address.
	if want := [3]int{4, 1, 2}; figures(all) != want {
		t.Fatalf("service-wide: %+v, want mailings, running, recipients %v", all, want)
	}
}

func TestSaveMailingRefusesAnotherOwnersMessageAndClients(t *testing.T) {
	f := newFixture(t)
	a, b := f.user(t, "a@example.com"), f.user(t, "b@example.com")
	mine := f.client(t, a, "mine@example.com")
	theirs := f.client(t, b, "theirs@example.com")
	other := f.mailing(t, b, f.clock.Now().Add(time.Hour), theirs)
	m := &mailing.Mailing{OwnerID: a, MessageID: other.MessageID, StartAt: f.clock.Now(), EndAt: f.clock.Now().Add(time.Hour)}
	err := f.st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: []int64{mine, theirs}})
	var e *mailing.Error
	if err == nil || mailing.ErrorCode(err) != mailing.EINVALID {
		t.Fatalf("want a validation error, got %v", err)
	}
	e = err.(*mailing.Error)
	if e.Fields["message_id"] == "" || e.Fields["client_ids"] == "" {
		t.Fatalf("fields: %v", e.Fields)
	}
	if n, _ := f.st.HomeCounts(f.ctx, mailing.Scope{UserID: a}); n.Mailings != 0 {
		t.Fatal("a mailing was saved")
	}
}

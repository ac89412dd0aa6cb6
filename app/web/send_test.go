package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// mailingFor makes n clients, a message and a mailing for the user with email owner,
// through the store, and returns the mailing's id.
func mailingFor(t *testing.T, srv *testutil.Server, owner string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	st := srv.App.Store
	u, err := st.UserByEmail(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	batch := mailingSeq.Add(1)
	var ids []int64
	for i := 0; i < n; i++ {
		c := &mailing.Client{OwnerID: u.ID, Email: fmt.Sprintf("r%d.%d@example.com", batch, i), FullName: "Reader"}
		c.Validate()
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	msg := &mailing.Message{OwnerID: u.ID, Subject: "News for {{.Name}}", Body: "Hello {{.Name}}"}
	msg.Validate()
	if err := st.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	now := srv.Clock.Now()
	m := &mailing.Mailing{OwnerID: u.ID, MessageID: msg.ID, StartAt: now, EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := st.SaveMailing(ctx, m, mailing.Recipients{ClientIDs: ids}); err != nil {
		t.Fatal(err)
	}
	// Written through the store, not the site: move the data version as a web write would.
	srv.App.Versions.Bump(ctx, u.ID)
	return m.ID
}

func TestSendNowAnswersAtOnceAndProgressFollowsTheRun(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	a := account(t, srv, "sender@example.com", false)
	id := mailingFor(t, srv, "sender@example.com", 30)
	path := "/mailings/" + itoa(id)

	page := a.get(path)
	if !strings.Contains(page.Body, `action="`+path+`/send"`) || !strings.Contains(page.Body, "No send attempts yet.") {
		t.Fatalf("mailing page lacks the send button or the attempts section")
	}
	r := a.post(path+"/send", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, `id="send"`) || !strings.Contains(r.Body, "Sending started: 30 recipients.") {
		t.Fatalf("send now: %d %.400s", r.StatusCode, r.Body)
	}
	var last string
	testutil.Eventually(t, 20*time.Second, "the run to finish", func() bool {
		last = a.get(path+"/progress", "HX-Request", "true").Body
		return strings.Contains(last, `data-count="sent">30<`)
	})
	if strings.Contains(last, "hx-trigger") {
		t.Fatal("a finished run's progress still polls")
	}
	if sink.Count() != 30 {
		t.Fatalf("sink got %d messages, want 30", sink.Count())
	}
	att := a.get(path+"/attempts?status=success", "HX-Request", "true")
	if strings.Count(att.Body, "<tr>") != 26 || !strings.Contains(att.Body, "250 2.0.0 queued as") || !strings.Contains(att.Body, "Success") {
		t.Fatalf("attempts table: %.600s", att.Body)
	}
	if f := a.get(path+"/attempts?status=failure", "HX-Request", "true"); !strings.Contains(f.Body, "No send attempts yet.") {
		t.Fatal("failure filter shows rows")
	}
	// Russian statuses.
	a.post("/lang", url.Values{"lang": {"ru"}, "next": {"/"}})
	if ru := a.get(path + "/attempts"); !strings.Contains(ru.Body, "Успешно") {
		t.Fatal("attempt status not translated")
	}
	if st, _ := srv.App.Store.MailingStatus(context.Background(), id); st != mailing.StatusRunning {
		t.Fatalf("status after sending = %s, want running", st)
	}
}

func TestSendIsOwnersAloneAndRefusedWhenFinished(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "own@example.com", false)
	id := mailingFor(t, srv, "own@example.com", 2)
	path := "/mailings/" + itoa(id)
	if r := account(t, srv, "other@example.com", false).post(path+"/send", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("other user: %d", r.StatusCode)
	}
	m := account(t, srv, "boss@example.com", true)
	if r := m.post(path+"/send", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("manager: %d", r.StatusCode)
	}
	if r := m.get(path); strings.Contains(r.Body, path+"/send") {
		t.Fatal("manager offered the send button")
	}
	srv.Clock.Advance(48 * time.Hour)
	page := a.get(path)
	if !strings.Contains(page.Body, "This mailing has finished") || !strings.Contains(page.Body, "disabled") {
		t.Fatal("finished mailing's button is not disabled with the reason")
	}
	r := a.post(path+"/send", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send finished: %d", r.StatusCode)
	}
	if _, err := srv.App.Store.LatestRun(context.Background(), id); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatal("a run was started for a finished mailing")
	}
}

var mailingSeq atomic.Int64

func itoa(n int64) string { return strconvFormat(n) }

// While the mail server is unreachable the mailing page says so and until when sending
// waits, /healthz reports it (still 200: this process is fine), and the pause is counted;
// once the server is back the run finishes, labelled "Finished with failures" when a
// recipient's own address was refused ("Завершён с ошибками" in Russian).
func TestRelayOutageIsVisibleAndTheRunFinishesAfterIt(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL(), "SMTP_TIMEOUT": "2s"}})
	a := account(t, srv, "relay@example.com", false)
	id := mailingFor(t, srv, "relay@example.com", 5)
	path := "/mailings/" + itoa(id)
	sink.SetRelay(testutil.RelayDown)
	if r := a.post(path+"/send", nil, "HX-Request", "true"); r.StatusCode != 200 {
		t.Fatalf("send now: %d", r.StatusCode)
	}
	var last string
	testutil.Eventually(t, 20*time.Second, "the page to show the outage", func() bool {
		last = a.get(path+"/progress", "HX-Request", "true").Body
		return strings.Contains(last, "Mail server unreachable since")
	})
	if !strings.Contains(last, "next try at") || !strings.Contains(last, `data-count="failed">0<`) {
		t.Fatalf("progress during the outage: %.800s", last)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]string
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(health["mail_server"], "unreachable since ") || !strings.Contains(health["mail_server"], "next try at") {
		t.Fatalf("/healthz during the outage: %d %v", resp.StatusCode, health)
	}
	if n := counterValue(t, srv, "mailer_relay_pauses_total"); n < 1 {
		t.Errorf("mailer_relay_pauses_total = %v, want at least 1", n)
	}
	// One recipient's own address is refused; then the relay comes back and the pause ends.
	refused := firstRecipient(t, srv, id)
	sink.FailRecipient(refused, testutil.AtRcpt, testutil.Reject550)
	sink.SetRelay(testutil.RelayUp)
	testutil.Eventually(t, 30*time.Second, "the run to finish after the outage", func() bool {
		srv.Clock.Advance(time.Second) // the injected clock reaches the next try
		last = a.get(path+"/progress", "HX-Request", "true").Body
		return strings.Contains(last, `data-count="sent">4<`) && strings.Contains(last, `data-count="failed">1<`) &&
			!strings.Contains(last, "hx-trigger")
	})
	if !strings.Contains(last, "Finished with failures") || strings.Contains(last, "Mail server unreachable") {
		t.Fatalf("finished run: %.800s", last)
	}
	if resp, err := http.Get(srv.URL + "/healthz"); err == nil {
		json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
		if health["mail_server"] != "ok" {
			t.Errorf("/healthz after the outage: %v", health)
		}
	}
	a.post("/lang", url.Values{"lang": {"ru"}, "next": {"/"}})
	if ru := a.get(path+"/progress", "HX-Request", "true"); !strings.Contains(ru.Body, "Завершён с ошибками") {
		t.Errorf("the Russian label is missing: %.600s", ru.Body)
	}
}

func mustLatestRun(t *testing.T, srv *testutil.Server, mailingID int64) int64 {
	t.Helper()
	r, err := srv.App.Store.LatestRun(context.Background(), mailingID)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// firstRecipient is the email of the first delivery of the mailing's latest run.
func firstRecipient(t *testing.T, srv *testutil.Server, mailingID int64) string {
	t.Helper()
	var emails []string
	if err := srv.App.Store.DB.NewSelect().TableExpr("deliveries").Column("email").
		Where("run_id = ?", mustLatestRun(t, srv, mailingID)).OrderExpr("id").Limit(1).Scan(context.Background(), &emails); err != nil || len(emails) == 0 {
		t.Fatalf("first recipient: %v", err)
	}
	return emails[0]
}

// counterValue reads a counter of the App's registry.
func counterValue(t *testing.T, srv *testutil.Server, name string) float64 {
	t.Helper()
	mfs, err := srv.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			total := 0.0
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
			return total
		}
	}
	return -1
}

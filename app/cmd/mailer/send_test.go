package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/tasks"
	"mailer/app/testutil"
)

// sendEnv is a configuration of the test's own for `mailer send`, mailing through sink, and
// its store, migrated, for seeding and checking.
func sendEnv(t *testing.T, sink *testutil.SMTPServer) (map[string]string, *store.Store) {
	t.Helper()
	vars, open := userEnv(t)
	vars["SMTP_URL"] = sink.URL()
	vars["SMTP_TIMEOUT"] = "2s"
	vars["SECRET_KEY"] = "test-secret-key-0123456789abcdef0123456789"
	if out, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	return vars, open()
}

// seedMailing makes a user, n clients, a message and a mailing from start to end through the
// store, and returns the mailing.
func seedMailing(t *testing.T, st *store.Store, owner string, n int, start, end time.Time) *mailing.Mailing {
	t.Helper()
	ctx := context.Background()
	u, err := st.UserByEmail(ctx, owner)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		u = &mailing.User{Email: owner}
		err = st.CreateUser(ctx, u)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 0; i < n; i++ {
		c := &mailing.Client{OwnerID: u.ID, Email: fmt.Sprintf("reader%d.%d@example.com", i, time.Now().UnixNano()), FullName: fmt.Sprintf("Reader %d", i)}
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("client: %v", errs)
		}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	msg := &mailing.Message{OwnerID: u.ID, Subject: "News for {{.Name}}", Body: "Hello {{.Name}} <{{.Email}}>"}
	if errs := msg.Validate(); len(errs) > 0 {
		t.Fatalf("message: %v", errs)
	}
	if err := st.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	m := &mailing.Mailing{OwnerID: u.ID, MessageID: msg.ID, StartAt: start, EndAt: end, Period: mailing.PeriodNone}
	if errs := m.Validate(); len(errs) > 0 {
		t.Fatalf("mailing: %v", errs)
	}
	if err := st.SaveMailing(ctx, m, mailing.Recipients{ClientIDs: ids}); err != nil {
		t.Fatal(err)
	}
	return m
}

// openMailing is a mailing that may be sent now: started an hour ago, ending in a day.
func openMailing(t *testing.T, st *store.Store, n int) *mailing.Mailing {
	t.Helper()
	now := time.Now()
	return seedMailing(t, st, "owner@example.com", n, now.Add(-time.Hour), now.Add(24*time.Hour))
}

func runSend(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"send"}, args...), getenv(vars), strings.NewReader(""), &out)
	return out.String(), err
}

// exitCode is the status main exits with for err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ex exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	return 1
}

func idArg(m *mailing.Mailing) string { return strconv.FormatInt(m.ID, 10) }

// deliveryStates returns the state of each delivery of a run, by email.
func deliveryStates(t *testing.T, st *store.Store, runID int64) map[string]string {
	t.Helper()
	var rows []struct {
		Email string
		State string
	}
	if err := st.DB.NewSelect().TableExpr("deliveries").Column("email", "state").
		Where("run_id = ?", runID).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Email] = r.State
	}
	return out
}

func latestRun(t *testing.T, st *store.Store, mailingID int64) *mailing.Run {
	t.Helper()
	r, err := st.LatestRun(context.Background(), mailingID)
	if err != nil {
		t.Fatalf("latest run of mailing %d: %v", mailingID, err)
	}
	return r
}

func TestSendDeliversToEveryRecipient(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	m := openMailing(t, st, 3)

	out, err := runSend(t, vars, idArg(m))
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	run := latestRun(t, st, m.ID)
	if want := fmt.Sprintf("run %d done: sent 3, failed 0", run.ID); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if run.Kind != mailing.RunCLI || run.Total != 3 || run.FinishedAt == nil {
		t.Errorf("run = kind %q total %d finished %v, want a finished cli run of 3", run.Kind, run.Total, run.FinishedAt)
	}
	if n := sink.Count(); n != 3 {
		t.Fatalf("sink got %d messages, want 3", n)
	}
	for _, msg := range sink.Messages() {
		if !strings.HasPrefix(msg.Subject, "News for Reader ") || !strings.Contains(msg.Text, "Hello Reader ") {
			t.Errorf("message not rendered for its recipient: subject %q, text %q", msg.Subject, msg.Text)
		}
	}
	for email, state := range deliveryStates(t, st, run.ID) {
		if state != mailing.DeliverySent {
			t.Errorf("delivery to %s is %s, want sent", email, state)
		}
	}
}

func TestSendRefusesWithOneLine(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	ctx := context.Background()
	disabled := openMailing(t, st, 1)
	if err := st.SetMailingDisabled(ctx, disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	finished := seedMailing(t, st, "owner@example.com", 1, past, past.Add(24*time.Hour))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no id", nil, "usage: mailer send"},
		{"two ids", []string{"1", "2"}, "usage: mailer send"},
		{"not a number", []string{"abc"}, `"abc" is not a mailing id`},
		{"zero", []string{"0"}, `"0" is not a mailing id`},
		{"bad flag", []string{"--nope", "1"}, "nope"},
		{"bad wait", []string{"--wait", "soon", "1"}, "wait"},
		{"unknown id", []string{"999999"}, "no mailing with id 999999"},
		{"disabled", []string{idArg(disabled)}, "disabled"},
		{"finished", []string{idArg(finished)}, "finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runSend(t, vars, tc.args...)
			if err == nil {
				t.Fatalf("send %v succeeded, want an error; output %q", tc.args, out)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.want)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
		})
	}
	for _, m := range []*mailing.Mailing{disabled, finished} {
		if _, err := st.LatestRun(ctx, m.ID); mailing.ErrorCode(err) != mailing.ENOTFOUND {
			t.Errorf("a refused mailing %d got a run (err %v)", m.ID, err)
		}
	}
	if n := sink.Count(); n != 0 {
		t.Errorf("sink got %d messages from refused sends", n)
	}
}

func TestSendExitsThreeWhenRetriesStillWait(t *testing.T) {
	sink := testutil.StartSMTP(t)
	sink.SetMode(testutil.Defer451)
	vars, st := sendEnv(t, sink)
	vars["SEND_RETRY_BASE"] = "1h"
	m := openMailing(t, st, 1)

	start := time.Now()
	out, err := runSend(t, vars, "--wait", "1s", idArg(m))
	if err == nil {
		t.Fatalf("send with a deferring server succeeded:\n%s", out)
	}
	var ex exitError
	if !errors.As(err, &ex) || ex.code != exitRetriesPending {
		t.Fatalf("error %v (%T): want an exitError with code %d", err, err, exitRetriesPending)
	}
	if msg := err.Error(); !strings.Contains(msg, "wait for a retry") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line saying deliveries wait for a retry", msg)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("send took %s with --wait 1s and a retry an hour away", took)
	}
	run := latestRun(t, st, m.ID)
	states := deliveryStates(t, st, run.ID)
	if len(states) != 1 {
		t.Fatalf("deliveries = %v, want one", states)
	}
	for email, state := range states {
		if state != mailing.DeliveryPending {
			t.Errorf("delivery to %s is %s, want pending (for the workers' retry)", email, state)
		}
	}
	if run.FinishedAt != nil {
		t.Error("the run is marked finished with a delivery still pending")
	}
	if sink.Count() != 0 {
		t.Errorf("sink accepted %d messages in Defer451 mode", sink.Count())
	}
}

func TestSendReportsFailuresAndResendsOnlyTheFailed(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	m := openMailing(t, st, 3)

	// One recipient is refused permanently (not as a bounce: it stays mailable for the
	// resend), the others accepted: exit 2, the summary last.
	sink.FailNext(1, testutil.Reject554)
	out, err := runSend(t, vars, idArg(m))
	if code := exitCode(err); code != exitSomeFailed || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "1 of 3 recipients not sent") {
		t.Fatalf("send with a rejection: exit %d (%v), want %d and one line saying 1 of 3 not sent\n%s", code, err, exitSomeFailed, out)
	}
	first := latestRun(t, st, m.ID)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); !strings.HasPrefix(lines[len(lines)-1], fmt.Sprintf("run %d done:", first.ID)) {
		t.Errorf("the summary is not the last line:\n%s", out)
	}
	if want := fmt.Sprintf("run %d done: sent 2, failed 1", first.ID); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	var failed string
	for email, state := range deliveryStates(t, st, first.ID) {
		if state == mailing.DeliveryFailed {
			if failed != "" {
				t.Fatalf("two failed deliveries: %s and %s", failed, email)
			}
			failed = email
		}
	}
	if failed == "" {
		t.Fatal("no delivery is failed after a 550")
	}
	accepted := sink.Count()
	if accepted != 2 {
		t.Fatalf("sink accepted %d messages, want 2", accepted)
	}

	// --failed resends to that recipient alone, in a run of its own.
	out, err = runSend(t, vars, "--failed", idArg(m))
	if err != nil {
		t.Fatalf("send --failed: %v\n%s", err, out)
	}
	resend := latestRun(t, st, m.ID)
	if resend.ID == first.ID || resend.Kind != mailing.RunResend || resend.Total != 1 {
		t.Fatalf("resend run = id %d kind %q total %d, want a new resend run of 1 (first was %d)", resend.ID, resend.Kind, resend.Total, first.ID)
	}
	if want := fmt.Sprintf("run %d done: sent 1, failed 0", resend.ID); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	states := deliveryStates(t, st, resend.ID)
	if len(states) != 1 || states[failed] != mailing.DeliverySent {
		t.Errorf("resend deliveries = %v, want only %s, sent", states, failed)
	}
	msgs := sink.Messages()
	if len(msgs) != accepted+1 {
		t.Fatalf("sink has %d messages after the resend, want %d", len(msgs), accepted+1)
	}
	if to := msgs[len(msgs)-1].To; len(to) != 1 || to[0] != failed {
		t.Errorf("resend went to %v, want [%s]", to, failed)
	}
}

func TestSendFailedWithoutAnEarlierRun(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	m := openMailing(t, st, 1)
	_, err := runSend(t, vars, "--failed", idArg(m))
	if err == nil || !strings.Contains(err.Error(), "no run to resend") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("send --failed of a mailing never sent: err = %v, want one line saying there is no run", err)
	}
}

func TestSendAsyncRecordsTheRunForTheWorkers(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	m := openMailing(t, st, 2)

	_, err := runSend(t, vars, "--async", idArg(m))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("send --async without REDIS_URL: err = %v, want one line naming REDIS_URL", err)
	}
	if _, err := st.LatestRun(context.Background(), m.ID); mailing.ErrorCode(err) != mailing.ENOTFOUND {
		t.Fatalf("a refused --async recorded a run (err %v)", err)
	}

	redisURL := testutil.RedisURL(t)
	if redisURL == "" {
		t.Skip("TEST_REDIS_URL is not set: an embedded Redis would vanish with the command")
	}
	vars["REDIS_URL"] = redisURL
	out, err := runSend(t, vars, "--async", idArg(m))
	if err != nil {
		t.Fatalf("send --async: %v\n%s", err, out)
	}
	run := latestRun(t, st, m.ID)
	if want := fmt.Sprintf("run %d enqueued", run.ID); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if run.Kind != mailing.RunCLI || run.Total != 2 {
		t.Errorf("run = kind %q total %d, want a cli run of 2", run.Kind, run.Total)
	}
	p, err := st.Progress(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pending != 2 || p.Sent != 0 {
		t.Errorf("progress = %+v, want both deliveries pending for the workers", p)
	}
	if sink.Count() != 0 {
		t.Errorf("--async sent %d messages itself", sink.Count())
	}
	// The send tasks wait where the workers' send slots take them, not among the ticks.
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	if q, err := insp.GetQueueInfo(tasks.QueueSend); err != nil || q.Pending == 0 {
		t.Errorf("queue %s: %+v, %v; want the run's send tasks pending", tasks.QueueSend, q, err)
	}
	if q, err := insp.GetQueueInfo(tasks.QueueSchedule); err == nil && q.Size > 0 {
		t.Errorf("queue %s holds %d tasks after send --async, want none", tasks.QueueSchedule, q.Size)
	}
}

// The exit statuses a cron job reads: 0 only when every recipient was sent, 2 when the run
// finished with recipients not sent (here none was: the "0 sent, 15 failed" exited
// 0), 1 for usage and an unknown mailing.
func TestSendExitCodes(t *testing.T) {
	sink := testutil.StartSMTP(t)
	vars, st := sendEnv(t, sink)
	all := openMailing(t, st, 2)
	if out, err := runSend(t, vars, idArg(all)); exitCode(err) != 0 {
		t.Fatalf("every recipient sent: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	sink.SetMode(testutil.Reject550)
	none := openMailing(t, st, 3)
	out, err := runSend(t, vars, idArg(none))
	if exitCode(err) != exitSomeFailed || !strings.Contains(err.Error(), "3 of 3 recipients not sent") {
		t.Fatalf("nothing delivered: exit %d (%v), want %d\n%s", exitCode(err), err, exitSomeFailed, out)
	}
	for _, args := range [][]string{{"999999"}, {"nope"}, {}, {"--bogus", "1"}} {
		if _, err := runSend(t, vars, args...); exitCode(err) != 1 {
			t.Errorf("send %v: exit %d (%v), want 1", args, exitCode(err), err)
		}
	}
}

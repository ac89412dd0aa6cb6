package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

var statRE = regexp.MustCompile(`id="stat-(success|failure|sent)">(\d+)<`)

// figures reads the three totals of a statistics page.
func figures(t *testing.T, body string) (success, failure, sent int) {
	t.Helper()
	got := map[string]int{}
	for _, m := range statRE.FindAllStringSubmatch(body, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(got) != 3 {
		t.Fatalf("statistics page lacks its figures: %.800s", body)
	}
	return got["success"], got["failure"], got["sent"]
}

// sendAndWait sends a mailing through the page and waits until its run is over.
func sendAndWait(t *testing.T, b *browser, id int64, sent, failed int) {
	t.Helper()
	path := "/mailings/" + itoa(id)
	if r := b.post(path+"/send", nil, "HX-Request", "true"); r.StatusCode != 200 {
		t.Fatalf("send: %d %.300s", r.StatusCode, r.Body)
	}
	want := []string{`data-count="sent">` + strconv.Itoa(sent) + `<`, `data-count="failed">` + strconv.Itoa(failed) + `<`, `data-count="pending">0<`}
	testutil.Eventually(t, 20*time.Second, "the run to finish", func() bool {
		body := b.get(path+"/progress", "HX-Request", "true").Body
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	})
}

func TestStatsAfterARealSend(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	a := account(t, srv, "sender@example.com", false)
	o := account(t, srv, "other@example.com", false)
	boss := account(t, srv, "boss@example.com", true)

	mine := mailingFor(t, srv, "sender@example.com", 12)
	sendAndWait(t, a, mine, 12, 0)
	if sink.Count() != 12 {
		t.Fatalf("sink got %d messages, want 12", sink.Count())
	}
	// The other user's mailing: two delivered, three refused for good.
	theirs := mailingFor(t, srv, "other@example.com", 5)
	sink.FailNext(3, testutil.Reject550)
	sendAndWait(t, o, theirs, 2, 3)
	if sink.Count() != 14 {
		t.Fatalf("sink got %d messages, want 14", sink.Count())
	}

	r := a.get("/stats")
	if r.StatusCode != 200 {
		t.Fatalf("/stats: %d %.300s", r.StatusCode, r.Body)
	}
	if s, f, n := figures(t, r.Body); s != 12 || f != 0 || n != 12 {
		t.Errorf("sender's figures %d/%d/%d, want 12 successes as the sink got, 0 failures, 12 sent", s, f, n)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self';") {
		t.Errorf("CSP = %q", csp)
	}
	svg := r.Body[strings.Index(r.Body, "<svg"):]
	svg = svg[:strings.Index(svg, "</svg>")+6]
	if strings.Contains(svg, "style=") || strings.Contains(r.Body, "<script>") {
		t.Error("the chart uses an inline style or script")
	}
	if !strings.Contains(svg, `<title id="stats-chart-title">`) {
		t.Error("the chart has no title")
	}
	// The default period is the 30 days ending today by the server's clock: a bar per day
	// and series, and the send's day (2026-01-05) carrying all 12.
	if n := strings.Count(svg, `class="bar bar-success"`); n != 30 {
		t.Errorf("%d success bars, want 30", n)
	}
	if n := strings.Count(svg, `class="bar bar-failure"`); n != 30 {
		t.Errorf("%d failure bars, want 30", n)
	}
	if !strings.Contains(svg, `data-index="29" data-value="12"`) || !strings.Contains(r.Body, `value="2026-01-05"`) || !strings.Contains(r.Body, `value="2025-12-07"`) {
		t.Error("today's bar or the default period is wrong")
	}
	if !strings.Contains(r.Body, `data-mailing="`+itoa(mine)+`"`) || strings.Contains(r.Body, `data-mailing="`+itoa(theirs)+`"`) {
		t.Error("the per-mailing table is not the sender's own")
	}
	if strings.Contains(r.Body, `name="user"`) {
		t.Error("a user is offered the user picker")
	}

	// A user cannot look at someone else's figures: ?user= is ignored.
	for _, who := range []string{"other@example.com", itoa(statsUserID(t, srv, "other@example.com"))} {
		r := a.get("/stats?user=" + url.QueryEscape(who))
		if r.StatusCode != 200 {
			t.Fatalf("user=%s: %d", who, r.StatusCode)
		}
		if s, f, n := figures(t, r.Body); s != 12 || f != 0 || n != 12 {
			t.Errorf("user=%s gave a user %d/%d/%d, want their own 12/0/12", who, s, f, n)
		}
		if strings.Contains(r.Body, "other@example.com") {
			t.Error("a user's page names another user")
		}
	}
	if s, f, n := figures(t, o.get("/stats").Body); s != 2 || f != 3 || n != 2 {
		t.Errorf("other's figures %d/%d/%d, want 2/3/2", s, f, n)
	}

	// A manager sees the whole service, and can pick a user by email or id.
	r = boss.get("/stats")
	if s, f, n := figures(t, r.Body); s != 14 || f != 3 || n != sink.Count() {
		t.Errorf("service-wide figures %d/%d/%d, want 14/3/%d", s, f, n, sink.Count())
	}
	for _, want := range []string{"Figures for the whole service.", `name="user"`, `<option value="other@example.com">`,
		"mailbox unavailable", `data-mailing="` + itoa(theirs) + `"`, `data-mailing="` + itoa(mine) + `"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("manager's page lacks %q", want)
		}
	}
	r = boss.get("/stats?user=other%40example.com")
	if s, f, n := figures(t, r.Body); s != 2 || f != 3 || n != 2 {
		t.Errorf("manager picking other: %d/%d/%d, want 2/3/2", s, f, n)
	}
	if !strings.Contains(r.Body, "Figures for the mailings of other@example.com.") || strings.Contains(r.Body, `data-mailing="`+itoa(mine)+`"`) {
		t.Error("manager's pick of a user shows the wrong mailings")
	}
	if s, _, _ := figures(t, boss.get("/stats?user="+itoa(statsUserID(t, srv, "sender@example.com"))).Body); s != 12 {
		t.Errorf("manager picking the sender by id: %d successes, want 12", s)
	}
	r = boss.get("/stats?user=nobody%40example.com")
	if !strings.Contains(r.Body, "There is no user nobody@example.com") {
		t.Error("an unknown user is not reported")
	}
	if s, _, _ := figures(t, r.Body); s != 14 {
		t.Errorf("an unknown user's page shows %d successes, want the service's 14", s)
	}

	// The same figures in Russian.
	a.post("/lang", url.Values{"lang": {"ru"}, "next": {"/stats"}})
	ru := a.get("/stats")
	for _, want := range []string{"Статистика", "Отправлено писем", "Успешных попыток", "Попытки отправки по дням", "<svg"} {
		if !strings.Contains(ru.Body, want) {
			t.Errorf("Russian page lacks %q", want)
		}
	}
	if s, _, _ := figures(t, ru.Body); s != 12 {
		t.Errorf("Russian page shows %d successes, want 12", s)
	}
}

func statsUserID(t *testing.T, srv *testutil.Server, email string) int64 {
	t.Helper()
	u, err := srv.App.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestStatsOfAnEmptyPeriodAndBadInput(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "quiet@example.com", false)
	r := a.get("/stats?from=2025-03-01&to=2025-03-10")
	if r.StatusCode != 200 {
		t.Fatalf("/stats: %d", r.StatusCode)
	}
	if s, f, n := figures(t, r.Body); s+f+n != 0 {
		t.Errorf("empty period has figures %d/%d/%d", s, f, n)
	}
	if !strings.Contains(r.Body, "No attempts in this period.") {
		t.Error("no note for the empty period")
	}
	if !strings.Contains(r.Body, "<svg") || !strings.Contains(r.Body, `class="axis axis-x"`) || strings.Contains(r.Body, `class="bar `) {
		t.Error("the empty chart is not axes alone")
	}
	if !strings.Contains(r.Body, `value="2025-03-01"`) || !strings.Contains(r.Body, `value="2025-03-10"`) {
		t.Error("the chosen period is not kept in the form")
	}

	for q, msg := range map[string]string{
		"from=yesterday":                  "Enter dates as YYYY-MM-DD.",
		"from=2025-03-10&to=2025-03-01":   "The start of the period must not be after its end.",
		"from=2020-01-01&to=2025-03-01":   "A period can be at most 366 days",
		"to=2025-02-30":                   "Enter dates as YYYY-MM-DD.",
		"from=2026-01-01&user=1&to=bad-1": "Enter dates as YYYY-MM-DD.",
	} {
		r := a.get("/stats?" + q)
		if r.StatusCode != 200 || !strings.Contains(r.Body, msg) {
			t.Errorf("%s: %d, want the message %q", q, r.StatusCode, msg)
		}
	}
	if r := a.get("/stats?from=2020-01-01&to=2025-03-01"); !strings.Contains(r.Body, `value="2024-03-01"`) {
		t.Error("a too long period is not cut to its last 366 days")
	}

	if r := newBrowser(t, srv).get("/stats"); r.StatusCode == 200 {
		t.Error("an anonymous visitor sees statistics")
	}
}

// Days and "today" are the user's: at 22:30 UTC it is already tomorrow in Moscow.
func TestStatsDaysAreInTheUsersTimeZone(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "msk@example.com", false)
	if err := srv.App.Store.SetProfile(context.Background(), statsUserID(t, srv, "msk@example.com"), "en", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Set(time.Date(2026, 1, 5, 22, 30, 0, 0, time.UTC))
	r := a.get("/stats")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/stats: %d", r.StatusCode)
	}
	if !strings.Contains(r.Body, `name="to" type="date" value="2026-01-06"`) || !strings.Contains(r.Body, `name="from" type="date" value="2025-12-08"`) {
		t.Error("today in Moscow is not the end of the default period")
	}
	if !strings.Contains(r.Body, "Europe/Moscow") || !strings.Contains(r.Body, "2026-01-06") {
		t.Error("the page does not say which zone its days are in")
	}
}

// The statistics are added up once per data version: a second look reads none of the
// attempts, and the next attempt recorded shows on the very next look.
func TestStatsComeFromCacheAndAreNeverStale(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": sink.URL()}})
	ql := &queryLog{}
	srv.App.Store.DB.AddQueryHook(ql)
	a := account(t, srv, "cached@example.com", false)
	first := mailingFor(t, srv, "cached@example.com", 3)
	sendAndWait(t, a, first, 3, 0)

	if s, _, _ := figures(t, a.get("/stats").Body); s != 3 {
		t.Fatalf("first look: %d successes, want 3", s)
	}
	ql.take()
	hits, _ := srv.App.Cache.Stats()
	if s, _, _ := figures(t, a.get("/stats").Body); s != 3 {
		t.Fatalf("second look: %d successes, want 3", s)
	}
	if n := touching(ql.take(), "attempts"); n != 0 {
		t.Errorf("the second look ran %d queries over the attempts", n)
	}
	if h, _ := srv.App.Cache.Stats(); h != hits+1 {
		t.Errorf("second look: %d cache hits, want %d", h, hits+1)
	}

	second := mailingFor(t, srv, "cached@example.com", 2)
	sendAndWait(t, a, second, 2, 0)
	if s, _, n := figures(t, a.get("/stats").Body); s != 5 || n != 5 {
		t.Errorf("after another send: %d successes, %d sent, want 5 and 5", s, n)
	}
}

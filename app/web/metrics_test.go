package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

const metricsToken = "scrape-token-0123456789"

// scrape reads /metrics with the given Authorization header (none when empty).
func scrape(t *testing.T, srv *testutil.Server, authorization string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// sample returns the value of the series line that starts with name{labels} (or name), or "".
func sample(body, series string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestMetricsCountASendThroughTheWorker(t *testing.T) {
	sink := testutil.StartSMTP(t)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{
		"SMTP_URL": sink.URL(), "METRICS_TOKEN": metricsToken,
	}})
	a := account(t, srv, "metrics@example.com", false)
	id := mailingFor(t, srv, "metrics@example.com", 12)
	path := "/mailings/" + itoa(id)
	a.get("/") // home figures go through the cache
	a.get("/")
	if r := a.post(path+"/send", nil, "HX-Request", "true"); r.StatusCode != http.StatusOK {
		t.Fatalf("send: %d %.300s", r.StatusCode, r.Body)
	}
	var body string
	testutil.Eventually(t, 20*time.Second, "the run to finish in the metrics", func() bool {
		var code int
		code, body = scrape(t, srv, "Bearer "+metricsToken)
		return code == http.StatusOK && sample(body, "mailer_runs_finished_total") == "1"
	})
	if got := sample(body, "mailer_runs_started_total"); got != "1" {
		t.Errorf("mailer_runs_started_total = %q, want 1", got)
	}
	if sink.Count() != 12 {
		t.Fatalf("sink got %d messages, want 12", sink.Count())
	}
	if got := sample(body, `mailer_deliveries_total{code_class="2xx",result="sent"}`); got != "12" {
		t.Errorf(`mailer_deliveries_total{result="sent",code_class="2xx"} = %q, want 12 (the sink's count)`, got)
	}
	if got := sample(body, "mailer_smtp_latency_seconds_count"); got != "12" {
		t.Errorf("mailer_smtp_latency_seconds_count = %q, want 12", got)
	}
	if got := sample(body, `mailer_http_request_duration_seconds_count{method="POST",route="/mailings/:id<int>/send",status="200"}`); got != "1" {
		t.Errorf("no HTTP histogram for the send route pattern (got %q):\n%s", got, grepLines(body, "mailer_http_request_duration_seconds_count"))
	}
	if regexp.MustCompile(`route="[^"]*/` + itoa(id) + `[/"]`).MatchString(body) {
		t.Errorf("a route label carries the concrete id %d:\n%s", id, grepLines(body, "route="))
	}
	for _, series := range []string{"mailer_cache_hits_total", "mailer_cache_misses_total"} {
		if sample(body, series) == "" {
			t.Errorf("%s missing", series)
		}
	}
	if sample(body, "mailer_cache_hits_total") == "0" && sample(body, "mailer_cache_misses_total") == "0" {
		t.Error("cache counters did not move after two home pages")
	}
	for _, state := range []string{"pending", "active", "scheduled", "retry"} {
		if sample(body, `mailer_queue_depth{queue="default",state="`+state+`"}`) == "" {
			t.Errorf("mailer_queue_depth for state %s missing:\n%s", state, grepLines(body, "mailer_queue"))
		}
	}
	for _, series := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if sample(body, series) == "" {
			t.Errorf("%s missing: Go/process collectors not registered", series)
		}
	}
}

func TestMetricsAccessNeedsTheTokenOrAManager(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{Env: map[string]string{"METRICS_TOKEN": metricsToken}})
	user := account(t, srv, "plain@example.com", false)
	manager := account(t, srv, "boss@example.com", true)

	if code, _ := scrape(t, srv, ""); code != http.StatusUnauthorized {
		t.Errorf("no auth: %d, want 401", code)
	}
	if code, _ := scrape(t, srv, "Bearer wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code, _ := scrape(t, srv, "Basic "+metricsToken); code != http.StatusUnauthorized {
		t.Errorf("token under another scheme: %d, want 401", code)
	}
	if code, body := scrape(t, srv, "Bearer "+metricsToken); code != http.StatusOK || !strings.Contains(body, "mailer_runs_started_total") {
		t.Errorf("right token: %d %.200s", code, body)
	}
	if r := user.get("/metrics"); r.StatusCode != http.StatusForbidden {
		t.Errorf("a user's session: %d, want 403", r.StatusCode)
	}
	r := manager.get("/metrics")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "mailer_http_request_duration_seconds") {
		t.Errorf("a manager's session: %d %.200s", r.StatusCode, r.Body)
	}
}

func TestMetricsRefuseEveryBearerWithoutAConfiguredToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	for _, h := range []string{"", "Bearer ", "Bearer x"} {
		if code, _ := scrape(t, srv, h); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q without METRICS_TOKEN: %d, want 401", h, code)
		}
	}
	if r := account(t, srv, "boss2@example.com", true).get("/metrics"); r.StatusCode != http.StatusOK {
		t.Errorf("a manager without METRICS_TOKEN: %d, want 200", r.StatusCode)
	}
}

func grepLines(body, substr string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

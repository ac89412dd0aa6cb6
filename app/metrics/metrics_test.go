package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsCodeClass(t *testing.T) {
	for code, want := range map[int]string{0: ClassNetwork, 250: Class2xx, 421: Class4xx, 451: Class4xx, 550: Class5xx, 199: ClassNetwork} {
		if got := CodeClass(code); got != want {
			t.Errorf("CodeClass(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestMetricsNilRecordsNothingAndDoesNotPanic(t *testing.T) {
	var m *Metrics
	m.RunStarted()
	m.RunFinished()
	m.Delivery(ResultSent, Class2xx, 3)
	m.SMTPLatency(time.Millisecond)
	m.HTTPRequest("GET", "/", 200, time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsRegistriesAreIndependent(t *testing.T) {
	a, b := New(), New()
	a.RunStarted()
	a.Delivery(ResultDeferred, Class4xx, 2)
	a.Delivery(ResultSent, Class2xx, 0) // nothing: no series appears
	if got := testutil.ToFloat64(a.runsStarted); got != 1 {
		t.Errorf("a runs started = %v", got)
	}
	if got := testutil.ToFloat64(b.runsStarted); got != 0 {
		t.Errorf("b runs started = %v, want 0 (registries shared state)", got)
	}
	if got := testutil.ToFloat64(a.deliveries.WithLabelValues(ResultDeferred, Class4xx)); got != 2 {
		t.Errorf("deferred/4xx = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(a.deliveries); n != 1 {
		t.Errorf("%d delivery series, want 1 (a zero count makes none)", n)
	}
}

func TestMetricsHandlerServesSeriesReadAtScrapeTime(t *testing.T) {
	m := New()
	hits, misses := int64(0), int64(0)
	m.WatchCache(func() (int64, int64) { return hits, misses })
	m.HTTPRequest("GET", "/mailings/:id<int>", 200, 20*time.Millisecond)
	m.SMTPLatency(30 * time.Millisecond)
	hits, misses = 7, 3
	body := get(t, m)
	for _, want := range []string{
		"mailer_cache_hits_total 7",
		"mailer_cache_misses_total 3",
		`mailer_http_request_duration_seconds_count{method="GET",route="/mailings/:id<int>",status="200"} 1`,
		"mailer_smtp_latency_seconds_count 1",
		"mailer_runs_started_total 0",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

type fakeInspector struct {
	queues []string
	info   map[string]*asynq.QueueInfo
	err    error
}

func (f fakeInspector) Queues() ([]string, error) { return f.queues, f.err }
func (f fakeInspector) GetQueueInfo(q string) (*asynq.QueueInfo, error) {
	if i, ok := f.info[q]; ok {
		return i, nil
	}
	return nil, errors.New("queue not found")
}

func TestMetricsQueueDepthIsReadOnCollect(t *testing.T) {
	f := fakeInspector{
		queues: []string{"default"},
		info:   map[string]*asynq.QueueInfo{"default": {Pending: 4, Active: 2, Scheduled: 1, Retry: 3}},
	}
	c := &queueCollector{insp: f, known: []string{"default", "critical"}}
	want := `
# HELP mailer_queue_depth Tasks in an Asynq queue by state (pending, active, scheduled, retry), read at scrape time.
# TYPE mailer_queue_depth gauge
mailer_queue_depth{queue="critical",state="active"} 0
mailer_queue_depth{queue="critical",state="pending"} 0
mailer_queue_depth{queue="critical",state="retry"} 0
mailer_queue_depth{queue="critical",state="scheduled"} 0
mailer_queue_depth{queue="default",state="active"} 2
mailer_queue_depth{queue="default",state="pending"} 4
mailer_queue_depth{queue="default",state="retry"} 3
mailer_queue_depth{queue="default",state="scheduled"} 1
# HELP mailer_queue_inspect_up 1 when the last scrape could read the queues from Redis, 0 otherwise.
# TYPE mailer_queue_inspect_up gauge
mailer_queue_inspect_up 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	c.insp = fakeInspector{err: errors.New("redis down")}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP mailer_queue_inspect_up 1 when the last scrape could read the queues from Redis, 0 otherwise.
# TYPE mailer_queue_inspect_up gauge
mailer_queue_inspect_up 0
`)); err != nil {
		t.Errorf("redis down: %v", err)
	}
}

func get(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics handler: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

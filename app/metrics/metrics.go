// Package metrics is Mailer's Prometheus instrumentation: sending (runs, deliveries, SMTP
// latency), HTTP latency by route pattern, and figures read at scrape time (queue depths,
// cache hits). Every App has a registry of its own, so tests and several Apps in one process
// never collide on the global one.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Delivery results, the values of mailer_deliveries_total's result label.
const (
	ResultSent      = "sent"
	ResultFailed    = "failed"
	ResultDeferred  = "deferred"
	ResultCancelled = "cancelled"
)

// SMTP reply classes, the values of mailer_deliveries_total's code_class label. ClassNetwork
// is a failure without a server reply (refused, timed out, dropped); ClassNone is an outcome
// where no SMTP exchange took place (cancelled, or a message that could not be built).
const (
	Class2xx     = "2xx"
	Class4xx     = "4xx"
	Class5xx     = "5xx"
	ClassNetwork = "network"
	ClassNone    = "none"
)

// CodeClass names the class of an SMTP reply code; code 0 is a network failure.
func CodeClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return Class2xx
	case code >= 400 && code < 500:
		return Class4xx
	case code >= 500 && code < 600:
		return Class5xx
	}
	return ClassNetwork
}

// Metrics holds Mailer's series on a registry of its own. A nil *Metrics is valid and
// records nothing, so parts built without metrics need no checks.
type Metrics struct {
	Registry *prometheus.Registry

	runsStarted  prometheus.Counter
	runsFinished prometheus.Counter
	deliveries   *prometheus.CounterVec
	smtpLatency  prometheus.Histogram
	httpDuration *prometheus.HistogramVec
	relayPauses  prometheus.Counter
	bounceMail   *prometheus.CounterVec
	bounceLeft   *prometheus.GaugeVec

	handler http.Handler

	mu      sync.Mutex
	closers []func() error
}

// New builds the registry with Mailer's series and the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		runsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailer_runs_started_total", Help: "Sending runs started.",
		}),
		runsFinished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailer_runs_finished_total", Help: "Sending runs finished (every delivery settled).",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailer_deliveries_total",
			Help: "Delivery outcomes by result (sent, failed, deferred, cancelled) and SMTP reply class (2xx, 4xx, 5xx, network, none).",
		}, []string{"result", "code_class"}),
		smtpLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailer_smtp_latency_seconds",
			Help:    "Time of one SMTP send attempt, dialing included when a new connection was needed.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		relayPauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailer_relay_pauses_total",
			Help: "Pauses of all sending because the mail server was unreachable (an outage's first failure, and each failed retry after a pause).",
		}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mailer_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route pattern and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		bounceMail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailer_bounce_mail_total",
			Help: "Mail taken from the bounce mailbox by outcome (processed: recorded and deleted).",
		}, []string{"outcome"}),
		bounceLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailer_bounce_mail_left",
			Help: "Mail the last poll left in the bounce mailbox, by reason (unparseable, unmatched).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.runsStarted, m.runsFinished, m.deliveries, m.smtpLatency, m.httpDuration, m.relayPauses, m.bounceMail, m.bounceLeft,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// RunStarted counts a run that was started.
func (m *Metrics) RunStarted() {
	if m != nil {
		m.runsStarted.Inc()
	}
}

// RunFinished counts a run whose deliveries are all settled.
func (m *Metrics) RunFinished() {
	if m != nil {
		m.runsFinished.Inc()
	}
}

// Delivery counts n deliveries that ended with result and code class.
func (m *Metrics) Delivery(result, codeClass string, n int) {
	if m != nil && n > 0 {
		m.deliveries.WithLabelValues(result, codeClass).Add(float64(n))
	}
}

// SMTPLatency observes one SMTP send attempt.
func (m *Metrics) SMTPLatency(d time.Duration) {
	if m != nil {
		m.smtpLatency.Observe(d.Seconds())
	}
}

// RelayPaused counts a pause of sending for an unreachable mail server.
func (m *Metrics) RelayPaused() {
	if m != nil {
		m.relayPauses.Inc()
	}
}

// BounceMail counts n mails of the bounce mailbox that had outcome.
func (m *Metrics) BounceMail(outcome string, n int) {
	if m != nil && n > 0 {
		m.bounceMail.WithLabelValues(outcome).Add(float64(n))
	}
}

// BounceMailLeft sets what the last poll of the bounce mailbox left there.
func (m *Metrics) BounceMailLeft(unparseable, unmatched int) {
	if m != nil {
		m.bounceLeft.WithLabelValues("unparseable").Set(float64(unparseable))
		m.bounceLeft.WithLabelValues("unmatched").Set(float64(unmatched))
	}
}

// HTTPRequest observes one HTTP request. route must be the route pattern, never the path,
// or every id would make a series of its own.
func (m *Metrics) HTTPRequest(method, route string, status int, d time.Duration) {
	if m != nil {
		m.httpDuration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
	}
}

// WatchCache exports a cache's hit and miss counts, read at scrape time.
func (m *Metrics) WatchCache(stats func() (hits, misses int64)) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mailer_cache_hits_total", Help: "Reads answered from the shared cache.",
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mailer_cache_misses_total", Help: "Reads the shared cache could not answer.",
		}, func() float64 { _, n := stats(); return float64(n) }),
	)
}

// WatchQueues exports the depth of Asynq's queues, read from Redis at scrape time. The
// queues named in known are reported (as zero) even before a task was ever put in them.
func (m *Metrics) WatchQueues(opt asynq.RedisConnOpt, known ...string) {
	insp := asynq.NewInspector(opt)
	m.Registry.MustRegister(&queueCollector{insp: insp, known: known})
	m.mu.Lock()
	m.closers = append(m.closers, insp.Close)
	m.mu.Unlock()
}

// Close releases the connections the scrape-time collectors hold.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	closers := m.closers
	m.closers = nil
	m.mu.Unlock()
	var first error
	for _, c := range closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// queueInspector is what queueCollector needs of asynq.Inspector.
type queueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

var queueDepthDesc = prometheus.NewDesc("mailer_queue_depth",
	"Tasks in an Asynq queue by state (pending, active, scheduled, retry), read at scrape time.",
	[]string{"queue", "state"}, nil)

var queueUpDesc = prometheus.NewDesc("mailer_queue_inspect_up",
	"1 when the last scrape could read the queues from Redis, 0 otherwise.", nil, nil)

// queueCollector asks Redis for queue sizes on every Collect.
type queueCollector struct {
	insp  queueInspector
	known []string
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueUpDesc
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	names, err := q.insp.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	seen := map[string]bool{}
	up := 1.0
	for _, name := range append(names, q.known...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		var pending, active, scheduled, retry int
		info, err := q.insp.GetQueueInfo(name)
		switch {
		case err == nil:
			pending, active, scheduled, retry = info.Pending, info.Active, info.Scheduled, info.Retry
		case !contains(names, name):
			// A known queue Redis has not seen yet is empty.
		default:
			up = 0
			continue
		}
		for _, s := range []struct {
			state string
			n     int
		}{{"pending", pending}, {"active", active}, {"scheduled", scheduled}, {"retry", retry}} {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(s.n), name, s.state)
		}
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, up)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

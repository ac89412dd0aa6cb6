package bench

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"mailer/app"
	"mailer/app/mailing"
	"mailer/app/store"
)

// WebOptions configure RunWeb.
type WebOptions struct {
	Clients     int           // clients of the signed-in user (100,000 when zero)
	Concurrency int           // requests in flight (64 when zero)
	Duration    time.Duration // per endpoint (10 s when zero)
	// MaxRequests bounds each endpoint's requests (200,000 when zero).
	MaxRequests int
	// DeepPages is how many pages into the clients list the deep page is (200 when zero;
	// fewer when the list is shorter).
	DeepPages int
	DB        string // "", "sqlite" or a postgres:// URL
	RedisURL  string // empty: the embedded Redis
	Env       map[string]string
	Log       io.Writer
	// CPUProfile, when set, is called as each endpoint's measurement starts; it may start a
	// CPU profile and returns the function that stops it.
	CPUProfile func(endpoint string) (stop func(), err error)
}

// WebRow is one endpoint's figures.
type WebRow struct {
	Name   string
	Path   string
	Target bool // held to TargetListP99Ratio (the clients issue's pages)
	// PageTarget is held to TargetPageP99Ratio (the scale-out issue's pages, statistics included).
	PageTarget bool
	Requests   int
	Errors     int
	FirstErr   string
	// Refreshed counts full answers to a revalidation whose ETag had moved on (home-304).
	Refreshed int
	Elapsed   time.Duration
	RPS       float64
	P50, P99  time.Duration
	Max       time.Duration
	// CPU is the process's CPU time during the measurement: server and load generator.
	CPU time.Duration
	// HeapPeak is the peak Go heap in use during the measurement, sampled every 20 ms;
	// RSSPeak the process's VmHWM at its end (reset at its start when WebResult.RSSReset).
	// Both are the whole process's: server and load generator.
	HeapPeak uint64
	RSSPeak  uint64
}

// CPUPerRequest is the process's CPU time per request (server and load generator).
func (r WebRow) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// WebResult is what RunWeb measured.
type WebResult struct {
	Clients     int
	Concurrency int
	Duration    time.Duration
	Backend     string
	Seed        time.Duration
	// Seeded counts the attempts seeded for the statistics page.
	Seeded SeededAttempts
	Rows   []WebRow
	// HeapBefore is the Go heap in use after seeding and a GC, before the first endpoint;
	// HeapPeak and RSSPeak the highest of the rows'. RSSReset says VmHWM could be reset at
	// each endpoint's start (else it covers the whole process, seeding included).
	HeapBefore uint64
	HeapPeak   uint64
	RSSPeak    uint64
	RSSReset   bool
}

// Defaults of the web benchmark (RunAll fills the same before printing its headers).
const (
	DefaultClients     = 100_000
	DefaultWebDuration = 10 * time.Second
)

// Targets of the web pages, each a ratio to the static file's row measured in the same run:
// this machine kind is a shared VM where the same command's absolute latencies move by ±30 %
// from one run to the next, and by more between machines, while a page's latency relative to
// a static file served by the same process at the same moment holds.
const (
	// TargetListP99Ratio bounds the p99 of the home, clients and search pages (the clients
	// issue's "p99 < 50 ms", set when the static file's p99 here was about 10 ms).
	TargetListP99Ratio = 5.0
	// TargetPageP99Ratio bounds the p99 of the home, clients, search and statistics pages at
	// 64 connections on SQLite (the scale-out issue's "p99 < 10 ms", restated as a ratio by the
	// issue on real networks and at scale).
	TargetPageP99Ratio = 4.0
	// Target304 is the least ratio of the 304 path's throughput to the full render's.
	Target304 = 2.0
)

// Row names of the web table.
const (
	RowStatic      = "static"
	RowHome        = "home"
	RowClients     = "clients"
	RowClientsDeep = "clients-deep"
	RowSearch      = "search"
	RowTag         = "tag"
	RowStats       = "stats"
	RowHome304     = "home-304"
	RowClients304  = "clients-304"
)

// ListRows are the rows held to TargetListP99Ratio.
var ListRows = []string{RowHome, RowClients, RowClientsDeep, RowSearch, RowTag}

// PageRows are the rows held to TargetPageP99Ratio.
var PageRows = []string{RowHome, RowClients, RowClientsDeep, RowSearch, RowTag, RowStats}

const (
	benchEmail    = "bench@bench.example"
	benchPassword = "load-measuring-secret-7"
)

// RunWeb seeds a user with o.Clients clients, a few messages and mailings; starts the real
// server on 127.0.0.1; signs in through /login; and loads each endpoint in turn with
// o.Concurrency goroutines for o.Duration (or o.MaxRequests requests).
func RunWeb(ctx context.Context, o WebOptions) (*WebResult, error) {
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Duration <= 0 {
		o.Duration = DefaultWebDuration
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 200_000
	}
	if o.DeepPages <= 0 {
		o.DeepPages = 200
	}
	env, err := newEnvironment(ctx, o.DB, o.RedisURL, nil, o.Env)
	if err != nil {
		return nil, err
	}
	defer env.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	env.vars["BASE_URL"], env.vars["ADDR"] = base, ln.Addr().String()
	cfg, err := env.config()
	if err != nil {
		return nil, err
	}
	a, err := app.Open(ctx, cfg, logger(o.Log), app.Options{})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	res := &WebResult{Clients: o.Clients, Concurrency: o.Concurrency, Duration: o.Duration,
		Backend: backendName(env.dialect, o.RedisURL)}

	t := time.Now()
	u, err := a.Auth.CreateConfirmedUser(ctx, benchEmail, benchPassword, false)
	if err != nil {
		return nil, err
	}
	if res.Seeded, err = seedWebData(ctx, a.Store, u.ID, o.Clients); err != nil {
		return nil, err
	}
	res.Seed = time.Since(t)

	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Serve(sctx, ln) }()
	defer func() {
		stop()
		<-served
	}()

	tr := &http.Transport{
		MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	// A generous timeout: at 64 connections a page of a second's work queues for tens of
	// seconds on a small machine, and its latency is the figure wanted, not an error.
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	cookie, err := signIn(ctx, tr, base)
	if err != nil {
		return nil, err
	}
	get := func(path string, hdr map[string]string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("Cookie", cookie)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	resp, home, err := get("/", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(home, `action="/logout"`) {
		return nil, fmt.Errorf("home page after sign-in: %s, not signed in", resp.Status)
	}
	staticPath := findStatic(home)
	if staticPath == "" {
		return nil, errors.New("no fingerprinted /static/ asset in the home page")
	}
	deep, err := deepClientsPage(get, o.DeepPages)
	if err != nil {
		return nil, err
	}
	// A prefix matching a hundred clients from the middle of the list.
	mid := strings.TrimSuffix(clientEmail(o.Clients/2), "@bench.example")
	search := "/clients?q=" + url.QueryEscape(mid[:len(mid)-2])
	if resp, body, err := get(search, nil); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, mid[:len(mid)-2]) {
		return nil, fmt.Errorf("search page %s does not list its matches (%v)", search, err)
	}
	tagged := "/clients?tag=" + benchTag
	if resp, body, err := get(tagged, nil); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, clientEmail(0)) || strings.Contains(body, clientEmail(1)) {
		return nil, fmt.Errorf("tag filter page %s does not list only the tagged clients (%v)", tagged, err)
	}
	if resp, body, err := get("/stats", nil); err != nil {
		return nil, fmt.Errorf("statistics page: %w", err)
	} else if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("statistics page: %s", resp.Status)
	} else if err := checkStats(body, res.Seeded); err != nil {
		return nil, err
	}

	// The 304 rows revalidate a page as a browser does: with the ETag it last got.
	// The ETag covers the clock's minute and the data version, so when either moves on the
	// page is served in full once (counted as refreshed, not as an error) and its new ETag
	// is used from then on.
	var etag atomic.Value
	refreshETag := func(path string) error {
		resp, _, err := get(path, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
			return fmt.Errorf("%s: %s, ETag %q", path, resp.Status, resp.Header.Get("ETag"))
		}
		etag.Store(resp.Header.Get("ETag"))
		return nil
	}
	status := func(want int) func(*http.Response) (bool, error) {
		return func(resp *http.Response) (bool, error) {
			if resp.StatusCode != want {
				return false, fmt.Errorf("status %d, want %d", resp.StatusCode, want)
			}
			return false, nil
		}
	}
	revalidated := func(resp *http.Response) (bool, error) {
		switch {
		case resp.StatusCode == http.StatusNotModified:
			return false, nil
		case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
			etag.Store(resp.Header.Get("ETag"))
			return true, nil
		}
		return false, fmt.Errorf("status %d, want 304 (or 200 with a new ETag)", resp.StatusCode)
	}
	endpoints := []struct {
		name, path string
		revalidate bool
		check      func(*http.Response) (bool, error)
	}{
		{RowStatic, staticPath, false, status(http.StatusOK)},
		{RowHome, "/", false, status(http.StatusOK)},
		{RowClients, "/clients", false, status(http.StatusOK)},
		{RowClientsDeep, deep, false, status(http.StatusOK)},
		{RowSearch, search, false, status(http.StatusOK)},
		{RowTag, tagged, false, status(http.StatusOK)},
		{RowHome304, "/", true, revalidated},
		{RowClients304, "/clients", true, revalidated},
		// Last: the slowest page. Requests the load generator gave up on may still be
		// running in the server, and would slow the rows after it.
		{RowStats, "/stats", false, status(http.StatusOK)},
	}
	runtime.GC()
	res.HeapBefore = heapInuse()
	for _, ep := range endpoints {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ep.revalidate {
			if err := refreshETag(ep.path); err != nil {
				return nil, fmt.Errorf("%s: %w", ep.name, err)
			}
		}
		mk := func() *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+ep.path, nil)
			req.Header.Set("Cookie", cookie)
			if ep.revalidate {
				req.Header.Set("If-None-Match", etag.Load().(string))
			}
			return req
		}
		// Warm up: open the connections and the server's caches. A page slower than
		// slowWarmUp is warmed by one request: o.Concurrency more would take longer than
		// its measurement.
		if one := loadEndpoint(client, mk, 1, time.Second, 1, ep.check); one.Max < slowWarmUp {
			loadEndpoint(client, mk, o.Concurrency, time.Second, o.Concurrency, ep.check)
		}
		var stopProfile func()
		if o.CPUProfile != nil {
			if stopProfile, err = o.CPUProfile(ep.name); err != nil {
				return nil, err
			}
		}
		res.RSSReset = resetPeakRSS()
		mem := startMemSampler(20 * time.Millisecond)
		cpu0 := processCPU()
		row := loadEndpoint(client, mk, o.Concurrency, o.Duration, o.MaxRequests, ep.check)
		row.CPU = processCPU() - cpu0
		row.HeapPeak, row.RSSPeak = mem.Stop(), peakRSS()
		if stopProfile != nil {
			stopProfile()
		}
		row.Name, row.Path = ep.name, ep.path
		row.Target = slices.Contains(ListRows, ep.name)
		row.PageTarget = slices.Contains(PageRows, ep.name)
		res.HeapPeak, res.RSSPeak = max(res.HeapPeak, row.HeapPeak), max(res.RSSPeak, row.RSSPeak)
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

var statFigure = regexp.MustCompile(`id="stat-(success|failure|sent)">(\d+)<`)

// checkStats makes sure the statistics page shows the seeded attempts: its three totals
// equal to what was recorded, the running mailing among the busiest and the seeded
// responses among the most common failures.
func checkStats(body string, want SeededAttempts) error {
	got := map[string]int{}
	for _, m := range statFigure.FindAllStringSubmatch(body, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(got) != 3 {
		return fmt.Errorf("statistics page shows no totals (%d of 3 found)", len(got))
	}
	if got["success"] != want.Success || got["failure"] != want.Failure || got["sent"] != want.Sent {
		return fmt.Errorf("statistics page shows %d successes, %d failures, %d sent; %d, %d and %d were seeded",
			got["success"], got["failure"], got["sent"], want.Success, want.Failure, want.Sent)
	}
	if want.Attempts() == 0 {
		return errors.New("statistics page: no attempts were seeded")
	}
	if !strings.Contains(body, "Newsletter 1 for") {
		return errors.New("statistics page does not list the running mailing")
	}
	if want.Failure > 0 && !slices.ContainsFunc([]string{reply421, reply451, reply550, reply552, reply554},
		func(r string) bool { return strings.Contains(body, html.EscapeString(r)) }) {
		return errors.New("statistics page lists none of the seeded failure responses")
	}
	return nil
}

// slowWarmUp is the latency above which an endpoint is warmed up by a single request.
const slowWarmUp = 50 * time.Millisecond

// seedWebData gives ownerID n clients, three messages and three mailings: one to every
// client, running — 85 % of its recipients tried over the last six days, successes and
// failures with SMTP codes, the rest still pending — and two to a handful, sent in full an
// hour ago. The attempts are what the statistics page aggregates.
func seedWebData(ctx context.Context, st *store.Store, ownerID int64, n int) (SeededAttempts, error) {
	var seeded SeededAttempts
	if err := seedClients(ctx, st, ownerID, n); err != nil {
		return seeded, err
	}
	first, err := st.ListClients(ctx, mailing.Scope{UserID: ownerID}, mailing.ListParams{Limit: 20})
	if err != nil {
		return seeded, err
	}
	var ids []int64
	for _, c := range first.Items {
		ids = append(ids, c.ID)
	}
	now := time.Now().UTC()
	for i, r := range []mailing.Recipients{{All: true}, {ClientIDs: ids[:min(3, len(ids))]}, {ClientIDs: ids}} {
		msg, err := seedMessage(ctx, st, ownerID, fmt.Sprintf("Newsletter %d for {{.Name}}", i+1))
		if err != nil {
			return seeded, err
		}
		m, err := seedMailing(ctx, st, ownerID, msg.ID, r)
		if err != nil {
			return seeded, err
		}
		share, from, to := 1.0, now.Add(-50*time.Minute), now.Add(-40*time.Minute)
		if i == 0 {
			share, from, to = 0.85, now.Add(-6*24*time.Hour), now.Add(-time.Hour)
		}
		got, err := seedRun(ctx, st, m, share, from, to)
		if err != nil {
			return seeded, err
		}
		seeded.add(got)
	}
	// PostgreSQL plans by statistics that autovacuum gathers within a minute or so of a bulk
	// load; the benchmark measures that steady state, not the minute after seeding.
	if st.Dialect == "postgres" {
		if _, err := st.DB.ExecContext(ctx, "ANALYZE users, sessions, clients, messages, mailings, mailing_clients, runs, deliveries, attempts"); err != nil {
			return seeded, fmt.Errorf("analyze: %w", err)
		}
	}
	return seeded, nil
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

// signIn signs the benchmark user in through the login form and returns the Cookie header
// of the session.
func signIn(ctx context.Context, tr http.RoundTripper, base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfMeta.FindStringSubmatch(string(b))
	if m == nil {
		return "", fmt.Errorf("sign in: no csrf-token in /login (%s)", resp.Status)
	}
	form := url.Values{"email": {benchEmail}, "password": {benchPassword}, "_csrf": {html.UnescapeString(m[1])}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		return "", fmt.Errorf("sign in: POST /login answered %s", resp.Status)
	}
	u, _ := url.Parse(base)
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; "), nil
}

var staticRef = regexp.MustCompile(`"(/static/[^"]+)"`)

// findStatic returns the fingerprinted URL of the app's own stylesheet, or of the first
// asset the page references.
func findStatic(page string) string {
	var first string
	for _, m := range staticRef.FindAllStringSubmatch(page, -1) {
		if strings.HasPrefix(m[1], "/static/css/app.") {
			return m[1]
		}
		if first == "" {
			first = m[1]
		}
	}
	return first
}

var nextLink = regexp.MustCompile(`href="(/clients\?[^"]*after=[^"]*)"`)

// deepClientsPage follows the clients list's next links pages times (or to the last page
// but one) and returns that page's URL.
func deepClientsPage(get func(string, map[string]string) (*http.Response, string, error), pages int) (string, error) {
	path := "/clients"
	for i := 0; i < pages; i++ {
		resp, body, err := get(path, nil)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("clients page %d: %s", i+1, resp.Status)
		}
		m := nextLink.FindStringSubmatch(body)
		if m == nil {
			break
		}
		path = html.UnescapeString(m[1])
	}
	if path == "/clients" {
		return "", errors.New("the clients list has no second page")
	}
	return path, nil
}

// loadEndpoint sends requests from c goroutines until d has passed or max were sent, and
// returns the throughput and latency. A transport error or a response check refuses is an
// error; check may also count a response as refreshed.
func loadEndpoint(client *http.Client, mk func() *http.Request, c int, d time.Duration, max int,
	check func(*http.Response) (refreshed bool, err error)) WebRow {
	var issued, errs, refreshed atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, c)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && issued.Add(1) <= int64(max) {
				req := mk()
				s := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil {
						var r bool
						if r, err = check(resp); r {
							refreshed.Add(1)
						}
					}
				}
				lats[g] = append(lats[g], time.Since(s))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	row := WebRow{Elapsed: time.Since(t0), Errors: int(errs.Load()), Refreshed: int(refreshed.Load())}
	all := slices.Concat(lats...)
	slices.Sort(all)
	row.Requests = len(all)
	if s, ok := firstErr.Load().(string); ok {
		row.FirstErr = s
	}
	if len(all) > 0 {
		row.RPS = float64(len(all)) / row.Elapsed.Seconds()
		row.P50 = all[len(all)*50/100]
		row.P99 = all[min(len(all)*99/100, len(all)-1)]
		row.Max = all[len(all)-1]
	}
	return row
}

// Row returns the row of that name.
func (r *WebResult) Row(name string) (WebRow, bool) {
	for _, row := range r.Rows {
		if row.Name == name {
			return row, true
		}
	}
	return WebRow{}, false
}

// P99Ratio is the row's p99 over the static file's in the same run; 0 when either is
// missing, or when the static file met errors (a baseline that failed measures nothing).
func (r *WebResult) P99Ratio(name string) float64 {
	static, ok1 := r.Row(RowStatic)
	row, ok2 := r.Row(name)
	if !ok1 || !ok2 || static.Errors > 0 || static.P99 <= 0 {
		return 0
	}
	return float64(row.P99) / float64(static.P99)
}

// withinP99 reports whether the row answered without errors with a p99 at most bound × the
// static file's.
func (r *WebResult) withinP99(name string, bound float64) bool {
	row, ok := r.Row(name)
	ratio := r.P99Ratio(name)
	return ok && row.Errors == 0 && ratio > 0 && ratio <= bound
}

// Met reports whether every row answered without errors and every targeted page's p99 is at
// most TargetListP99Ratio × the static file's.
func (r *WebResult) Met() bool {
	for _, row := range r.Rows {
		if row.Errors > 0 || (row.Target && !r.withinP99(row.Name, TargetListP99Ratio)) {
			return false
		}
	}
	_, ok := r.Row(RowStatic)
	return ok
}

// PagesMet reports whether every row of PageRows answered without errors with a p99 at most
// TargetPageP99Ratio × the static file's, and lists the rows that did not.
func (r *WebResult) PagesMet() (bool, []string) {
	var missed []string
	for _, name := range PageRows {
		if !r.withinP99(name, TargetPageP99Ratio) {
			missed = append(missed, name)
		}
	}
	return len(missed) == 0, missed
}

// Ratio304 is the home page's 304 path's throughput over its full render's; 0 when either
// is missing.
func (r *WebResult) Ratio304() float64 { return r.Ratio304Of(RowHome, RowHome304) }

// Ratio304Of is the throughput of the 304 row over its page's full render; 0 when either
// is missing.
func (r *WebResult) Ratio304Of(page, reval string) float64 {
	full, ok1 := r.Row(page)
	rev, ok2 := r.Row(reval)
	if !ok1 || !ok2 || full.RPS <= 0 {
		return 0
	}
	return rev.RPS / full.RPS
}

// Met304 reports whether the home page's 304 path answered at least Target304 times its
// full render's throughput, both without errors.
func (r *WebResult) Met304() bool { return r.Met304Of(RowHome, RowHome304) }

// Met304Of is Met304 for one page and its 304 row.
func (r *WebResult) Met304Of(page, reval string) bool {
	full, _ := r.Row(page)
	rev, _ := r.Row(reval)
	return full.Errors == 0 && rev.Errors == 0 && r.Ratio304Of(page, reval) >= Target304
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}

// WriteTable prints the result as a table.
func (r *WebResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "mailer bench web: %d clients, c=%d, %s per endpoint, on %s\n", r.Clients, r.Concurrency, r.Duration, r.Backend)
	fmt.Fprintf(w, "seeded in %s: the clients, 3 mailings, %d attempts for the statistics page (%d successes, %d failures; %d deliveries pending)\n\n",
		dur(r.Seed), r.Seeded.Attempts(), r.Seeded.Success, r.Seeded.Failure, r.Seeded.Pending)
	static, _ := r.Row(RowStatic)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "endpoint\treq/s\tp50\tp99\tmax\trequests\terrors\tCPU/req\theap peak\tRSS peak\treq/s vs static\tp99 vs static\tp99 ≤ %s\tp99 ≤ %s\t\n",
		times(TargetListP99Ratio), times(TargetPageP99Ratio))
	for _, row := range r.Rows {
		target := func(held bool, bound float64) string {
			switch {
			case !held:
				return "-"
			case !r.withinP99(row.Name, bound):
				return "NO"
			}
			return "yes"
		}
		ratio, p99ratio := "1.00", "1.0"
		if row.Name != RowStatic && static.RPS > 0 && static.P99 > 0 {
			ratio = fmt.Sprintf("%.2f", row.RPS/static.RPS)
			p99ratio = fmt.Sprintf("%.1f", float64(row.P99)/float64(static.P99))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Name, row.RPS, dur(row.P50), dur(row.P99), dur(row.Max),
			row.Requests, row.Errors, dur(row.CPUPerRequest()), mib(row.HeapPeak), mib(row.RSSPeak), ratio, p99ratio,
			target(row.Target, TargetListP99Ratio), target(row.PageTarget, TargetPageP99Ratio))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		fmt.Fprintf(w, "  %-13s %s\n", row.Name, shorten(row.Path, 110))
		if row.Refreshed > 0 {
			fmt.Fprintf(w, "  %-13s %d answered 200 with a new ETag (minute or data version moved on)\n", "", row.Refreshed)
		}
		if row.FirstErr != "" {
			fmt.Fprintf(w, "  %-13s first error: %s\n", "", row.FirstErr)
		}
	}
	fmt.Fprintln(w, "\n  CPU/req is this process's CPU time per request, load generator included: unlike req/s it")
	fmt.Fprintln(w, "  does not depend on what else the machine runs. Heap and RSS are this process's too.")
	if !strings.HasPrefix(r.Backend, "sqlite") {
		fmt.Fprintln(w, "  The database server's CPU and memory are not in them: PostgreSQL runs in its own processes.")
	}
	since := "VmHWM, reset at each endpoint's start"
	if !r.RSSReset {
		since = "VmHWM of the whole process, seeding included"
	}
	fmt.Fprintf(w, "\nweb process memory: peak Go heap in use %s (%s after seeding and a GC), peak RSS %s (%s)\n",
		mib(r.HeapPeak), mib(r.HeapBefore), mib(r.RSSPeak), since)
	fmt.Fprintf(w, "304 path: %.2f × the home page's req/s (target ≥ %.0f×): %s\n", r.Ratio304(), Target304, verdict(r.Met304()))
	if _, ok := r.Row(RowClients304); ok {
		fmt.Fprintf(w, "304 path: %.2f × the clients list's req/s (target ≥ %.0f×): %s\n", r.Ratio304Of(RowClients, RowClients304), Target304,
			verdict(r.Met304Of(RowClients, RowClients304)))
	}
	fmt.Fprintf(w, "target p99 ≤ %s the static file's for home, clients (first and deep) and search, no errors: %s\n",
		times(TargetListP99Ratio), verdict(r.Met()))
	met, missed := r.PagesMet()
	line := fmt.Sprintf("target p99 ≤ %s the static file's at c=64 on SQLite for %s, no errors: %s",
		times(TargetPageP99Ratio), strings.Join(PageRows, ", "), verdict(met))
	if !met {
		line += " (" + strings.Join(missed, ", ") + ")"
	}
	if r.Concurrency != 64 {
		line += fmt.Sprintf(" — measured at c=%d", r.Concurrency)
	}
	if !strings.HasPrefix(r.Backend, "sqlite") {
		line += " — this run is not on SQLite: for reference only"
	}
	fmt.Fprintln(w, line)
}

// times prints a ratio bound like 4×.
func times(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + "×" }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

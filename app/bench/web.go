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
	"slices"
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
	Name     string
	Path     string
	Target   bool // held to the p99 target
	Requests int
	Errors   int
	FirstErr string
	// Refreshed counts full answers to a revalidation whose ETag had moved on (home-304).
	Refreshed int
	Elapsed   time.Duration
	RPS       float64
	P50, P99  time.Duration
	Max       time.Duration
	// CPU is the process's CPU time during the measurement: server and load generator.
	CPU time.Duration
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
	Rows        []WebRow
}

// TargetP99 is the bound on the p99 latency of the home, clients and search pages.
const TargetP99 = 50 * time.Millisecond

// Row names of the web table.
const (
	RowStatic      = "static"
	RowHome        = "home"
	RowClients     = "clients"
	RowClientsDeep = "clients-deep"
	RowSearch      = "search"
	RowHome304     = "home-304"
)

const (
	benchEmail    = "bench@bench.example"
	benchPassword = "bench-password-123"
)

// RunWeb seeds a user with o.Clients clients, a few messages and mailings; starts the real
// server on 127.0.0.1; signs in through /login; and loads each endpoint in turn with
// o.Concurrency goroutines for o.Duration (or o.MaxRequests requests).
func RunWeb(ctx context.Context, o WebOptions) (*WebResult, error) {
	if o.Clients <= 0 {
		o.Clients = 100_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
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
	if err := seedWebData(ctx, a.Store, u.ID, o.Clients); err != nil {
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
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
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

	// The 304 row revalidates the home page as a browser does: with the ETag it last got.
	// The ETag covers the clock's minute and the data version, so when either moves on the
	// page is served in full once (counted as refreshed, not as an error) and its new ETag
	// is used from then on.
	var etag atomic.Value
	refreshETag := func() error {
		resp, _, err := get("/", nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
			return fmt.Errorf("home page: %s, ETag %q", resp.Status, resp.Header.Get("ETag"))
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
		target     bool
		revalidate bool
		check      func(*http.Response) (bool, error)
	}{
		{RowStatic, staticPath, false, false, status(http.StatusOK)},
		{RowHome, "/", true, false, status(http.StatusOK)},
		{RowClients, "/clients", true, false, status(http.StatusOK)},
		{RowClientsDeep, deep, true, false, status(http.StatusOK)},
		{RowSearch, search, true, false, status(http.StatusOK)},
		{RowHome304, "/", false, true, revalidated},
	}
	for _, ep := range endpoints {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ep.revalidate {
			if err := refreshETag(); err != nil {
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
		// Warm up: open the connections and the server's caches.
		loadEndpoint(client, mk, o.Concurrency, time.Second, o.Concurrency, ep.check)
		var stopProfile func()
		if o.CPUProfile != nil {
			if stopProfile, err = o.CPUProfile(ep.name); err != nil {
				return nil, err
			}
		}
		cpu0 := processCPU()
		row := loadEndpoint(client, mk, o.Concurrency, o.Duration, o.MaxRequests, ep.check)
		row.CPU = processCPU() - cpu0
		if stopProfile != nil {
			stopProfile()
		}
		row.Name, row.Path, row.Target = ep.name, ep.path, ep.target
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// seedWebData gives ownerID n clients, three messages and three mailings: one to every
// client (already running), two to a handful.
func seedWebData(ctx context.Context, st *store.Store, ownerID int64, n int) error {
	if err := seedClients(ctx, st, ownerID, n); err != nil {
		return err
	}
	first, err := st.ListClients(ctx, mailing.Scope{UserID: ownerID}, mailing.ListParams{Limit: 20})
	if err != nil {
		return err
	}
	var ids []int64
	for _, c := range first.Items {
		ids = append(ids, c.ID)
	}
	for i, r := range []store.Recipients{{All: true}, {ClientIDs: ids[:min(3, len(ids))]}, {ClientIDs: ids}} {
		msg, err := seedMessage(ctx, st, ownerID, fmt.Sprintf("Newsletter %d for {{.Name}}", i+1))
		if err != nil {
			return err
		}
		m, err := seedMailing(ctx, st, ownerID, msg.ID, r)
		if err != nil {
			return err
		}
		if i == 0 {
			if err := st.MarkAttempted(ctx, m.ID, time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
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

// Met reports whether every targeted page's p99 is under TargetP99, without errors.
func (r *WebResult) Met() bool {
	for _, row := range r.Rows {
		if row.Errors > 0 || (row.Target && row.P99 >= TargetP99) {
			return false
		}
	}
	return true
}

// WriteTable prints the result as a table.
func (r *WebResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "mailer bench web: %d clients, c=%d, %s per endpoint, on %s (seeded in %s)\n\n",
		r.Clients, r.Concurrency, r.Duration, r.Backend, dur(r.Seed))
	static, _ := r.Row(RowStatic)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\treq/s\tp50\tp99\tmax\trequests\terrors\tCPU/req\treq/s vs static\tp99 vs static\tp99 < 50ms\t")
	for _, row := range r.Rows {
		target := "-"
		if row.Target {
			target = "yes"
			if row.P99 >= TargetP99 {
				target = "NO"
			}
		}
		ratio, p99ratio := "1.00", "1.0"
		if row.Name != RowStatic && static.RPS > 0 && static.P99 > 0 {
			ratio = fmt.Sprintf("%.2f", row.RPS/static.RPS)
			p99ratio = fmt.Sprintf("%.1f", float64(row.P99)/float64(static.P99))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", row.Name, row.RPS, dur(row.P50), dur(row.P99), dur(row.Max),
			row.Requests, row.Errors, dur(row.CPUPerRequest()), ratio, p99ratio, target)
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
	fmt.Fprintln(w, "  does not depend on what else the machine runs.")
	verdict := "met"
	if !r.Met() {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "\ntarget p99 < %s for home, clients (first and deep) and search, no errors: %s\n", TargetP99, verdict)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// AllOptions configure RunAll.
type AllOptions struct {
	// PG is a postgres:// URL: the send and web benchmarks then run on PostgreSQL too, each
	// in a fresh schema. Empty skips PostgreSQL.
	PG       string
	RedisURL string        // empty: the embedded Redis
	Duration time.Duration // per web endpoint (10 s when zero)
	Clients  int           // clients of the web benchmark (100,000 when zero)
	N        int           // recipients of the send benchmark (10,000 when zero)
	// SendTimeout bounds the wait for each send (10 minutes when zero).
	SendTimeout time.Duration
	// RTT, when positive, adds a send on SQLite through a delay proxy adding this round trip,
	// of min(N, 1,000) recipients, after the databases' runs.
	RTT time.Duration
	Env map[string]string // tunables passed to both benchmarks
	Log io.Writer         // the Apps' warnings; nil discards them
	// Out receives each benchmark's table as it finishes; nil discards them.
	Out io.Writer
}

// AllConcurrency is the connections the web benchmark of RunAll keeps in flight: the
// targets are stated at 64.
const AllConcurrency = 64

// Machine describes where a run took place.
type Machine struct {
	CPUs       int    // runtime.NumCPU
	GOMAXPROCS int    // runtime.GOMAXPROCS(0)
	CPUModel   string // from /proc/cpuinfo; empty when unknown
	MemTotal   uint64 // bytes, from /proc/meminfo; 0 when unknown
	OS, Arch   string
	GoVersion  string
	// LoadStart and LoadEnd are the 1, 5 and 15 minute load averages of /proc/loadavg at the
	// start and the end of the run; empty when unknown.
	LoadStart, LoadEnd string
}

// ReadMachine describes this machine now; LoadEnd is left empty.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH,
		GoVersion: runtime.Version(), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kb, _ := strconv.ParseUint(f[0], 10, 64)
					m.MemTotal = kb << 10
				}
				break
			}
		}
	}
	return m
}

// loadAverage is the first three fields of /proc/loadavg, or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// busy reports whether the 1-minute load average at the start passed half the CPUs: other
// work was running. (The end's counts the benchmark itself.)
func (m Machine) busy() bool {
	f := strings.Fields(m.LoadStart)
	if len(f) == 0 {
		return false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return err == nil && v > float64(m.CPUs)/2
}

// String is the machine on one line.
func (m Machine) String() string {
	var parts []string
	if m.CPUModel != "" {
		parts = append(parts, m.CPUModel)
	}
	cpus := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.GOMAXPROCS > 0 && m.GOMAXPROCS != m.CPUs {
		cpus += fmt.Sprintf(" (GOMAXPROCS %d)", m.GOMAXPROCS)
	}
	parts = append(parts, cpus)
	if m.MemTotal > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB RAM", float64(m.MemTotal)/(1<<30)))
	}
	if m.OS != "" {
		parts = append(parts, m.OS+"/"+m.Arch)
	}
	if m.GoVersion != "" {
		parts = append(parts, m.GoVersion)
	}
	return strings.Join(parts, ", ")
}

// BackendRun is the send and web figures of one database.
type BackendRun struct {
	Dialect string // sqlite or postgres
	Send    *SendResult
	Web     *WebResult
	// SendRTT is the send over a round trip (AllOptions.RTT), on SQLite only.
	SendRTT *SendResult
	// SendHTML is the send of an HTML newsletter in the default layout, on SQLite only.
	SendHTML *SendResult
}

// AllResult is what RunAll measured.
type AllResult struct {
	Machine Machine
	Runs    []BackendRun
	// PGSkipped says no -pg was given.
	PGSkipped bool
}

// RunAll runs the send and then the web benchmark on SQLite and, when o.PG is set, the
// same two on PostgreSQL, writing each table to o.Out as it finishes. A benchmark that
// cannot run, or a send that does not finish, is an error; a target missed is not (see
// Checks). On an error the result holds what ran before it.
func RunAll(ctx context.Context, o AllOptions) (*AllResult, error) {
	if o.Duration <= 0 {
		o.Duration = DefaultWebDuration
	}
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if o.N <= 0 {
		o.N = 10_000
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Minute
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	res := &AllResult{Machine: ReadMachine(), PGSkipped: o.PG == ""}
	defer func() { res.Machine.LoadEnd = loadAverage() }()
	// A PostgreSQL that cannot be reached is found now, not after the SQLite runs.
	if o.PG != "" {
		if err := CheckPostgres(ctx, o.PG); err != nil {
			return res, fmt.Errorf("-pg: %w", err)
		}
	}
	fmt.Fprintf(out, "mailer bench all on %s\nload average (1, 5, 15 min) at start: %s\n", res.Machine, orUnknown(res.Machine.LoadStart))

	dbs := []struct{ dialect, db string }{{"sqlite", "sqlite"}}
	if o.PG != "" {
		dbs = append(dbs, struct{ dialect, db string }{"postgres", o.PG})
	}
	for _, db := range dbs {
		run := BackendRun{Dialect: db.dialect}
		fmt.Fprintf(out, "\n=== %s: send, N=%d ===\n\n", db.dialect, o.N)
		send, err := RunSend(ctx, SendOptions{N: o.N, RedisURL: o.RedisURL, DB: db.db, Env: o.Env, Log: o.Log, Timeout: o.SendTimeout})
		if err != nil {
			return res, fmt.Errorf("%s send: %w", db.dialect, err)
		}
		send.WriteTable(out)
		run.Send = send
		if !send.Finished {
			res.Runs = append(res.Runs, run)
			return res, fmt.Errorf("%s send: the run did not finish within %s: %d deliveries still pending",
				db.dialect, o.SendTimeout, send.Pending)
		}
		fmt.Fprintf(out, "\n=== %s: web, %d clients, c=%d, %s per endpoint ===\n\n", db.dialect, o.Clients, AllConcurrency, o.Duration)
		web, err := RunWeb(ctx, WebOptions{Clients: o.Clients, Concurrency: AllConcurrency, Duration: o.Duration,
			DB: db.db, RedisURL: o.RedisURL, Env: o.Env, Log: o.Log})
		if err != nil {
			res.Runs = append(res.Runs, run)
			return res, fmt.Errorf("%s web: %w", db.dialect, err)
		}
		web.WriteTable(out)
		run.Web = web
		res.Runs = append(res.Runs, run)
	}
	if o.PG == "" {
		fmt.Fprintf(out, "\n=== postgres: skipped (%s) ===\n", pgHint)
	}
	if len(res.Runs) > 0 {
		fmt.Fprintf(out, "\n=== sqlite: send of an HTML message in the default layout, N=%d ===\n\n", o.N)
		send, err := RunSend(ctx, SendOptions{N: o.N, Format: "html", RedisURL: o.RedisURL, DB: "sqlite", Env: o.Env, Log: o.Log, Timeout: o.SendTimeout})
		if err != nil {
			return res, fmt.Errorf("sqlite HTML send: %w", err)
		}
		send.WriteTable(out)
		res.Runs[0].SendHTML = send
		if !send.Finished {
			return res, fmt.Errorf("sqlite HTML send: the run did not finish within %s: %d deliveries still pending",
				o.SendTimeout, send.Pending)
		}
	}
	if o.RTT > 0 && len(res.Runs) > 0 {
		n := min(o.N, 1000)
		fmt.Fprintf(out, "\n=== sqlite: send over a +%s round trip, N=%d ===\n\n", o.RTT, n)
		send, err := RunSend(ctx, SendOptions{N: n, RTT: o.RTT, RedisURL: o.RedisURL, DB: "sqlite", Env: o.Env, Log: o.Log, Timeout: o.SendTimeout})
		if err != nil {
			return res, fmt.Errorf("sqlite send over +%s: %w", o.RTT, err)
		}
		send.WriteTable(out)
		res.Runs[0].SendRTT = send
		if !send.Finished {
			return res, fmt.Errorf("sqlite send over +%s: the run did not finish within %s: %d deliveries still pending",
				o.RTT, o.SendTimeout, send.Pending)
		}
	}
	return res, nil
}

const pgHint = "add -pg postgres://USER@HOST:5432/DB to include it; a fresh schema is used and dropped"

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Check is one target of RunAll's summary.
type Check struct {
	Dialect string
	Name    string // the target, in words
	Met     bool
	// Counted says the target applies to this database; one that does not is printed for
	// reference (the page latency targets are stated on SQLite).
	Counted bool
	Detail  string // the figures behind the verdict
}

// Checks lists the targets of every database that ran, in order. Each is a ratio to a
// baseline of the same run — the static file for pages, the raw net/smtp loop for sends —
// never an absolute latency or rate: on this machine kind those move ±30 % between runs.
func (r *AllResult) Checks() []Check {
	var cs []Check
	for _, run := range r.Runs {
		if w := run.Web; w != nil {
			// Both latency targets are stated for the default database, SQLite.
			var targeted []string
			for _, row := range w.Rows {
				if row.Target {
					targeted = append(targeted, row.Name)
				}
			}
			cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("list pages p99 ≤ %s the static file's at c=%d", times(TargetListP99Ratio), w.Concurrency),
				Met: w.Met(), Counted: run.Dialect == "sqlite", Detail: p99s(w, targeted)})
			met, _ := w.PagesMet()
			cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("pages p99 ≤ %s the static file's at c=%d", times(TargetPageP99Ratio), w.Concurrency),
				Met: met, Counted: run.Dialect == "sqlite", Detail: p99s(w, PageRows)})
			// The home page's full render is nearly as cheap as a revalidation (its figures are
			// cached), so the clients list, a page that renders rows, is checked beside it.
			for _, pair := range [][2]string{{RowHome, RowHome304}, {RowClients, RowClients304}} {
				full, _ := w.Row(pair[0])
				reval, ok := w.Row(pair[1])
				if !ok {
					continue
				}
				cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("304 path ≥ %.0f× the full render's req/s (%s)", Target304, pair[0]),
					Met: w.Met304Of(pair[0], pair[1]), Counted: true,
					Detail: fmt.Sprintf("%s %.0f req/s, %s %.0f req/s: %.2f×", pair[1], reval.RPS, pair[0], full.RPS, w.Ratio304Of(pair[0], pair[1]))})
			}
		}
		if s := run.Send; s != nil {
			cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("send ≥ %.1f× its raw ceiling", TargetRatio),
				Met: s.Met(), Counted: true,
				Detail: fmt.Sprintf("%.0f msg/s end to end, raw ceiling %.0f msg/s: %.2f× (N=%d, %s CPU/msg)", s.Rate, s.RawRate, s.Ratio, s.N, perMsg(s.CPU, s.N))})
		}
		if s := run.SendHTML; s != nil {
			cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("HTML send (default layout) ≥ %.1f× its raw ceiling", TargetRatio),
				Met: s.Met(), Counted: true,
				Detail: fmt.Sprintf("%.0f msg/s end to end, raw ceiling %.0f msg/s: %.2f× (N=%d, %d-byte messages, %s CPU/msg)", s.Rate, s.RawRate, s.Ratio, s.N, s.SinkBytes, perMsg(s.CPU, s.N))})
		}
		if s := run.SendRTT; s != nil {
			// Stated at TargetRTT and K=TargetRTTConns; another round trip is shown for reference.
			cs = append(cs, Check{Dialect: run.Dialect, Name: fmt.Sprintf("send over +%s ≥ %.1f× its raw ceiling (lock-step net/smtp through the same proxy)", s.RTT, TargetRTTRatio),
				Met: s.Met(), Counted: s.RTTTargetStated(),
				Detail: fmt.Sprintf("%.0f msg/s end to end, raw ceiling %.0f msg/s: %.2f× (N=%d, K=%d; ceilings %s)", s.Rate, s.RawRate, s.Ratio, s.N, s.Conns, ceilings(s))})
		}
	}
	return cs
}

// ceilings is a send's three ceilings over its round trip, in words.
func ceilings(s *SendResult) string {
	l, two, one := s.Ceilings(s.Conns)
	return fmt.Sprintf("lock-step %.0f, two-trip %.0f, one write %.0f msg/s", l, two, one)
}

// p99s lists the static file's p99 and, for each named row of w, its p99, its ratio to the
// static file's and its errors.
func p99s(w *WebResult, names []string) string {
	static, _ := w.Row(RowStatic)
	figs := []string{"static " + dur(static.P99)}
	for _, name := range names {
		row, _ := w.Row(name)
		f := fmt.Sprintf("%s %s (%.1f×)", name, dur(row.P99), w.P99Ratio(name))
		switch {
		case row.Errors == 1:
			f += " (1 error)"
		case row.Errors > 1:
			f += fmt.Sprintf(" (%d errors)", row.Errors)
		}
		figs = append(figs, f)
	}
	return strings.Join(figs, ", ")
}

// WriteSummary prints the machine, each target and whether it is met, and the memory of
// the web and worker processes.
func (r *AllResult) WriteSummary(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "\n=== summary ===\n\nmachine: %s\n", m)
	fmt.Fprintf(w, "load average (1, 5, 15 min): %s at start, %s at end (this run's own load included)\n",
		orUnknown(m.LoadStart), orUnknown(m.LoadEnd))
	if m.busy() {
		fmt.Fprintln(w, "note: the load average at the start passed half the CPUs — other work shared the machine, so req/s,")
		fmt.Fprintln(w, "p99 and msg/s are lower than on an idle one; CPU per request and per message are not affected")
	}
	checks := r.Checks()
	var missed []string
	counted := 0
	for _, run := range r.Runs {
		backend := run.Dialect
		if run.Send != nil {
			backend = run.Send.Backend
		}
		fmt.Fprintf(w, "\n%s:\n", backend)
		for _, c := range checks {
			if c.Dialect != run.Dialect {
				continue
			}
			v := verdict(c.Met)
			if c.Counted {
				counted++
				if !c.Met {
					missed = append(missed, c.Dialect+" "+c.Name)
				}
			} else {
				v = "reference"
			}
			fmt.Fprintf(w, "  %-11s %s: %s\n", "["+v+"]", c.Name, c.Detail)
		}
		var mem []string
		if s := run.Send; s != nil {
			mem = append(mem, fmt.Sprintf("worker (send) peak heap %s, RSS %s", mib(s.HeapPeak), mib(s.RSSPeak)))
		}
		if wr := run.Web; wr != nil {
			mem = append(mem, fmt.Sprintf("web peak heap %s, RSS %s", mib(wr.HeapPeak), mib(wr.RSSPeak)))
		}
		if len(mem) > 0 {
			fmt.Fprintf(w, "  %-11s memory: %s\n", "", strings.Join(mem, "; "))
		}
	}
	if r.PGSkipped {
		fmt.Fprintf(w, "\npostgres: skipped — %s\n", pgHint)
	}
	for _, c := range checks {
		if !c.Counted {
			fmt.Fprintf(w, "\n(reference: the page latency targets are stated on SQLite, the round-trip send at +%s with K=%d; other runs show them for comparison)\n",
				TargetRTT, TargetRTTConns)
			break
		}
	}
	fmt.Fprintln(w, "\nEvery target is a ratio to a baseline measured in the same run (the static file, the raw net/smtp loop):")
	fmt.Fprintln(w, "absolute latencies and rates on a shared 2-core machine move by ±30 % from one run to the next.")
	switch {
	case counted == 0:
		fmt.Fprintln(w, "\nresult: nothing was measured")
	case len(missed) == 0:
		fmt.Fprintf(w, "\nresult: all %d targets met\n", counted)
	default:
		fmt.Fprintf(w, "\nresult: %d of %d targets NOT met on this machine (reported, not an error): %s\n",
			len(missed), counted, strings.Join(missed, "; "))
	}
}

package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSendTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 300
	res, err := RunSend(ctx, SendOptions{N: n, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished {
		t.Errorf("the run did not finish: %d pending", res.Pending)
	}
	if res.Attempts != n || res.Sent != n || res.SinkCount != n {
		t.Errorf("attempts %d, sent %d, sink %d; want %d each", res.Attempts, res.Sent, res.SinkCount, n)
	}
	for name, v := range map[string]float64{
		"rate": res.Rate, "raw rate": res.RawRate, "ratio": res.Ratio,
		"heap peak": float64(res.HeapPeak), "rss peak": float64(res.RSSPeak), "done": float64(res.Done),
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if res.MsgBytes < 2400 {
		t.Errorf("message is %d bytes, want about 2.4 KB or more", res.MsgBytes)
	}
	var out bytes.Buffer
	res.WriteTable(&out)
	for _, want := range []string{"end-to-end msg/s", "attempts rows", "peak Go heap", "peak RSS", "raw ceiling msg/s", "ratio end-to-end / raw"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

func TestWebTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunWeb(ctx, WebOptions{Clients: 500, Concurrency: 4, Duration: time.Second, DeepPages: 10})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{RowStatic, RowHome, RowClients, RowClientsDeep, RowSearch, RowStats, RowHome304, RowClients304}
	for _, name := range names {
		row, ok := res.Row(name)
		if !ok {
			t.Errorf("no %s row", name)
			continue
		}
		if row.Requests <= 0 || row.RPS <= 0 || row.P50 <= 0 || row.P99 <= 0 {
			t.Errorf("%s: requests %d, rps %.0f, p50 %s, p99 %s; want all positive", name, row.Requests, row.RPS, row.P50, row.P99)
		}
		if row.Errors != 0 {
			t.Errorf("%s: %d errors (first: %s)", name, row.Errors, row.FirstErr)
		}
		if row.HeapPeak == 0 || row.RSSPeak == 0 {
			t.Errorf("%s: heap peak %d, RSS peak %d; want both measured", name, row.HeapPeak, row.RSSPeak)
		}
		if want := name != RowStatic && name != RowHome304 && name != RowClients304; row.PageTarget != want {
			t.Errorf("%s: held to the page target %v, want %v", name, row.PageTarget, want)
		}
	}
	if row, _ := res.Row(RowStats); row.Target {
		t.Error("the stats row counts toward the clients issue's 50 ms verdict")
	}
	// RunWeb checked that the page's totals equal these before loading it.
	sd := res.Seeded
	if sd.Success == 0 || sd.Failure == 0 || sd.Sent != sd.Success || sd.Pending == 0 {
		t.Errorf("seeded %+v: want successes (one per sent delivery), failures and pending deliveries", sd)
	}
	if tried := 500*85/100 + 3 + 20; sd.Sent+sd.Pending > 520 || sd.Attempts() < tried {
		t.Errorf("seeded %+v: want at least %d attempts over 523 deliveries", sd, tried)
	}
	if res.HeapPeak == 0 || res.RSSPeak == 0 || res.HeapBefore == 0 {
		t.Errorf("web memory: heap %d (before %d), RSS %d; want all measured", res.HeapPeak, res.HeapBefore, res.RSSPeak)
	}
	if row, _ := res.Row(RowClientsDeep); !strings.Contains(row.Path, "after=") {
		t.Errorf("deep clients page %q has no cursor", row.Path)
	}
	var out bytes.Buffer
	res.WriteTable(&out)
	for _, want := range append(names, "web process memory", "p99 < 10ms", "p99 < 50ms", "304 path:", "/stats") {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

func TestCheckStatsRefusesAPageWithoutTheSeededFigures(t *testing.T) {
	seeded := SeededAttempts{Success: 7, Failure: 2, Sent: 7}
	page := func(s, f, n int) string {
		return fmt.Sprintf(`<p class="card-figure" id="stat-success">%d</p><p class="card-figure" id="stat-failure">%d</p>`+
			`<p class="card-figure" id="stat-sent">%d</p><td>Newsletter 1 for {{.Name}}</td><td>%s</td>`, s, f, n, reply550)
	}
	if err := checkStats(page(7, 2, 7), seeded); err != nil {
		t.Errorf("a page with the seeded figures: %v", err)
	}
	for name, body := range map[string]string{
		"other totals":     page(7, 1, 7),
		"no totals":        "<main>Statistics</main>",
		"no failure reply": strings.Replace(page(7, 2, 7), reply550, "", 1),
		"no mailing":       strings.Replace(page(7, 2, 7), "Newsletter 1", "", 1),
	} {
		if err := checkStats(body, seeded); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// webResult is a web result with the given p99 and req/s per row, for the summary's logic.
func webResult(backend string, rows map[string][2]float64) *WebResult {
	r := &WebResult{Backend: backend, Concurrency: 64}
	for _, name := range []string{RowStatic, RowHome, RowClients, RowClientsDeep, RowSearch, RowStats, RowHome304, RowClients304} {
		v := rows[name]
		r.Rows = append(r.Rows, WebRow{Name: name, P99: time.Duration(v[0] * float64(time.Millisecond)), RPS: v[1],
			Target: slices.Contains(ListRows, name), PageTarget: slices.Contains(PageRows, name)})
	}
	return r
}

func TestSummaryVerdicts(t *testing.T) {
	fast := map[string][2]float64{RowStatic: {1, 9000}, RowHome: {4, 3000}, RowClients: {5, 2000}, RowClientsDeep: {6, 1900},
		RowSearch: {8, 1500}, RowStats: {9, 800}, RowHome304: {2, 7000}, RowClients304: {2, 5000}}
	slowStats := maps.Clone(fast)
	slowStats[RowStats] = [2]float64{250, 10}
	slowStats[RowHome304] = [2]float64{2, 5000}    // 1.67× home
	slowStats[RowClients304] = [2]float64{2, 3000} // 1.5× the clients list
	slowStats[RowSearch] = [2]float64{60, 500}     // misses the list pages' 50 ms
	send := &SendResult{N: 100, Attempts: 100, Finished: true, Rate: 6000, RawRate: 8000, Ratio: 0.75, Backend: "sqlite + embedded redis"}
	r := &AllResult{Machine: Machine{CPUs: 4, LoadStart: "0.10 0.20 0.30", LoadEnd: "0.40 0.20 0.30"}, Runs: []BackendRun{
		{Dialect: "sqlite", Send: send, Web: webResult("sqlite + embedded redis", fast)},
		{Dialect: "postgres", Send: send, Web: webResult("postgres + embedded redis", slowStats)},
	}}
	type key struct{ dialect, prefix string }
	got := map[key]Check{}
	for _, c := range r.Checks() {
		k := strings.Fields(c.Name)[0]
		if i := strings.LastIndex(c.Name, "("); i > 0 {
			k += " " + c.Name[i:]
		}
		got[key{c.Dialect, k}] = c
	}
	for k, want := range map[key][2]bool{ // met, counted
		{"sqlite", "list"}: {true, true}, {"postgres", "list"}: {false, false},
		{"sqlite", "pages"}: {true, true}, {"sqlite", "304 (home)"}: {true, true}, {"sqlite", "304 (clients)"}: {true, true},
		{"sqlite", "send"}: {true, true}, {"postgres", "pages"}: {false, false}, {"postgres", "304 (home)"}: {false, true},
		{"postgres", "304 (clients)"}: {false, true}, {"postgres", "send"}: {true, true},
	} {
		c, ok := got[k]
		if !ok || c.Met != want[0] || c.Counted != want[1] {
			t.Errorf("%v: %+v, want met %v, counted %v", k, c, want[0], want[1])
		}
	}
	var out bytes.Buffer
	r.WriteSummary(&out)
	for _, want := range []string{"machine: 4 CPUs", "0.10 0.20 0.30 at start, 0.40 0.20 0.30 at end", "[met]",
		"[reference]", "stats 250ms", "search 60ms", "1.67×", "result: 2 of 8 targets NOT met", "1.50×", "postgres 304 path"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "note: the load average") {
		t.Errorf("an idle machine is called busy:\n%s", out.String())
	}
	r.Machine.LoadStart = "3.10 0.20 0.30"
	out.Reset()
	r.WriteSummary(&out)
	if !strings.Contains(out.String(), "note: the load average at the start passed half the CPUs") {
		t.Errorf("a machine with a load of 3.1 on 4 CPUs is not called busy:\n%s", out.String())
	}

	// An error on the home page misses the page and 304 targets whatever the figures.
	r.Runs[0].Web.Rows[1].Errors = 1
	r.Runs = r.Runs[:1]
	r.PGSkipped = true
	out.Reset()
	r.WriteSummary(&out)
	for _, want := range []string{"home 4ms (1 error)", "result: 3 of 5 targets NOT met", "postgres: skipped — add -pg"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

package bench

import (
	"bytes"
	"context"
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
	names := []string{RowStatic, RowHome, RowClients, RowClientsDeep, RowSearch, RowHome304}
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
	}
	if row, _ := res.Row(RowClientsDeep); !strings.Contains(row.Path, "after=") {
		t.Errorf("deep clients page %q has no cursor", row.Path)
	}
	var out bytes.Buffer
	res.WriteTable(&out)
	for _, name := range names {
		if !strings.Contains(out.String(), name) {
			t.Errorf("table lacks %q:\n%s", name, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

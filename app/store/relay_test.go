package store_test

import (
	"testing"
	"time"
)

// TestRelayUpReportsWhenTheOutageBegan: ending an outage reports its start (what the
// "reachable again" log line and its duration come from), once — a second worker's call
// finds no outage to end.
func TestRelayUpReportsWhenTheOutageBegan(t *testing.T) {
	f := newFixture(t)
	began := f.clock.Now()
	backoff := func(int) time.Duration { return 5 * time.Second }
	if _, _, err := f.st.RelayFailed(f.ctx, "connection refused", backoff); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Minute)
	if _, _, err := f.st.RelayFailed(f.ctx, "connection refused", backoff); err != nil {
		t.Fatal(err)
	}
	ended, since, err := f.st.RelayUp(f.ctx)
	if err != nil || !ended || !since.Equal(began) {
		t.Fatalf("RelayUp = %v, %v, %v; want true and the outage's start %v", ended, since, err, began)
	}
	if st, err := f.st.Relay(f.ctx); err != nil || st.Down() {
		t.Fatalf("after RelayUp the relay is %+v (%v), want up", st, err)
	}
	if ended, _, err := f.st.RelayUp(f.ctx); err != nil || ended {
		t.Fatalf("a second RelayUp = %v, %v; want no outage to end", ended, err)
	}
}

package bench

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// echoServer answers every byte with itself until the client closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dialProxy(t *testing.T, target string, rtt time.Duration) net.Conn {
	t.Helper()
	p, err := StartDelayProxy(target, rtt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDelayProxyAddsTheRoundTrip: a byte sent through the proxy to an echo server comes back
// one asked round trip later — the median of 15 within 10 % of it, and never sooner.
func TestDelayProxyAddsTheRoundTrip(t *testing.T) {
	echo := echoServer(t)
	for _, rtt := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		c := dialProxy(t, echo, rtt)
		var trips []time.Duration
		b := []byte{0}
		for i := range 15 {
			b[0] = byte(i)
			t0 := time.Now()
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
				t.Fatalf("read %v (%v), want %d", b, err, i)
			}
			trips = append(trips, time.Since(t0))
		}
		slices.Sort(trips)
		median := trips[len(trips)/2]
		t.Logf("asked %s: median %s, min %s, max %s", rtt, median, trips[0], trips[len(trips)-1])
		// The fastest trip is the proxy's own delay: what a busy machine adds (scheduling a
		// goroutine late) only makes trips longer, so the median is logged, not judged.
		if trips[0] < rtt || trips[0] > rtt+rtt/10 {
			t.Errorf("asked %s: round trips from %s (median %s); want none below it and the fastest within 10 %%", rtt, trips[0], median)
		}
	}
}

// TestDelayProxyDelaysWithoutQueueing: 200 writes in a row, 1 MiB in all, come back in order
// and byte for byte about one round trip after the first — each chunk is delayed by the round
// trip, not by the chunks before it, and nothing limits the bandwidth. (Queued one after
// another they would take 200 half round trips.)
func TestDelayProxyDelaysWithoutQueueing(t *testing.T) {
	const rtt = 50 * time.Millisecond
	c := dialProxy(t, echoServer(t), rtt)
	want := make([]byte, 200*5243)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make([]byte, len(want))
	t0 := time.Now()
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(c, got)
		read <- err
	}()
	for b := range slices.Chunk(want, 5243) {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	t.Logf("%d bytes in 200 writes echoed in %s", len(want), took)
	if !bytes.Equal(got, want) {
		t.Error("the echo differs from what was sent: order or bytes were lost")
	}
	if took < rtt || took > 3*rtt {
		t.Errorf("took %s for a %s round trip: want about one round trip", took, rtt)
	}
}

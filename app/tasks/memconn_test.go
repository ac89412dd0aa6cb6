package tasks_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

// The embedded Redis answers this process's client in memory. A pipeline longer than any
// buffer must go through: over net.Pipe the server, writing its first reply, and the client,
// still writing commands, waited for each other until the client's timeout.
func TestEmbeddedRedisTakesALongPipeline(t *testing.T) {
	log, _ := testutil.Logger(t)
	r, err := tasks.OpenRedis(context.Background(), "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pipe := r.Client.Pipeline()
	key := "mailer:test:" + strings.Repeat("k", 200)
	const n = 2000 // about 0.5 MB of commands
	for range n {
		pipe.Incr(ctx, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline of %d commands: %v", n, err)
	}
	got, err := r.Client.Get(ctx, key).Int()
	if err != nil || got != n {
		t.Fatalf("counter = %d, %v; want %d", got, err, n)
	}
}

func TestMemPipeReadWaitsForDataUntilItsDeadline(t *testing.T) {
	a, b := tasks.MemPipe()
	defer a.Close()
	buf := make([]byte, 8)

	// Bytes written before and while a read waits both arrive, in order.
	if _, err := b.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond) // the read below is already waiting
		b.Write([]byte("cd"))
	}()
	var got []byte
	for len(got) < 4 {
		n, err := a.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abcd" {
		t.Fatalf("read %q, want abcd", got)
	}

	// With nothing to read, the deadline ends the wait as a timeout.
	a.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := a.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a deadline error", err)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a timeout to net clients", err)
	}
	if waited := time.Since(start); waited < 25*time.Millisecond {
		t.Fatalf("returned after %v, before the deadline", waited)
	}

	// Closing one end: the other reads what was written, then EOF, and cannot write.
	a.SetReadDeadline(time.Time{})
	b.Write([]byte("last"))
	b.Close()
	n, err := a.Read(buf)
	if err != nil || string(buf[:n]) != "last" {
		t.Fatalf("after close: %q, %v; want the last bytes", buf[:n], err)
	}
	if _, err := a.Read(buf); err != io.EOF {
		t.Fatalf("after the last bytes: %v, want EOF", err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("wrote to a closed connection")
	}
}

package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"mailer/app/config"
	"mailer/app/testutil"
)

// startServe runs `mailer serve` with vars until /healthz answers 200, and stops it when the
// test ends. It returns the address it listens on and its output.
func startServe(t *testing.T, vars map[string]string) (string, *testutil.LogBuffer) {
	t.Helper()
	addr := freeAddr(t)
	vars["ADDR"], vars["BASE_URL"] = addr, "http://"+addr
	ctx, cancel := context.WithCancel(context.Background())
	out := &testutil.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv(vars), strings.NewReader(""), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not return within 15s of cancel")
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", out.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	testutil.Eventually(t, 30*time.Second, "GET /healthz to answer 200", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned before answering: %v", err)
		default:
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, out
}

// withUmask sets the process's umask for the rest of the test. The umask is the whole
// process's: no test of this package runs in parallel.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("stat %s: %v", path, err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s is %04o, want %04o", filepath.Base(path), got, want)
	}
}

// The red team's `stat data/mailer.db` found the database, its -wal and -shm 0644: any local
// user could read every account and mailing. Under a umask of 0 (which takes nothing away)
// the running server's files are still the owner's alone.
func TestDataFilesArePrivateWhateverTheUmask(t *testing.T) {
	withUmask(t, 0)

	t.Run("a first start", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		startServe(t, map[string]string{"DATA_DIR": data}) // the default SQLite file, embedded Redis
		db := filepath.Join(data, "mailer.db")
		checkMode(t, data, 0o700)
		for _, f := range []string{db, db + "-wal", db + "-shm", filepath.Join(data, "secret_key")} {
			checkMode(t, f, 0o600)
		}
	})

	// An earlier version's files (SQLite's own 0644), in a folder the operator made 0755:
	// the files are closed to others at start; the folder is left as it is, with a warning.
	t.Run("files an earlier version left", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(data, "mailer.db")
		raw, err := sql.Open("sqlite", config.SQLiteDSN(db))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("CREATE TABLE earlier (id INTEGER)"); err != nil {
			t.Fatal(err)
		}
		// Held open, as a process killed mid-write would leave them, -wal and -shm stay.
		checkMode(t, db+"-wal", 0o644)
		_, out := startServe(t, map[string]string{"DATA_DIR": data})
		raw.Close()
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			checkMode(t, f, 0o600)
		}
		checkMode(t, data, 0o755)
		if !strings.Contains(out.String(), "the database folder is open to other users") {
			t.Errorf("no warning about the 0755 folder:\n%s", out.String())
		}
	})
}

// The embedded Redis listened on a random loopback port that any local user could find
// (`ss -ltn`, or the start log) and use: read the queues, queue a send. It now refuses
// whoever lacks its random password, while the server's own clients — the web process's,
// Asynq's client, server, scheduler and inspector, the monitor — all hold it.
func TestEmbeddedRedisRequiresItsPassword(t *testing.T) {
	web, out := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "METRICS_TOKEN": "metrics-token-0123456789"})
	m := regexp.MustCompile(`embedded redis started"? addr=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no embedded redis address in the log:\n%s", out.String())
	}
	addr := m[1]

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the embedded redis: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	replies := bufio.NewReader(conn)
	for _, cmd := range []string{"PING", "KEYS *", "LRANGE asynq:{default}:pending 0 -1", "AUTH guess", "PING"} {
		// As redis-cli sends it: an array of bulk strings.
		args := strings.Fields(cmd)
		fmt.Fprintf(conn, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(a), a)
		}
		reply, err := replies.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if !strings.HasPrefix(reply, "-") {
			t.Errorf("%s without the password answered %q, want an error", cmd, strings.TrimSpace(reply))
		} else if cmd != "AUTH guess" && !strings.HasPrefix(reply, "-NOAUTH") {
			t.Errorf("%s without the password answered %q, want NOAUTH", cmd, strings.TrimSpace(reply))
		}
	}

	// The clients an attacker would take off the shelf fare no better.
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("go-redis PING without the password: %v, want NOAUTH", err)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	defer insp.Close()
	if qs, err := insp.Queues(); err == nil {
		t.Errorf("asynq inspector without the password listed queues %v", qs)
	}

	// The server's own inspector reads the queues over the same TCP port, with the password.
	req, _ := http.NewRequest("GET", "http://"+web+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer metrics-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mailer_queue_inspect_up 1") {
		t.Errorf("GET /metrics: %d, the queues unread:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(out.String(), "NOAUTH") {
		t.Errorf("one of the server's own clients was refused:\n%s", out.String())
	}
}

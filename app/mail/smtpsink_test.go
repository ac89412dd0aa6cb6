package mail_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

// startSMTPSink runs Postfix's smtp-sink (Debian package postfix) on a free port of
// 127.0.0.1 with args, dumping each transaction it takes into a file of its own, and returns
// its address and the dumps' folder. The test is skipped where smtp-sink is not installed.
func startSMTPSink(t *testing.T, args ...string) (addr, dumps string) {
	t.Helper()
	path, err := exec.LookPath("smtp-sink")
	if err != nil {
		// /usr/sbin is not on every user's PATH.
		path = "/usr/sbin/smtp-sink"
		if _, err := os.Stat(path); err != nil {
			t.Skip("smtp-sink is not installed (Debian: apt-get install postfix)")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	// Not t.TempDir: as root, smtp-sink must be given a user to switch to, and that user
	// cannot enter the test's private temporary folders. A dump it cannot write ends the
	// session.
	dumps, err = os.MkdirTemp("", "smtp-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dumps) })
	args = append(args, "-d", filepath.Join(dumps, "%H%M%S."))
	if os.Geteuid() == 0 {
		os.Chmod(dumps, 0o777)
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(path, append(args, addr, "64")...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start smtp-sink: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	testutil.Eventually(t, 10*time.Second, "smtp-sink's greeting on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("smtp-sink %v exited: %s", args, out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "220")
	})
	return addr, dumps
}

// TestAgainstPostfixSMTPSink sends through Postfix's test server, which advertises
// PIPELINING but not CHUNKING, so the pool puts each message's content and the next envelope
// in one write; with -p it advertises no PIPELINING and the pool falls back to lock-step.
// Each outcome must be the same either way: all accepted (and every message in smtp-sink's
// dumps), all dropped after the end of data (-q .) or at RCPT (-q rcpt), all refused with
// 421 at RCPT (-Q rcpt).
func TestAgainstPostfixSMTPSink(t *testing.T) {
	const n = 30
	for _, sc := range []struct {
		name string
		args []string
		want func(outcome) bool
	}{
		{"accepts", nil, func(o outcome) bool { return o.Code == 250 && o.Network == "" }},
		{"drops after the data", []string{"-q", "."}, func(o outcome) bool { return o.Network == "connection" }},
		{"drops at RCPT", []string{"-q", "rcpt"}, func(o outcome) bool { return o.Network == "connection" }},
		{"421 at RCPT", []string{"-Q", "rcpt"}, func(o outcome) bool { return o.Code == 421 }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			outs := map[string][]outcome{}
			for _, mode := range []string{"pipelining", "lock-step"} {
				args := sc.args
				if mode == "lock-step" {
					args = append([]string{"-p"}, args...)
				}
				addr, dir := startSMTPSink(t, args...)
				pool := newPool(t, "smtp://"+addr, 2, 10*time.Second)
				outs[mode] = sendAll(t, pool, n, 8)
				dumps, _ := os.ReadDir(dir)
				if sc.name == "accepts" && len(dumps) != n {
					t.Errorf("%s: smtp-sink dumped %d transactions, want %d", mode, len(dumps), n)
				}
			}
			for i := range n {
				p, l := outs["pipelining"][i], outs["lock-step"][i]
				if p != l || !sc.want(p) {
					t.Errorf("%s: pipelining %+v, lock-step %+v", rcpt(i), p, l)
				}
			}
			t.Logf("first outcome: %+v", outs["pipelining"][0])
		})
	}
}

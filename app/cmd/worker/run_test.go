package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailer/app/config"
	"mailer/app/tasks"
	"mailer/app/testutil"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// redisURL returns a Redis URL a separate worker process can reach: a database of the
// test's own on TEST_REDIS_URL, or an embedded server started in this test process.
func redisURL(t *testing.T) string {
	t.Helper()
	if u := testutil.RedisURL(t); u != "" {
		return u
	}
	log, _ := testutil.Logger(t)
	r, err := tasks.OpenRedis(context.Background(), "", log)
	if err != nil {
		t.Fatalf("start embedded redis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r.URL()
}

// workerEnv is a configuration of the test's own with a shared Redis.
func workerEnv(t *testing.T) map[string]string {
	t.Helper()
	dsn, dialect := testutil.DatabaseURL(t)
	if dialect == "sqlite" {
		dsn = "sqlite:" + config.SQLitePath(dsn)
	}
	return map[string]string{
		"DATA_DIR":     t.TempDir(),
		"DATABASE_URL": dsn,
		"REDIS_URL":    redisURL(t),
	}
}

// buildWorker compiles this command into a temporary folder.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// processEnv is a minimal environment for the binary, so settings of the machine running
// the tests (a REDIS_URL, a LOG_FORMAT) do not leak in.
func processEnv(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func TestRunWithoutRedisURLPointsToMailerServe(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir()}
	var out bytes.Buffer
	err := run(context.Background(), nil, getenv(vars), &out)
	if err == nil {
		t.Fatal("run without REDIS_URL succeeded, want an error")
	}
	for _, want := range []string{"REDIS_URL", "mailer serve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if entries, _ := os.ReadDir(vars["DATA_DIR"]); len(entries) != 0 {
		t.Errorf("run without REDIS_URL created %d entries in DATA_DIR, want none", len(entries))
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir(), "REDIS_URL": "redis://127.0.0.1:1"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "nope"},
		{[]string{"extra"}, `"extra"`},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, getenv(vars), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %v: err = %v, want an error containing %s", tt.args, err, tt.want)
		}
	}
}

func TestRunSurfacesConfigErrors(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir(), "REDIS_URL": "http://127.0.0.1:6379"}
	err := run(context.Background(), nil, getenv(vars), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL must look like") {
		t.Errorf("run with an http REDIS_URL: err = %v, want the config error", err)
	}
}

func TestRunStartsAndStopsCleanlyOnCancel(t *testing.T) {
	vars := workerEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv(vars), out) }()

	testutil.Eventually(t, 30*time.Second, "the worker to start", func() bool {
		select {
		case err := <-done:
			t.Fatalf("worker returned before starting: %v", err)
		default:
		}
		return strings.Contains(out.String(), "worker started")
	})

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop within 15s of cancel")
	}
	if !strings.Contains(out.String(), "worker stopped") {
		t.Errorf("worker output lacks %q:\n%s", "worker stopped", out.String())
	}
	if !strings.Contains(out.String(), "process=worker") {
		t.Errorf("worker log lines are not tagged process=worker:\n%s", out.String())
	}
}

func TestBinaryWithoutRedisURLExitsOneWithOneLineError(t *testing.T) {
	bin := buildWorker(t)
	cmd := exec.Command(bin)
	cmd.Env = processEnv(map[string]string{"DATA_DIR": t.TempDir()})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("worker without REDIS_URL: err = %v, want a non-zero exit", err)
	}
	if code := exit.ExitCode(); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
		t.Errorf("stderr is not exactly one line: %q", msg)
	}
	if !strings.HasPrefix(msg, "worker: ") || !strings.Contains(msg, "REDIS_URL") || !strings.Contains(msg, "mailer serve") {
		t.Errorf("stderr = %q, want a worker: line about REDIS_URL and mailer serve", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestBinaryExitsZeroOnSIGTERM(t *testing.T) {
	bin := buildWorker(t)
	vars := workerEnv(t)
	cmd := exec.Command(bin)
	cmd.Env = processEnv(vars)
	stdout, stderr := &testutil.LogBuffer{}, &testutil.LogBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("worker stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})

	testutil.Eventually(t, 30*time.Second, "the worker binary to start", func() bool {
		select {
		case <-exited:
			t.Fatalf("worker exited before starting: %v", waitErr)
		default:
		}
		return strings.Contains(stdout.String(), "worker started")
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("worker after SIGTERM: %v, want exit code 0", waitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not exit within 15s of SIGTERM")
	}
	if !strings.Contains(stdout.String(), "worker stopped") {
		t.Errorf("worker stdout lacks %q", "worker stopped")
	}
}

func TestWorkerServesItsOwnMetricsBehindTheToken(t *testing.T) {
	url := testutil.RedisURL(t)
	if url == "" {
		log, _ := testutil.Logger(t)
		r, err := tasks.OpenRedis(context.Background(), "", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		url = r.URL()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"REDIS_URL": url, "DATA_DIR": t.TempDir(), "WORKER_METRICS_ADDR": addr,
		"METRICS_TOKEN": "scrape-token", "SECRET_KEY": "worker-test-secret-0123456789abcdefghijkl"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
	defer func() { cancel(); <-done }()
	var body string
	get := func(token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode
	}
	testutil.Eventually(t, 20*time.Second, "the worker's metrics endpoint", func() bool { return get("scrape-token") == 200 })
	// Queue depth covers the send tasks' queue and the schedule ticks' own, before either
	// ever held a task.
	for _, q := range tasks.Queues() {
		if want := `mailer_queue_depth{queue="` + q + `",state="pending"}`; !strings.Contains(body, want) {
			t.Errorf("the worker's metrics lack %s", want)
		}
	}
	if code := get("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
}

package testutil

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"mailer/app/tasks"
)

// redisDBs are the database numbers tests may take on a shared server; 0 holds only the
// locks that hand them out, so nothing a test does touches another test's keys.
const redisDBs = 16

// RedisURL returns a Redis URL of this test's own: a database number on TEST_REDIS_URL's
// server that no other test holds (locked, and emptied before use), or "" for an embedded
// server when TEST_REDIS_URL is unset.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_REDIS_URL")
	if base == "" {
		if RequireServices() {
			t.Fatal("REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set")
		}
		return ""
	}
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	opts.DB = 0
	lockClient := redis.NewClient(opts)
	defer lockClient.Close()
	ctx := context.Background()
	owner := fmt.Sprintf("%d-%s", os.Getpid(), randomHex(4))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for n := 1; n < redisDBs; n++ {
			key := "mailer:test:db:" + strconv.Itoa(n)
			// The lock expires on its own if a test process dies without cleaning up.
			ok, err := lockClient.SetNX(ctx, key, owner, 15*time.Minute).Result()
			if err != nil {
				t.Fatalf("TEST_REDIS_URL unreachable: %v", err)
			}
			if !ok {
				continue
			}
			dbOpts := *opts
			dbOpts.DB = n
			c := redis.NewClient(&dbOpts)
			// Ours alone while the lock is held: empty what an earlier, killed test left.
			err = c.FlushDB(ctx).Err()
			c.Close()
			if err != nil {
				t.Fatalf("empty redis db %d: %v", n, err)
			}
			t.Cleanup(func() {
				c := redis.NewClient(&dbOpts)
				c.FlushDB(context.Background())
				c.Close()
				lc := redis.NewClient(opts)
				if v, _ := lc.Get(context.Background(), key).Result(); v == owner {
					lc.Del(context.Background(), key)
				}
				lc.Close()
			})
			return fmt.Sprintf("redis://%s/%d", opts.Addr, n)
		}
		if time.Now().After(deadline) {
			t.Fatal("no free redis database number on TEST_REDIS_URL after 3 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Redis connects to a Redis of this test's own (see RedisURL).
func Redis(t testing.TB) *tasks.Redis {
	t.Helper()
	log, _ := Logger(t)
	r, err := tasks.OpenRedis(context.Background(), RedisURL(t), log)
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

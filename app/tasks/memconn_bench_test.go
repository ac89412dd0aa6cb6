package tasks_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"mailer/app/tasks"
	"mailer/app/testutil"
)

// BenchmarkEmbeddedRedisRoundTrip compares a page's data-version read (one MGET) from the
// embedded Redis in memory, as this process's client reads it, with the same read over TCP
// in the same run: go test -bench EmbeddedRedis -cpu 2 ./app/tasks.
func BenchmarkEmbeddedRedisRoundTrip(b *testing.B) {
	log, _ := testutil.Logger(b)
	r, err := tasks.OpenRedis(context.Background(), "", log)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	tcp := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.ConnOpt().Password, DisableIdentity: true})
	defer tcp.Close()
	for _, c := range []struct {
		name   string
		client *redis.Client
	}{{"memory", r.Client}, {"tcp", tcp}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.SetParallelism(32) // 64 goroutines on 2 CPUs, as the web benchmark's connections
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.client.MGet(ctx, "mailer:ver:1", "mailer:ver:admin").Err(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

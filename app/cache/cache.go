// Package cache keeps expensive reads (home figures, statistics) in Redis, shared by every
// web process, under keys that carry a data version. Every write to an owner's data and
// every send attempt bumps that owner's version, so a cached figure is never served after
// the owner's own change; a short TTL bounds anything the versions cannot see.
package cache

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"mailer/app/mailing"
)

// Versions are data versions in Redis: one per owner, "all" (bumped by any write, for
// service-wide views) and "admin" (bumped by managers' actions, which change how other
// people's data reads: a blocked owner, a disabled mailing).
type Versions struct {
	Redis *redis.Client
	Log   *slog.Logger
}

const prefix = "mailer:ver:"

// Bump records that the data of these owners changed.
func (v *Versions) Bump(ctx context.Context, ownerIDs ...int64) {
	pipe := v.Redis.Pipeline()
	for _, id := range ownerIDs {
		if id != 0 {
			pipe.Incr(ctx, prefix+strconv.FormatInt(id, 10))
		}
	}
	pipe.Incr(ctx, prefix+"all")
	if _, err := pipe.Exec(ctx); err != nil {
		v.Log.Warn("data version not bumped", "err", err)
	}
}

// BumpAdmin records a manager's action.
func (v *Versions) BumpAdmin(ctx context.Context) {
	if err := v.Redis.Incr(ctx, prefix+"admin").Err(); err != nil {
		v.Log.Warn("data version not bumped", "err", err)
	}
}

// Of returns the version of what scope sees. When Redis cannot answer it returns a value
// that never repeats, so nothing cached is trusted.
func (v *Versions) Of(ctx context.Context, scope mailing.Scope) string {
	own := "all"
	if !scope.All {
		own = strconv.FormatInt(scope.UserID, 10)
	}
	vals, err := v.Redis.MGet(ctx, prefix+own, prefix+"admin").Result()
	if err != nil {
		return "nocache-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	str := func(x any) string {
		if s, ok := x.(string); ok {
			return s
		}
		return "0"
	}
	return own + "." + str(vals[0]) + "." + str(vals[1])
}

// Cache stores JSON values in Redis and counts hits and misses.
type Cache struct {
	Redis  *redis.Client
	Log    *slog.Logger
	hits   atomic.Int64
	misses atomic.Int64
	flight singleflight.Group
}

// Stats returns the hit and miss counts so far.
func (c *Cache) Stats() (hits, misses int64) { return c.hits.Load(), c.misses.Load() }

// Get returns the value under key, or computes it with load and stores it for ttl. A Redis
// failure only costs the cache: load's answer is returned.
func Get[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func() (T, error)) (T, error) {
	key = "mailer:cache:" + key
	if b, err := c.Redis.Get(ctx, key).Bytes(); err == nil {
		var v T
		if json.Unmarshal(b, &v) == nil {
			c.hits.Add(1)
			c.Log.Debug("cache hit", "key", key)
			return v, nil
		}
	}
	c.misses.Add(1)
	c.Log.Debug("cache miss", "key", key)
	// When a key expires under load, one request computes it and the others wait for it.
	res, err, _ := c.flight.Do(key, func() (any, error) {
		v, err := load()
		if err != nil {
			return v, err
		}
		if b, err := json.Marshal(v); err == nil {
			c.Redis.Set(ctx, key, b, ttl)
		}
		return v, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return res.(T), nil
}

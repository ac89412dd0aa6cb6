package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/redis/go-redis/v9"

	"mailer/app/config"
	"mailer/app/mailing"
)

// Limiter counts attempts in Redis, so every web process shares the same counts.
type Limiter struct {
	Redis *redis.Client
}

// fixedWindow increments the counter and sets its expiry in one round trip.
var fixedWindow = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return n`)

// Allow counts one attempt for each key and returns ERATELIMIT when any key is over rate.
func (l *Limiter) Allow(ctx context.Context, action string, rate config.Rate, keys ...string) error {
	if rate.N <= 0 {
		return nil
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		n, err := fixedWindow.Run(ctx, l.Redis, []string{limiterKey(action, k)}, rate.Per.Milliseconds()).Int()
		if err != nil {
			// A Redis outage must not lock everyone out; it is logged by the caller's health checks.
			return nil
		}
		if n > rate.N {
			return mailing.Errorf(mailing.ERATELIMIT, "too many %s attempts", action)
		}
	}
	return nil
}

// limiterKey is where a counter lives; keys are hashed, so an email address never sits in
// Redis in clear.
func limiterKey(action, k string) string {
	sum := sha256.Sum256([]byte(k))
	return "mailer:rl:" + action + ":" + hex.EncodeToString(sum[:12])
}

// Over reports ERATELIMIT when key has already been counted more than rate allows in the
// current window, without counting this call: it is asked before the attempt, and only an
// attempt that fails is counted (Count).
func (l *Limiter) Over(ctx context.Context, action string, rate config.Rate, key string) error {
	if rate.N <= 0 || key == "" {
		return nil
	}
	n, err := l.Redis.Get(ctx, limiterKey(action, key)).Int()
	if err != nil {
		// No counter (or a Redis outage, which must not lock everyone out).
		return nil
	}
	if n >= rate.N {
		return mailing.Errorf(mailing.ERATELIMIT, "too many %s failures", action)
	}
	return nil
}

// Count records one failure for key in the current window.
func (l *Limiter) Count(ctx context.Context, action string, rate config.Rate, key string) {
	if rate.N <= 0 || key == "" {
		return
	}
	fixedWindow.Run(ctx, l.Redis, []string{limiterKey(action, key)}, rate.Per.Milliseconds()) //nolint:errcheck // see Allow
}

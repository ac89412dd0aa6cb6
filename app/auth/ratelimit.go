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
// Keys are hashed: an email address never sits in Redis in clear.
func (l *Limiter) Allow(ctx context.Context, action string, rate config.Rate, keys ...string) error {
	if rate.N <= 0 {
		return nil
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		sum := sha256.Sum256([]byte(k))
		key := "mailer:rl:" + action + ":" + hex.EncodeToString(sum[:12])
		n, err := fixedWindow.Run(ctx, l.Redis, []string{key}, rate.Per.Milliseconds()).Int()
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

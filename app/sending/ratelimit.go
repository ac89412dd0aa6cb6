package sending

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLimiter holds every worker to one rate (SEND_RATE messages a second) with a counter
// per second in Redis: whoever finds the current second full waits for the next.
type RedisLimiter struct {
	Redis *redis.Client
	Rate  int
}

var takeSlot = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], 2000) end
return n`)

func (l *RedisLimiter) Wait(ctx context.Context) error {
	for {
		now := time.Now()
		sec := now.Unix()
		n, err := takeSlot.Run(ctx, l.Redis, []string{"mailer:sendrate:" + strconv.FormatInt(sec, 10)}).Int()
		if err != nil {
			// Without Redis there is no shared count; sending goes on rather than stalls,
			// unless the worker is stopping.
			return ctx.Err()
		}
		if n <= l.Rate {
			return nil
		}
		next := time.Unix(sec+1, 0)
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

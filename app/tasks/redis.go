// Package tasks carries work between the web process and workers through Asynq on Redis:
// task types, payloads, handlers, and the Redis connection itself. Redis only carries work;
// the database stays the source of truth, so losing Redis loses nothing that matters.
package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Redis is a connection to an external server, or to an embedded one started in-process.
type Redis struct {
	Client   *redis.Client
	Embedded bool
	opts     *redis.Options
	mini     *miniredis.Miniredis
	stop     chan struct{}
}

// OpenRedis connects to url, or starts an embedded Redis-compatible server when url is empty.
func OpenRedis(ctx context.Context, url string, log *slog.Logger) (*Redis, error) {
	r := &Redis{stop: make(chan struct{})}
	if url == "" {
		mini := miniredis.NewMiniRedis()
		if err := mini.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		// Its port is open to every local user: without a password any of them could read
		// or queue tasks. The password lives in this process only and is never logged.
		password, err := randomPassword()
		if err != nil {
			mini.Close()
			return nil, err
		}
		mini.RequireAuth(password)
		r.mini, r.Embedded = mini, true
		// This process's own client reaches the embedded server in memory (see memPipe);
		// Asynq and asynqmon dial its TCP address (see ConnOpt).
		srv := mini.Server()
		r.opts = &redis.Options{Addr: mini.Addr(), Password: password, Dialer: func(context.Context, string, string) (net.Conn, error) {
			client, server := memPipe()
			srv.ServeConn(server)
			return client, nil
		}}
		// miniredis expires keys only when told time has passed; without this ticker Asynq's
		// uniqueness locks and server heartbeats would never expire.
		go func() {
			const step = 250 * time.Millisecond
			t := time.NewTicker(step)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					mini.FastForward(step)
				case <-r.stop:
					return
				}
			}
		}()
		log.Info("embedded redis started", "addr", mini.Addr())
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		r.opts = opts
	}
	// CLIENT SETINFO is unknown to miniredis and adds nothing for us.
	r.opts.DisableIdentity = true
	r.Client = redis.NewClient(r.opts)
	if err := r.Client.Ping(ctx).Err(); err != nil {
		r.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return r, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("embedded redis password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ConnOpt is the same connection for Asynq.
func (r *Redis) ConnOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{
		Network:   r.opts.Network,
		Addr:      r.opts.Addr,
		Username:  r.opts.Username,
		Password:  r.opts.Password,
		DB:        r.opts.DB,
		TLSConfig: r.opts.TLSConfig,
	}
}

// Addr is the server address (the embedded server's random port included).
func (r *Redis) Addr() string { return r.opts.Addr }

// URL reaches the same server from another process, the embedded server's password
// included: hand it to a worker process, never to a log.
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", Host: r.opts.Addr, Path: "/" + strconv.Itoa(r.opts.DB)}
	if r.opts.TLSConfig != nil {
		u.Scheme = "rediss"
	}
	if r.opts.Username != "" || r.opts.Password != "" {
		u.User = url.UserPassword(r.opts.Username, r.opts.Password)
	}
	return u.String()
}

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.Client.Ping(ctx).Err() }

// Close closes the client and stops the embedded server if any.
func (r *Redis) Close() error {
	select {
	case <-r.stop:
		return nil
	default:
		close(r.stop)
	}
	var err error
	if r.Client != nil {
		err = r.Client.Close()
	}
	if r.mini != nil {
		r.mini.Close()
	}
	return err
}

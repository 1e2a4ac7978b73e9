package watch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/redislock"
)

// KeyPrefix namespaces the watcher's Redis keys and channels.
const KeyPrefix = "publishgate:v1:watch:"

// LeaseKey is the Redis key of the lease on polling env (its value is the
// holder's token). The environment is a Cluster hash tag.
func LeaseKey(env string) string { return KeyPrefix + "lease:{" + env + "}" }

// readChannel is where the lease holder names the bots it has just read.
func readChannel(env string) string { return KeyPrefix + "read:{" + env + "}" }

// lease makes one replica the poller of an environment: SET NX PX with a
// random token, renewed every ttl/3 by compare-and-expire, released by
// compare-and-delete. Without Redis the process always leads.
type lease struct {
	c     redis.UniversalClient // nil: always leading
	key   string
	token string
	ttl   time.Duration

	leading atomic.Bool
	changed chan struct{} // a value when leadership was gained
}

func newLease(c redis.UniversalClient, env string, ttl time.Duration) *lease {
	l := &lease{c: c, key: LeaseKey(env), token: redislock.NewToken(), ttl: ttl, changed: make(chan struct{}, 1)}
	if c == nil {
		l.leading.Store(true)
	}
	return l
}

// run holds (or tries for) the lease every ttl/3 until ctx ends, then
// releases it if held.
func (l *lease) run(ctx context.Context, onChange func(leading bool)) {
	if l.c == nil {
		return
	}
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		l.set(l.hold(ctx), onChange)
		select {
		case <-ctx.Done():
			if l.leading.Load() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = redislock.Release.Run(rctx, l.c, []string{l.key}, l.token).Err()
				cancel()
				l.set(false, onChange)
			}
			return
		case <-t.C:
		}
	}
}

func (l *lease) set(leading bool, onChange func(bool)) {
	if l.leading.Swap(leading) == leading {
		return
	}
	if onChange != nil {
		onChange(leading)
	}
	if leading {
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

// hold renews the lease when held, or tries to take it, and reports whether
// this replica leads now. Without an answer from Redis a leader keeps
// polling: a duplicate poll is better than none.
func (l *lease) hold(ctx context.Context) bool {
	held := l.leading.Load()
	if held {
		n, err := redislock.Renew.Run(ctx, l.c, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
		if err != nil {
			return ctx.Err() == nil
		}
		if n == 1 {
			return true
		}
	}
	ok, err := l.c.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return held && ctx.Err() == nil
	}
	return ok
}

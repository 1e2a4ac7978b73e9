package budget

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
)

// Redis is the Budget shared by every replica through Redis: one script
// checks a bot's back-off and takes every window of its budget atomically
// (GCRA, see LuaGCRA), in one round trip. When Redis fails it falls back to
// an in-process budget, so the gateway keeps protecting the upstream on its
// own. The cache's batch step (cache.RedisCoordinator) takes the same
// windows, under the same keys, for a whole batch at once.
type Redis struct {
	client   redis.UniversalClient
	limits   func(env string) Limits
	fallback *Local
	log      *slog.Logger
	onError  func(error)
	now      func() time.Time
	// downUntil (unix nanoseconds) pauses Redis after a failure, so that
	// while it is down every request does not wait for it to fail again.
	downUntil atomic.Int64
}

// pause is how long the shared budget is left alone after Redis failed.
const pause = time.Second

var allowScript = redis.NewScript(luaAllow)

// NewRedis returns a shared budget on client.
func NewRedis(client redis.UniversalClient, limits func(env string) Limits, logger *slog.Logger, onError func(error)) *Redis {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Redis{
		client:   client,
		limits:   limits,
		fallback: NewLocal(limits),
		log:      logger.With("component", "budget"),
		onError:  onError,
		now:      time.Now,
	}
}

// Fallback is the in-process budget used while Redis is unreachable; the
// cache's batch step spends from it too when Redis fails.
func (r *Redis) Fallback() *Local { return r.fallback }

// Allow implements Budget.
func (r *Redis) Allow(ctx context.Context, env, bot string) error {
	if r.now().UnixNano() < r.downUntil.Load() {
		return r.fallback.Allow(ctx, env, bot)
	}
	err := r.allow(ctx, env, bot)
	var rerr redisError
	if errors.As(err, &rerr) {
		r.fail(ctx, rerr.err)
		return r.fallback.Allow(ctx, env, bot)
	}
	return err
}

func (r *Redis) fail(ctx context.Context, err error) {
	if ctx.Err() == nil {
		r.downUntil.Store(r.now().Add(pause).UnixNano())
		r.log.WarnContext(ctx, "shared budget unavailable; using this replica's for a while", "err", err, "pause", pause)
	}
	if r.onError != nil {
		r.onError(err)
	}
}

type redisError struct{ err error }

func (e redisError) Error() string { return e.err.Error() }

func (r *Redis) allow(ctx context.Context, env, bot string) error {
	plan := r.limits(env).Plan()
	keys := make([]string, 0, 1+len(plan))
	args := make([]any, 0, 2*len(plan))
	keys = append(keys, keyspace.Backoff(env, bot))
	for _, w := range plan {
		em, tol := w.Args()
		keys = append(keys, w.Key(env, bot))
		args = append(args, em, tol)
	}
	res, err := allowScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return redisError{err}
	}
	if len(res) == 0 || res[0] == 1 {
		return nil
	}
	scope := "Kore.ai 429 back-off"
	if len(res) > 2 && res[2] > 0 && int(res[2]) <= len(plan) {
		scope = plan[res[2]-1].Name
	}
	var wait time.Duration
	if len(res) > 1 {
		wait = time.Duration(res[1]) * time.Millisecond
	}
	return Denied(scope, wait)
}

// Backoff implements Budget: one round trip that sets the back-off or
// lengthens another replica's, never shortening it.
func (r *Redis) Backoff(ctx context.Context, env, bot string, d time.Duration) {
	if d <= 0 {
		d = DefaultBackoff
	}
	r.fallback.Backoff(ctx, env, bot, d)
	pipe := r.client.Pipeline()
	QueueBackoff(ctx, pipe, env, bot, d)
	if _, err := pipe.Exec(ctx); err != nil && r.onError != nil {
		r.onError(err)
	}
}

// QueueBackoff queues on pipe the commands that back bot off for d (or
// keep a longer back-off already set): SET NX, then PEXPIRE GT (Redis 7).
func QueueBackoff(ctx context.Context, pipe redis.Pipeliner, env, bot string, d time.Duration) {
	k := keyspace.Backoff(env, bot)
	pipe.SetNX(ctx, k, 1, d)
	pipe.Do(ctx, "PEXPIRE", k, d.Milliseconds(), "GT")
}

var _ Budget = (*Redis)(nil)
var _ Budget = (*Local)(nil)

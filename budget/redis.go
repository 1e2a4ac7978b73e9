package budget

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// KeyPrefix namespaces the budget keys in Redis.
const KeyPrefix = "publishgate:v1:budget:"

// Redis is the Budget shared by every replica through Redis
// (go-redis/redis_rate, GCRA in one Lua call per window). When Redis fails it
// falls back to an in-process budget, so the gateway keeps protecting the
// upstream on its own.
type Redis struct {
	client   redis.UniversalClient
	limiter  *redis_rate.Limiter
	limits   func(env string) Limits
	fallback *Local
	log      *slog.Logger
	onError  func(error)
	// downUntil (unix nanoseconds) pauses Redis after a failure, so that
	// while it is down every request does not wait for it to fail again.
	downUntil atomic.Int64
}

// pause is how long the shared budget is left alone after Redis failed.
const pause = time.Second

// NewRedis returns a shared budget on client.
func NewRedis(client redis.UniversalClient, limits func(env string) Limits, logger *slog.Logger, onError func(error)) *Redis {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Redis{
		client:   client,
		limiter:  redis_rate.NewLimiter(client),
		limits:   limits,
		fallback: NewLocal(limits),
		log:      logger.With("component", "budget"),
		onError:  onError,
	}
}

func backoffKey(env, bot string) string { return KeyPrefix + "{" + env + "}:backoff:" + bot }

// Allow implements Budget.
func (r *Redis) Allow(ctx context.Context, env, bot string) error {
	if time.Now().UnixNano() < r.downUntil.Load() {
		return r.fallback.Allow(ctx, env, bot)
	}
	err := r.allow(ctx, env, bot)
	var rerr redisError
	if errors.As(err, &rerr) {
		if ctx.Err() == nil {
			r.downUntil.Store(time.Now().Add(pause).UnixNano())
			r.log.WarnContext(ctx, "shared budget unavailable; using this replica's for a while", "err", rerr.err, "pause", pause)
		}
		if r.onError != nil {
			r.onError(rerr.err)
		}
		return r.fallback.Allow(ctx, env, bot)
	}
	return err
}

type redisError struct{ err error }

func (e redisError) Error() string { return e.err.Error() }

func (r *Redis) allow(ctx context.Context, env, bot string) error {
	pttl, err := r.client.PTTL(ctx, backoffKey(env, bot)).Result()
	if err != nil {
		return redisError{err}
	}
	if pttl > 0 {
		return denied("Kore.ai 429 back-off", pttl)
	}
	botW, envW := r.limits(env).windows()
	for _, w := range botW {
		if err := r.take(ctx, "{"+env+"}:"+bot+":"+w.name, w); err != nil {
			return err
		}
	}
	for _, w := range envW {
		if err := r.take(ctx, "{"+env+"}:"+w.name, w); err != nil {
			return err
		}
	}
	return nil
}

func (r *Redis) take(ctx context.Context, key string, w window) error {
	burst, perPeriod := w.bucket()
	res, err := r.limiter.Allow(ctx, KeyPrefix+key, redis_rate.Limit{Rate: perPeriod, Burst: burst, Period: w.period})
	if err != nil {
		return redisError{err}
	}
	if res.Allowed == 0 {
		return denied(w.name, res.RetryAfter)
	}
	return nil
}

// Backoff implements Budget.
func (r *Redis) Backoff(ctx context.Context, env, bot string, d time.Duration) {
	if d <= 0 {
		d = DefaultBackoff
	}
	r.fallback.Backoff(ctx, env, bot, d)
	// Only ever lengthen a back-off another replica set.
	if cur, err := r.client.PTTL(ctx, backoffKey(env, bot)).Result(); err == nil && cur >= d {
		return
	}
	if err := r.client.Set(ctx, backoffKey(env, bot), 1, d).Err(); err != nil && r.onError != nil {
		r.onError(err)
	}
}

var _ Budget = (*Redis)(nil)
var _ Budget = (*Local)(nil)

// Package budget spends Kore.ai's rate limits wisely: it decides, before a
// request is sent, whether the per-bot and per-environment budgets allow it,
// and backs a bot off after Kore.ai answered 429. With Redis the budget is
// shared by every replica; without, it is kept in process.
//
// Kore.ai counts rolling windows (60 requests a minute and 1,800 an hour per
// bot, SPEC §1.1). The limiters here are GCRA (token buckets): a bucket of
// burst B refilled at rate R lets through at most B + R·W requests in any
// window W. So a per-bot limit of N per window is split into a burst of N/5
// and a rate of N − N/5 per window, which never exceeds N in any rolling
// window. The per-environment limit is the gateway's own and softer (see
// window.soft).
package budget

import (
	"context"
	"fmt"
	"time"

	"github.com/publishgate/publishgate/upstream"
)

// Limits are the budgets of one environment; 0 disables a limit.
type Limits struct {
	// EnvPerMinute bounds requests to the whole environment a minute.
	EnvPerMinute int
	// BotPerMinute and BotPerHour bound requests per bot.
	BotPerMinute int
	BotPerHour   int
}

// DefaultBackoff is how long a bot is left alone after a 429 that carried no
// Retry-After.
const DefaultBackoff = 30 * time.Second

// Budget decides whether an upstream request may be sent. Implementations
// are safe for concurrent use.
type Budget interface {
	// Allow spends one request of env's and bot's budgets, or returns an
	// error wrapping upstream.ErrRateLimited with the time to wait.
	Allow(ctx context.Context, env, bot string) error
	// Backoff refuses requests for bot until d has passed (after a 429).
	Backoff(ctx context.Context, env, bot string, d time.Duration)
}

// window is one rolling limit as a token bucket.
type window struct {
	name   string
	limit  int
	period time.Duration
	// soft windows are the gateway's own politeness limits rather than
	// Kore.ai's: a full period's worth may be spent at once (a dashboard's
	// first, cold query), so a rolling period may see up to twice the limit.
	soft bool
}

// bucket returns the burst and the refill per period. A hard window never
// lets more than limit through in any rolling period.
func (w window) bucket() (burst, rate int) {
	if w.soft {
		return max(1, w.limit), max(1, w.limit)
	}
	burst = max(1, w.limit/5)
	rate = max(1, w.limit-burst)
	return burst, rate
}

func (l Limits) windows() (bot []window, env []window) {
	if l.BotPerHour > 0 {
		bot = append(bot, window{"bot-hour", l.BotPerHour, time.Hour, false})
	}
	if l.BotPerMinute > 0 {
		bot = append(bot, window{"bot-minute", l.BotPerMinute, time.Minute, false})
	}
	if l.EnvPerMinute > 0 {
		env = append(env, window{"env-minute", l.EnvPerMinute, time.Minute, true})
	}
	return bot, env
}

// Denied is the error of a refused request: the gateway's own budget (scope
// names the window), mapped to UPSTREAM_RATE_LIMITED like a 429 from
// Kore.ai.
func Denied(scope string, retryAfter time.Duration) error {
	if retryAfter < time.Second {
		retryAfter = time.Second
	}
	return &upstream.Error{
		Kind:       upstream.ErrRateLimited,
		Message:    fmt.Sprintf("the gateway's %s budget for Kore.ai is spent", scope),
		RetryAfter: retryAfter,
	}
}

package budget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

func limits(string) budget.Limits {
	return budget.Limits{BotPerMinute: 50, BotPerHour: 1500, EnvPerMinute: 600}
}

// TestBudgetsNeverExceedTheLimitInARollingMinute hammers one bot as fast as
// possible: whatever the implementation, a burst can never go past the
// per-minute limit, and refusals say when to retry.
func TestBudgetsNeverExceedTheLimitInARollingMinute(t *testing.T) {
	r := testkit.MustRedis(t)
	cases := []struct {
		name string
		b    budget.Budget
	}{
		{"in-process", budget.NewLocal(limits)},
		{"redis", budget.NewRedis(r.Client(t), limits, nil, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			allowed := 0
			var lastErr error
			for range 200 {
				if err := tc.b.Allow(ctx, "prod", "st-1"); err == nil {
					allowed++
				} else {
					lastErr = err
				}
			}
			if allowed == 0 || allowed > 50 {
				t.Fatalf("%d of 200 immediate requests allowed, want 1..50", allowed)
			}
			var ue *upstream.Error
			if !errors.Is(lastErr, upstream.ErrRateLimited) || !errors.As(lastErr, &ue) || ue.RetryAfter < time.Second {
				t.Fatalf("refusal = %v, want a rate-limit error with a retry-after", lastErr)
			}
			// Another bot has its own budget.
			if err := tc.b.Allow(ctx, "prod", "st-2"); err != nil {
				t.Fatalf("another bot refused: %v", err)
			}
		})
	}
}

func TestBackoffIsSharedByReplicas(t *testing.T) {
	r := testkit.MustRedis(t)
	a := budget.NewRedis(r.Client(t), limits, nil, nil)
	b := budget.NewRedis(r.Client(t), limits, nil, nil)
	ctx := context.Background()
	a.Backoff(ctx, "prod", "st-1", 30*time.Second)
	err := b.Allow(ctx, "prod", "st-1")
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.RetryAfter < 25*time.Second {
		t.Fatalf("replica b after a's back-off: %v", err)
	}
	if err := b.Allow(ctx, "prod", "st-2"); err != nil {
		t.Fatalf("another bot refused: %v", err)
	}
}

func TestSharedBudgetSpansReplicas(t *testing.T) {
	r := testkit.MustRedis(t)
	replicas := []budget.Budget{
		budget.NewRedis(r.Client(t), limits, nil, nil),
		budget.NewRedis(r.Client(t), limits, nil, nil),
		budget.NewRedis(r.Client(t), limits, nil, nil),
	}
	allowed := 0
	for i := range 150 {
		if replicas[i%3].Allow(context.Background(), "prod", "st-1") == nil {
			allowed++
		}
	}
	if allowed > 50 {
		t.Fatalf("three replicas together allowed %d requests in a burst, more than the bot's 50", allowed)
	}
}

func TestRedisBudgetFallsBackWhenRedisIsDown(t *testing.T) {
	r := testkit.MustRedis(t)
	var failures int
	client := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	b := budget.NewRedis(client, limits, nil, func(error) { failures++ })
	r.Stop()
	allowed := 0
	for range 100 {
		if b.Allow(context.Background(), "prod", "st-1") == nil {
			allowed++
		}
	}
	if failures == 0 || allowed == 0 || allowed > 50 {
		t.Fatalf("with Redis down: %d allowed, %d failures seen; want the in-process budget to apply", allowed, failures)
	}
}

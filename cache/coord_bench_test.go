package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
)

// BenchmarkClaim is the batch step of a cold 100-bot query over 5
// environments (every bot missing, nobody holding it): one Claim, budgets
// off and at their production shape (bot minute and hour, the
// environment's window; the environment's rate raised so that the run is
// never refused). Every iteration claims new bots of the same environments.
func BenchmarkClaim(b *testing.B) {
	r := testkit.MustRedis(b)
	client := redis.NewClient(&redis.Options{Addr: r.Addr})
	b.Cleanup(func() { _ = client.Close() })
	for _, tc := range []struct {
		name   string
		limits budget.Limits
	}{
		{"budgets-off", budget.Limits{}},
		{"budgets-on", budget.Limits{BotPerMinute: 50, BotPerHour: 1500, EnvPerMinute: 1 << 30}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := coordinator(b, client, tc.limits, time.Minute)
			ctx := context.Background()
			n := 0
			for b.Loop() {
				n++
				var wants []cache.Want
				for e := range 5 {
					for _, w := range wantsFor(fmt.Sprintf("claim-%s-%d-", tc.name, n), 20) {
						w.Key.Environment = fmt.Sprintf("claim-env-%d", e)
						wants = append(wants, w)
					}
				}
				claims, err := c.Claim(ctx, wants)
				if err != nil {
					b.Fatal(err)
				}
				for i, cl := range claims {
					if cl.State != cache.Claimed {
						b.Fatalf("want %d: %v, want Claimed", i, cl.State)
					}
				}
			}
		})
	}
}

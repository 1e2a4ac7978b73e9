package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// TestA429WithoutRetryAfterBacksTheBotOff: when Kore.ai answers 429 with
// no Retry-After, the bot is left alone for budget.DefaultBackoff (30 s),
// not retried at once: with Redis the shared back-off key lives that long;
// with or without it, a query after the cached failure has expired (the
// clock moved past it) finds the bot still backed off and Kore.ai is not
// asked again, although it would now answer.
func TestA429WithoutRetryAfterBacksTheBotOff(t *testing.T) {
	for _, withRedis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			acct := testkit.Account("limited", 1)
			bot := acct.Bots[0].ID
			sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
			if err := sim.Simulator.SetBotFault(bot, simulator.Fault{RateLimited: true}); err != nil {
				t.Fatal(err)
			}
			cfg := testkit.Config(t, sim.URL, acct)
			var rdb *testkit.Redis
			if withRedis {
				rdb = testkit.MustRedis(t)
				cfg.Redis.URL = rdb.URL
			}
			clk := &clock{now: time.Now()}
			gw := testkit.MustGateway(t, cfg, gateway.Options{Now: clk.Now})
			q := fmt.Sprintf(`{ publishStatus(environment: "limited", botId: %q) { status } }`, bot)

			resp := testkit.Query(t, gw.URL, q, nil)
			if len(resp.Errors) != 1 || resp.Errors[0].Code() != "UPSTREAM_RATE_LIMITED" {
				t.Fatalf("first query: errors %+v, want UPSTREAM_RATE_LIMITED", resp.Errors)
			}
			if rdb != nil {
				c := redis.NewClient(&redis.Options{Addr: rdb.Addr})
				t.Cleanup(func() { _ = c.Close() })
				ttl, err := c.PTTL(context.Background(), keyspace.Backoff("limited", bot)).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl < budget.DefaultBackoff-5*time.Second || ttl > budget.DefaultBackoff {
					t.Fatalf("the shared back-off lives %v, want about %v", ttl, budget.DefaultBackoff)
				}
			}

			if err := sim.Simulator.SetBotFault(bot, simulator.Fault{}); err != nil {
				t.Fatal(err)
			}
			sim.Simulator.Reset()
			clk.Add(10 * time.Minute) // past any cached failure
			resp = testkit.Query(t, gw.URL, q, nil)
			if n := sim.Simulator.Stats().ByBot[bot]; n != 0 {
				t.Fatalf("Kore.ai was asked %d times for a bot it had answered 429 moments ago", n)
			}
			if len(resp.Errors) != 1 || resp.Errors[0].Code() != "UPSTREAM_RATE_LIMITED" {
				t.Fatalf("second query: errors %+v, want UPSTREAM_RATE_LIMITED (still backed off)", resp.Errors)
			}
		})
	}
}

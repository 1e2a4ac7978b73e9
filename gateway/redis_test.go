package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// roundTrips counts what a go-redis client sends: a pipeline is one round
// trip, so is a single command.
type roundTrips struct{ reads, writes, total atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.total.Add(1)
		c.count([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.total.Add(1)
		c.count(cmds)
		return next(ctx, cmds)
	}
}
func (c *roundTrips) count(cmds []redis.Cmder) {
	// Job reads are MGETs; other features (persisted queries) use GET.
	switch strings.ToLower(cmds[0].Name()) {
	case "mget":
		c.reads.Add(1)
	case "set":
		c.writes.Add(1)
	}
}

func redisConfig(t *testing.T, r *testkit.Redis, simURL string, accts ...simulator.Account) *config.Config {
	cfg := testkit.Config(t, simURL, accts...)
	cfg.Redis.URL = r.URL
	return cfg
}

func TestWarmQueryFromRedisMakesNoUpstreamRequest(t *testing.T) {
	r := testkit.MustRedis(t)
	acct := testkit.Account("prod", 500)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := redisConfig(t, r, sim.URL, acct)
	// Generous Redis timeouts: under a loaded CI machine a slow MGET must not
	// be mistaken for an outage, which would change what is counted.
	a := testkit.MustGateway(t, cfg, gateway.Options{RedisTimeout: 5 * time.Second})
	rtB := &roundTrips{}
	b := testkit.MustGateway(t, cfg, gateway.Options{RedisTimeout: 5 * time.Second, RedisHooks: []redis.Hook{rtB}})
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}

	if resp := testkit.Query(t, a.URL, botsQuery, vars); len(resp.Errors) > 0 {
		t.Fatalf("cold query: %+v", resp.Errors)
	}
	if n := sim.Simulator.Stats().Total; n != 500 {
		t.Fatalf("cold: %d upstream requests, want 500", n)
	}
	// Replica b has never seen these bots: it reads them all from Redis.
	resp := testkit.Query(t, b.URL, botsQuery, vars)
	if len(resp.Errors) > 0 {
		t.Fatalf("warm query: %+v", resp.Errors)
	}
	var data struct{ Bots []botJSON }
	resp.Decode(t, &data)
	for i, bot := range data.Bots {
		if bot.PublishStatus == nil || !bot.PublishStatus.Freshness.FromCache {
			t.Fatalf("bots[%d] not from the cache: %+v", i, bot)
		}
	}
	if n := sim.Simulator.Stats().Total; n != 500 {
		t.Fatalf("warm: %d new upstream requests, want 0", n-500)
	}
	if reads := rtB.reads.Load(); reads < 1 || reads > 2 {
		t.Fatalf("warm 500-bot query: %d Redis read round trips, want 1 or 2", reads)
	}
}

func TestRedisTTLsFollowTheJobState(t *testing.T) {
	r := testkit.MustRedis(t)
	acct := simulator.Account{Name: "prod", ClientID: "cs-p", ClientSecret: "secret-prod-0123456789abcdefghijkl", Bots: []simulator.Bot{
		{ID: testkit.BotID("done"), State: simulator.StateSuccessful},
		{ID: testkit.BotID("running"), State: simulator.StateInProgress, PublishDuration: time.Hour},
		{ID: testkit.BotID("never"), State: simulator.StateNeverPublished},
	}}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := redisConfig(t, r, sim.URL, acct)
	cfg.Cache.TTL, cfg.Cache.InProgressTTL, cfg.Cache.NotFoundTTL, cfg.Cache.StaleFor = config.Duration(30*time.Second), config.Duration(400*time.Millisecond), config.Duration(45*time.Second), 0
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	testkit.Query(t, gw.URL, botsQuery, map[string]any{"refs": refs("prod", ids(acct)...)})

	rc := r.Client(t)
	ctx := context.Background()
	pttl := func(bot string) time.Duration {
		d, err := rc.PTTL(ctx, cache.RedisKey(cache.Key{Environment: "prod", BotID: bot})).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		bot      string
		min, max time.Duration
	}{
		{acct.Bots[0].ID, 25 * time.Second, 30 * time.Second},
		{acct.Bots[1].ID, time.Millisecond, 400 * time.Millisecond},
		{acct.Bots[2].ID, 40 * time.Second, 45 * time.Second},
	}
	for _, tc := range cases {
		if d := pttl(tc.bot); d < tc.min || d > tc.max {
			t.Errorf("PTTL of %s = %v, want in [%v, %v]", tc.bot, d, tc.min, tc.max)
		}
	}
	// Keys expire by themselves in Redis.
	testkit.Eventually(t, 5*time.Second, "the in-progress key never expired", func() bool {
		return pttl(acct.Bots[1].ID) == -2*time.Nanosecond || pttl(acct.Bots[1].ID) < 0
	})
}

// TestHerdAcrossReplicasMakesOneRequestPerBot: three replicas sharing one
// Redis, 50 concurrent identical 200-bot queries spread across them right
// after every entry expired: at most one upstream request per bot.
func TestHerdAcrossReplicasMakesOneRequestPerBot(t *testing.T) {
	r := testkit.MustRedis(t)
	acct := testkit.Account("prod", 200)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct), simulator.WithFault(simulator.Fault{Latency: 30 * time.Millisecond}))
	cfg := redisConfig(t, r, sim.URL, acct)
	// The assertion is about upstream requests, not latency: leave the
	// herd (and the race detector) all the time it needs.
	cfg.Limits.RequestTimeout, cfg.Environments[0].Timeout = config.Duration(time.Minute), config.Duration(30*time.Second)
	cfg.Limits.ParseTimeout = config.Duration(time.Minute)
	clk := &clock{now: time.Now()}
	var replicas []*testkit.Gateway
	for range 3 {
		replicas = append(replicas, testkit.MustGateway(t, cfg, gateway.Options{RedisTimeout: 5 * time.Second, Now: clk.Now}))
	}
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}
	testkit.Query(t, replicas[0].URL, botsQuery, vars)
	sim.Simulator.Reset()

	clk.Add(2 * time.Minute) // past freshness and the revalidation window
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			resp := testkit.Query(t, replicas[i%3].URL, botsQuery, vars)
			if len(resp.Errors) > 0 {
				t.Errorf("query %d: %+v", i, resp.Errors[0])
			}
		})
	}
	wg.Wait()
	st := sim.Simulator.Stats()
	for _, b := range acct.Bots {
		if n := st.ByBot[b.ID]; n > 1 {
			t.Fatalf("bot %s fetched %d times by the herd, want at most 1 (total %d)", b.ID, n, st.Total)
		}
	}
	if st.Total == 0 {
		t.Fatal("the herd made no upstream request at all: entries were not expired")
	}
}

func TestRedisOutageNeverFailsARequest(t *testing.T) {
	r := testkit.MustRedis(t)
	acct := testkit.Account("prod", 50)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := redisConfig(t, r, sim.URL, acct)
	cfg.Cache.TTL = config.Duration(200 * time.Millisecond) // keep the upstream and Redis busy
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}

	ready := func() int {
		resp, err := http.Get(gw.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var (
		stop   = make(chan struct{})
		failed atomic.Int64
		done   atomic.Int64
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp := testkit.Query(t, gw.URL, botsQuery, vars)
				if len(resp.Errors) > 0 || resp.Status != 200 {
					failed.Add(1)
					t.Errorf("request failed during the outage: HTTP %d, %d errors", resp.Status, len(resp.Errors))
				}
				done.Add(1)
			}
		})
	}
	waitFor := func(n int64) {
		target := done.Load() + n
		testkit.Eventually(t, 20*time.Second, "load stalled", func() bool { return done.Load() >= target })
	}
	waitFor(20)
	if ready() != 200 {
		t.Fatal("not ready before the outage")
	}
	r.Stop()
	waitFor(40)
	testkit.Eventually(t, 5*time.Second, "/readyz stayed ready with Redis down", func() bool { return ready() == http.StatusServiceUnavailable })
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "/readyz never recovered", func() bool { return ready() == 200 })
	rc := r.Client(t)
	testkit.Eventually(t, 10*time.Second, "caching never resumed in the restarted Redis", func() bool {
		n, _ := rc.DBSize(context.Background()).Result()
		return n > 0
	})
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
}

// TestBudgetKeepsKoreFromRefusing: 10 dashboards × 3 replicas poll 200 bots
// every second against a simulator enforcing Kore's rolling limits, while
// some bots are publishing and the gateway is told to re-read those every
// 500 ms (which alone would exceed 60 a minute): the budget must keep every
// bot under the limit, so Kore never answers 429, and every answer has data.
//
// It runs on one Redis server and on a 3-master Cluster, where a bot's
// windows and the environment's shares sit in the slots of its bucket.
func TestBudgetKeepsKoreFromRefusing(t *testing.T) {
	shared := []struct {
		name string
		use  func(t *testing.T, cfg *config.Config)
	}{
		{"redis", func(t *testing.T, cfg *config.Config) { cfg.Redis.URL = testkit.MustRedis(t).URL }},
		{"cluster", func(t *testing.T, cfg *config.Config) { cfg.Redis.Addrs = testkit.MustRedisCluster(t, 3).Addrs }},
	}
	for _, sh := range shared {
		t.Run(sh.name, func(t *testing.T) { budgetKeepsKoreFromRefusing(t, sh.use) })
	}
}

func budgetKeepsKoreFromRefusing(t *testing.T, useRedis func(*testing.T, *config.Config)) {
	duration := 60 * time.Second
	acct := testkit.Account("prod", 200)
	for i := 0; i < len(acct.Bots); i += 10 {
		acct.Bots[i].State, acct.Bots[i].PublishDuration = simulator.StateInProgress, time.Hour
	}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct), simulator.WithRateLimits(60, 1800))
	cfg := testkit.Config(t, sim.URL, acct)
	useRedis(t, cfg)
	cfg.Cache.InProgressTTL = config.Duration(500 * time.Millisecond)
	var replicas []*testkit.Gateway
	for range 3 {
		replicas = append(replicas, testkit.MustGateway(t, cfg, gateway.Options{}))
	}
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}
	var (
		wg        sync.WaitGroup
		answers   atomic.Int64
		deadline  = time.Now().Add(duration)
		maxAge    atomic.Int64
		staleSeen atomic.Int64
	)
	for d := range 30 {
		wg.Go(func() {
			gw := replicas[d%3]
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				resp := testkit.Query(t, gw.URL, botsQuery, vars)
				var data struct{ Bots []botJSON }
				resp.Decode(t, &data)
				if len(resp.Errors) > 0 || len(data.Bots) != 200 {
					first := ""
					if len(resp.Errors) > 0 {
						first = fmt.Sprintf("%+v", resp.Errors[0])
					}
					t.Errorf("dashboard %d: %d errors, first %s", d, len(resp.Errors), first)
					return
				}
				for _, b := range data.Bots {
					if b.PublishStatus == nil {
						t.Errorf("dashboard %d: bot %s without data", d, b.ID)
						return
					}
					if b.PublishStatus.Freshness.Stale {
						staleSeen.Add(1)
					}
					if age := int64(b.PublishStatus.Freshness.Age * 1000); age > maxAge.Load() {
						maxAge.Store(age)
					}
				}
				answers.Add(1)
				<-tick.C
			}
		})
	}
	wg.Wait()
	st := sim.Simulator.Stats()
	if n := st.ByStatus["429"]; n != 0 {
		t.Fatalf("Kore answered 429 %d times", n)
	}
	t.Logf("%d dashboard answers, %d upstream requests, %d stale bot answers, oldest answer %dms",
		answers.Load(), st.Total, staleSeen.Load(), maxAge.Load())
	if staleSeen.Load() == 0 {
		t.Fatal("the budget never had to serve stale data: the test did not stress it")
	}
}

// freePort is used to point a gateway at a Redis that is not there.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func TestGatewayStartsAndServesWithRedisDown(t *testing.T) {
	acct := testkit.Account("prod", 3)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Redis.URL = "redis://127.0.0.1:" + freePort(t) + "/0"
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	resp := testkit.Query(t, gw.URL, botsQuery, map[string]any{"refs": refs("prod", ids(acct)...)})
	if len(resp.Errors) > 0 || resp.Status != 200 {
		t.Fatalf("HTTP %d %+v", resp.Status, resp.Errors)
	}
	r, err := http.Get(gw.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with Redis down", r.StatusCode)
	}
}

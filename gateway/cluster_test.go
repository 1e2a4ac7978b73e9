package gateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// redisErrors collects what a gateway reports as failed Redis calls.
type redisErrors struct {
	mu   sync.Mutex
	errs []string
}

func (r *redisErrors) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err.Error())
}

func (r *redisErrors) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestReplicasShareARedisCluster: three replicas on a 3-master Redis
// Cluster. A herd of identical queries right after expiry makes exactly one
// upstream request per bot, a watched environment is polled by one leader,
// the job keys of one environment spread over every master, and no Redis
// call fails (nothing answers CROSSSLOT).
func TestReplicasShareARedisCluster(t *testing.T) {
	c := testkit.MustRedisCluster(t, 3)
	herd := testkit.Account("herd", 300)
	watched := testkit.Account("watched", 20)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(herd, watched), simulator.WithFault(simulator.Fault{Latency: 30 * time.Millisecond}))
	cfg := testkit.Config(t, sim.URL, herd, watched)
	cfg.Redis.Addrs = c.Addrs
	cfg.Limits.RequestTimeout, cfg.Limits.ParseTimeout = config.Duration(time.Minute), config.Duration(time.Minute)
	cfg.Environments[0].Timeout = config.Duration(30 * time.Second)
	cfg.Environments[1].WatchInterval = config.Duration(time.Second)
	clk := &clock{now: time.Now()}
	errs := &redisErrors{}
	var replicas []*testkit.Gateway
	for range 3 {
		replicas = append(replicas, testkit.MustGateway(t, cfg, gateway.Options{RedisTimeout: 5 * time.Second, Now: clk.Now, OnRedisError: errs.add}))
	}
	vars := map[string]any{"refs": refs("herd", ids(herd)...)}
	if resp := testkit.Query(t, replicas[0].URL, botsQuery, vars); len(resp.Errors) > 0 {
		t.Fatalf("cold query: %+v", resp.Errors[0])
	}
	st := sim.Simulator.Stats()
	for _, b := range herd.Bots {
		if n := st.ByBot[b.ID]; n != 1 {
			t.Fatalf("cold query read bot %s %d times, want 1", b.ID, n)
		}
	}

	// Every master holds a fair part of the environment's job keys.
	total := 0
	shares := make([]int, 0, 3)
	for _, m := range c.MasterClients(t) {
		n := 0
		iter := m.Scan(context.Background(), 0, keyspace.Prefix+"job:*herd#*", 1000).Iterator()
		for iter.Next(context.Background()) {
			n++
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, n)
		total += n
	}
	t.Logf("job keys per master: %v of %d", shares, total)
	for i, n := range shares {
		if total != len(herd.Bots) || n*5 < total {
			t.Fatalf("master %d holds %d of %d job keys, want at least 20%% of %d", i, n, total, len(herd.Bots))
		}
	}

	sim.Simulator.Reset()
	clk.Add(2 * time.Minute) // past freshness and the revalidation window
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			resp := testkit.Query(t, replicas[i%3].URL, botsQuery, vars)
			if len(resp.Errors) > 0 {
				t.Errorf("query %d: %+v", i, resp.Errors[0])
			}
		})
	}
	wg.Wait()
	st = sim.Simulator.Stats()
	for _, b := range herd.Bots {
		if n := st.ByBot[b.ID]; n != 1 {
			t.Fatalf("the herd read bot %s %d times, want exactly 1 (total %d)", b.ID, n, st.Total)
		}
	}

	// One replica leads the watched environment (its lease lives in the
	// Cluster too) and reads its bots.
	leader(t, replicas, "watched")
	testkit.Eventually(t, 20*time.Second, "the watcher reads every watched bot", func() bool {
		st := sim.Simulator.Stats()
		for _, b := range watched.Bots {
			if st.ByBot[b.ID] == 0 {
				return false
			}
		}
		return true
	})
	for _, e := range errs.all() {
		if strings.Contains(e, "CROSSSLOT") {
			t.Fatalf("a Redis call answered %s", e)
		}
	}
	if e := errs.all(); len(e) > 0 {
		t.Fatalf("%d Redis calls failed, first: %s", len(e), e[0])
	}
}

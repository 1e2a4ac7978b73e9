package live_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// steady answers every bot with the same finished job (no change, so
// nothing is published) and counts each bot's polls (the watches' refresh
// reads, not the subscriptions' first reads).
type steady struct {
	mu    sync.Mutex
	polls map[string]int
}

func (s *steady) Load(_ context.Context, keys []loader.Key) []loader.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]loader.Outcome, len(keys))
	for i, k := range keys {
		if k.Refresh {
			s.polls[k.BotID]++
		}
		out[i].Result = loader.Result{FetchedAt: time.Now(), Job: &upstream.Job{
			ID: "ds-1", Status: upstream.StateSuccessful, RawStatus: "success", PercentageComplete: 100,
		}}
	}
	return out
}

// take returns the polls counted since the last take.
func (s *steady) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.polls
	s.polls = map[string]int{}
	return p
}

// commandCalls reads INFO commandstats: calls per command name.
func commandCalls(t *testing.T, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest+",", ',')], 10, 64)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// leaseLoad is what one measurement found.
type leaseLoad struct {
	leaseRate float64 // lease commands (scripts) sent a second
	shards    int
}

// measureLeaseLoad runs hubs hubs on one private Redis, each watching the
// same bots bots, and measures the commands the hubs send Redis during
// window once every shard is led: lease commands (the lease scripts, EVALSHA
// and EVAL: nothing else here runs scripts), logging the others. It checks that
// every bot is polled by exactly one hub meanwhile.
func measureLeaseLoad(t *testing.T, hubs, bots int, ttl, window time.Duration) leaseLoad {
	r := testkit.MustRedis(t)
	admin := r.Client(t)
	keys := make([]live.Key, bots)
	for i := range keys {
		keys[i] = live.Key{Environment: "e", BotID: fmt.Sprintf("bot-%04d", i)}
	}
	var drained sync.WaitGroup
	defer drained.Wait() // after cancel: the subscriptions end with ctx
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srcs := make([]*steady, hubs)
	ids := map[string]int{}
	for i := range srcs {
		srcs[i] = &steady{polls: map[string]int{}}
		h := live.New(srcs[i], live.Options{
			InProgressEvery: 500 * time.Millisecond, IdleEvery: 500 * time.Millisecond,
			LeaseTTL: ttl, MaxRefs: bots, Redis: r.Client(t),
		})
		t.Cleanup(func() { _ = h.Close() })
		ids[h.ID()] = i
		ch, err := live.Subscribe(ctx, h, keys, func(e live.Event) live.Event { return e })
		if err != nil {
			t.Fatal(err)
		}
		drained.Go(func() {
			for range ch {
			}
		})
	}
	leases := map[string]bool{}
	for _, k := range keys {
		leases[live.LeaseKey(k)] = true
	}
	testkit.Eventually(t, 10*time.Second, "every shard is led", func() bool {
		for key := range leases {
			id, _ := admin.Get(ctx, key).Result()
			if _, ok := ids[id]; !ok {
				return false
			}
		}
		return true
	})
	if n, err := admin.Keys(ctx, keyspace.Prefix+"live:lease:*").Result(); err != nil || len(n) != len(leases) {
		t.Fatalf("%d lease keys for %d shards (%v)", len(n), len(leases), err)
	}
	for _, s := range srcs {
		s.take()
	}
	before, start := commandCalls(t, admin), time.Now()
	<-time.After(window) // the measurement window, not synchronisation
	after, took := commandCalls(t, admin), time.Since(start)
	polls := make([]map[string]int, hubs)
	for i, s := range srcs {
		polls[i] = s.take()
	}

	var lease, inner, other int64
	for name, n := range after {
		switch d := n - before[name]; name {
		case "evalsha", "eval":
			lease += d
		case "get", "pexpire", "set", "del":
			inner += d // run by the lease scripts (nothing else here sends them)
		case "info":
		default:
			other += d
		}
	}
	t.Logf("in %v: %d lease scripts, running %d commands inside; %d other commands (pub/sub, connections)",
		took.Round(time.Millisecond), lease, inner, other)
	for _, k := range keys {
		var by []int
		for i := range polls {
			if polls[i][k.BotID] > 0 {
				by = append(by, i)
			}
		}
		if len(by) != 1 {
			t.Errorf("%s polled by hubs %v in %v; want exactly one", k.BotID, by, window)
		}
	}
	return leaseLoad{leaseRate: float64(lease) / took.Seconds(), shards: len(leases)}
}

// TestLeaseTrafficDoesNotGrowWithBots: 3 hubs on one Redis each watching
// 100, then 1,000 bots send Redis the same lease commands a second: one per
// shard (at most keyspace.Buckets) per hub every LeaseTTL/3, where a lease
// per bot cost one per bot.
func TestLeaseTrafficDoesNotGrowWithBots(t *testing.T) {
	const (
		hubs   = 3
		ttl    = 1500 * time.Millisecond
		window = 3 * time.Second
	)
	// At most one round a tick, one more for the tick the window may catch
	// at both ends, and one asked for by a watch that joined its shard late
	// (each starts in its own goroutine, and the window opens once every
	// shard has a leader, not once every hub has joined every shard).
	bound := float64(hubs*keyspace.Buckets) * (float64(window/(ttl/3)) + 2) / window.Seconds()
	loads := map[int]leaseLoad{}
	for _, bots := range []int{100, 1000} {
		t.Run(fmt.Sprintf("%d bots", bots), func(t *testing.T) {
			l := measureLeaseLoad(t, hubs, bots, ttl, window)
			perBot := float64(hubs*bots) / (ttl / 3).Seconds()
			t.Logf("%d bots x %d hubs, %d shards: %.1f lease commands/s (at most %.1f; a lease per bot: %.0f/s)",
				bots, hubs, l.shards, l.leaseRate, bound, perBot)
			if l.leaseRate > bound {
				t.Errorf("%.1f lease commands/s; the shards bound it to %.1f", l.leaseRate, bound)
			}
			loads[bots] = l
		})
	}
	few, many := loads[100], loads[1000]
	if few.leaseRate == 0 || many.leaseRate == 0 {
		t.Fatalf("no lease commands measured: %+v, %+v", few, many)
	}
	// 100 bots may miss a bucket or two (each is empty with p = 0.16%).
	if ratio := many.leaseRate / few.leaseRate; ratio > 1.5 {
		t.Errorf("lease commands/s: %.1f for 1,000 bots, %.1f for 100 (x%.2f): they grow with the bots", many.leaseRate, few.leaseRate, ratio)
	}
}

// TestALeftShardIsReleasedAtOnce: when a hub's last watch in a shard stops,
// its lease goes then, not a LeaseTTL later; Close releases the rest.
func TestALeftShardIsReleasedAtOnce(t *testing.T) {
	const ttl = time.Minute // expiry cannot explain a release seen in seconds
	r := testkit.MustRedis(t)
	rdb := r.Client(t)
	h := live.New(&steady{polls: map[string]int{}}, live.Options{LeaseTTL: ttl, Redis: r.Client(t)})
	defer h.Close()
	var a, b live.Key // bots of two shards
	a = live.Key{Environment: "e", BotID: "a"}
	for i := 0; ; i++ {
		b = live.Key{Environment: "e", BotID: fmt.Sprint("b", i)}
		if live.LeaseKey(b) != live.LeaseKey(a) {
			break
		}
	}
	ctx := t.Context()
	id := func(e live.Event) live.Event { return e }
	subA, cancelA := context.WithCancel(ctx)
	defer cancelA()
	for _, s := range []struct {
		ctx context.Context
		k   live.Key
	}{{subA, a}, {ctx, b}} {
		if _, err := live.Subscribe(s.ctx, h, []live.Key{s.k}, id); err != nil {
			t.Fatal(err)
		}
	}
	holds := func(k live.Key) bool { v, _ := rdb.Get(ctx, live.LeaseKey(k)).Result(); return v == h.ID() }
	testkit.Eventually(t, 5*time.Second, "the hub holds both shards", func() bool { return holds(a) && holds(b) })
	cancelA()
	testkit.Eventually(t, 5*time.Second, "a's shard is released", func() bool {
		n, err := rdb.Exists(ctx, live.LeaseKey(a)).Result()
		return err == nil && n == 0
	})
	if !holds(b) {
		t.Fatal("b's shard was released with a's")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, live.LeaseKey(b)).Result(); err != nil || n != 0 {
		t.Fatalf("b's shard still leased after Close (exists %d, %v)", n, err)
	}
}

// TestShardLeasesLiveInTheirBucketsSlots: a shard's lease and channel carry
// the tag of its bucket, so in a Cluster they sit with the bucket's jobs, and
// an environment's 16 leases spread over the masters.
func TestShardLeasesLiveInTheirBucketsSlots(t *testing.T) {
	slots := map[int]bool{}
	for i := range 200 {
		k := live.Key{Environment: "prod", BotID: fmt.Sprint("bot-", i)}
		s := keyspace.Slot(live.LeaseKey(k))
		if want := keyspace.Slot(keyspace.Job(k.Environment, k.BotID)); s != want {
			t.Fatalf("%s: lease in slot %d, the bot's job in %d", k.BotID, s, want)
		}
		slots[s] = true
	}
	if len(slots) != keyspace.Buckets {
		t.Fatalf("200 bots' leases in %d slots; want one per bucket, %d", len(slots), keyspace.Buckets)
	}
}

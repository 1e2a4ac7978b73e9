package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

// topology is a Redis to coordinate on: one server or a Cluster.
type topology struct {
	name   string
	client func(t *testing.T, hooks ...redis.Hook) redis.UniversalClient
}

// topologies starts a private Redis and a private 3-master Cluster.
func topologies(t *testing.T) []topology {
	r := testkit.MustRedis(t)
	c := testkit.MustRedisCluster(t, 3)
	return []topology{
		{"redis", func(t *testing.T, hooks ...redis.Hook) redis.UniversalClient {
			cl := redis.NewClient(&redis.Options{Addr: r.Addr, ReadTimeout: 5 * time.Second})
			for _, h := range hooks {
				cl.AddHook(h)
			}
			t.Cleanup(func() { _ = cl.Close() })
			return cl
		}},
		{"cluster", func(t *testing.T, hooks ...redis.Hook) redis.UniversalClient {
			cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ReadTimeout: 5 * time.Second,
				NewClient: func(opt *redis.Options) *redis.Client {
					n := redis.NewClient(opt)
					for _, h := range hooks {
						n.AddHook(h)
					}
					return n
				}})
			t.Cleanup(func() { _ = cl.Close() })
			return cl
		}},
	}
}

func coordinator(t testing.TB, client redis.UniversalClient, limits budget.Limits, lockTTL time.Duration) *cache.RedisCoordinator {
	policy := cache.DefaultPolicy
	tiered := cache.NewTiered(cache.NewMemory(policy), cache.NewRedis(client, policy), policy, cache.WithSharedTimeout(5*time.Second))
	c := cache.NewRedisCoordinator(client, tiered, policy, func(string) budget.Limits { return limits }, lockTTL, nil)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantsFor(env string, n int) []cache.Want {
	ws := make([]cache.Want, n)
	for i := range ws {
		ws[i] = cache.Want{Key: cache.Key{Environment: env, BotID: testkit.BotID(fmt.Sprint(env, i))}}
	}
	return ws
}

// TestClaimIsAtomicWhenReplicasRace: three replicas claim the same 600
// bots at the same instant; each bot is claimed by exactly one of them, the
// others are told it is held, and once the claimer finishes, the waiters
// hear its entries in one notice and a new claim finds them fresh.
func TestClaimIsAtomicWhenReplicasRace(t *testing.T) {
	for _, top := range topologies(t) {
		t.Run(top.name, func(t *testing.T) {
			ctx := context.Background()
			replicas := make([]*cache.RedisCoordinator, 3)
			for i := range replicas {
				replicas[i] = coordinator(t, top.client(t), budget.Limits{}, time.Minute)
			}
			wants := wantsFor("race-"+top.name, 600)
			keys := make([]cache.Key, len(wants))
			for i, w := range wants {
				keys[i] = w.Key
			}
			watches := make([]*cache.Watch, len(replicas))
			for i, r := range replicas {
				watches[i] = r.Watch(keys)
				defer watches[i].End()
			}
			claims := make([][]cache.Claim, len(replicas))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, r := range replicas {
				wg.Go(func() {
					<-start
					var err error
					if claims[i], err = r.Claim(ctx, wants); err != nil {
						t.Errorf("replica %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if t.Failed() {
				return
			}
			owner := make([]int, len(wants))
			fills := make([][]cache.Fill, len(replicas))
			at := time.Now()
			for k := range wants {
				owner[k] = -1
				for r := range replicas {
					switch st := claims[r][k].State; st {
					case cache.Claimed:
						if owner[k] >= 0 {
							t.Fatalf("bot %d claimed by replicas %d and %d", k, owner[k], r)
						}
						owner[k] = r
						e := &cache.Entry{FetchedAt: at, Job: &upstream.Job{ID: fmt.Sprintf("ds-%d", k), Status: upstream.StateSuccessful, RawStatus: "successful"}}
						fills[r] = append(fills[r], cache.Fill{Key: wants[k].Key, Claim: claims[r][k], Entry: e})
					case cache.Held:
					default:
						t.Fatalf("bot %d, replica %d: state %d, want claimed or held", k, r, st)
					}
				}
				if owner[k] < 0 {
					t.Fatalf("bot %d claimed by nobody", k)
				}
			}
			for r, rep := range replicas {
				if err := rep.Finish(ctx, fills[r]); err != nil {
					t.Fatalf("replica %d finish: %v", r, err)
				}
			}
			// Every replica hears each bot it did not claim.
			for r := range replicas {
				want := len(wants) - len(fills[r])
				timeout := time.After(10 * time.Second)
				for got := 0; got < want; got++ {
					select {
					case n := <-watches[r].C():
						if n.Entry == nil || n.Entry.Job == nil || !n.Entry.FetchedAt.Equal(at) {
							t.Fatalf("replica %d: notice %+v", r, n)
						}
					case <-timeout:
						t.Fatalf("replica %d heard %d of %d notices", r, got, want)
					}
				}
			}
			again, err := replicas[0].Claim(ctx, wants)
			if err != nil {
				t.Fatal(err)
			}
			for k, c := range again {
				if c.State != cache.Fresh || c.Entry.Job.ID != fmt.Sprintf("ds-%d", k) {
					t.Fatalf("bot %d after the fill: state %d %+v, want fresh", k, c.State, c.Entry)
				}
			}
		})
	}
}

// TestClaimNeverOverspendsTheBudget: three replicas claim one bot, its
// lock released after every claim, far faster than the per-bot burst
// allows: together they are granted exactly the burst, and refusals say when
// to retry.
func TestClaimNeverOverspendsTheBudget(t *testing.T) {
	for _, top := range topologies(t) {
		t.Run(top.name, func(t *testing.T) {
			ctx := context.Background()
			limits := budget.Limits{BotPerMinute: 50, BotPerHour: 1500, EnvPerMinute: 600}
			replicas := make([]*cache.RedisCoordinator, 3)
			for i := range replicas {
				replicas[i] = coordinator(t, top.client(t), limits, time.Minute)
			}
			wants := wantsFor("budget-"+top.name, 1)
			var granted, refused atomic.Int64
			var wg sync.WaitGroup
			for _, r := range replicas {
				wg.Go(func() {
					for range 40 {
						cs, err := r.Claim(ctx, wants)
						if err != nil {
							t.Error(err)
							return
						}
						switch cs[0].State {
						case cache.Claimed:
							granted.Add(1)
							if err := r.Finish(ctx, []cache.Fill{{Key: wants[0].Key, Claim: cs[0], Failure: "unavailable"}}); err != nil {
								t.Error(err)
							}
						case cache.Refused:
							refused.Add(1)
							var ue *upstream.Error
							if !errors.Is(cs[0].Err, upstream.ErrRateLimited) || !errors.As(cs[0].Err, &ue) || ue.RetryAfter < time.Second {
								t.Errorf("refusal %v, want a rate-limit error with a retry-after", cs[0].Err)
							}
						}
					}
				})
			}
			wg.Wait()
			// The per-minute window of 50 lets a burst of 10 through at once
			// (budget: never more than the limit in a rolling minute); a few
			// more may be refilled while the test runs (one each 1.5 s).
			if g := granted.Load(); g < 10 || g > 11 {
				t.Fatalf("%d claims granted of %d (refused %d), want the burst of 10", g, 120, refused.Load())
			}
		})
	}
}

// TestAHolderThatDiedIsReplacedWhenItsLockExpires: a replica claims and
// never finishes (it died mid-fill); another finds the bot held until the
// lock expires, then claims it itself.
func TestAHolderThatDiedIsReplacedWhenItsLockExpires(t *testing.T) {
	for _, top := range topologies(t) {
		t.Run(top.name, func(t *testing.T) {
			ctx := context.Background()
			dead := coordinator(t, top.client(t), budget.Limits{}, 300*time.Millisecond)
			alive := coordinator(t, top.client(t), budget.Limits{}, 300*time.Millisecond)
			wants := wantsFor("dead-"+top.name, 20)
			cs, err := dead.Claim(ctx, wants)
			if err != nil || cs[0].State != cache.Claimed {
				t.Fatalf("first claim: %v %+v", err, cs)
			}
			cs, err = alive.Claim(ctx, wants)
			if err != nil || cs[0].State != cache.Held {
				t.Fatalf("second claim while the lock lives: %v %+v", err, cs)
			}
			testkit.Eventually(t, 5*time.Second, "the dead holder's locks to expire", func() bool {
				cs, err := alive.Claim(ctx, wants)
				if err != nil {
					return false
				}
				for _, c := range cs {
					if c.State != cache.Claimed && c.State != cache.Held {
						t.Fatalf("state %d", c.State)
					}
				}
				return cs[len(cs)-1].State == cache.Claimed
			})
		})
	}
}

// pipelines counts pipelines (round trips) and single commands.
type pipelines struct{ n atomic.Int64 }

func (p *pipelines) DialHook(next redis.DialHook) redis.DialHook { return next }
func (p *pipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { p.n.Add(1); return next(ctx, cmd) }
}
func (p *pipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { p.n.Add(1); return next(ctx, cmds) }
}

// TestABatchIsOneRoundTripPerNodeToClaimAndOneToFinish: 1,000 bots of two
// environments, budgets on: the claim is one round trip per node, so is the
// finish (write-back, release, notice), and nothing answers CROSSSLOT.
func TestABatchIsOneRoundTripPerNodeToClaimAndOneToFinish(t *testing.T) {
	for _, top := range topologies(t) {
		t.Run(top.name, func(t *testing.T) {
			ctx := context.Background()
			count := &pipelines{}
			client := top.client(t, count)
			c := coordinator(t, client, budget.Limits{BotPerMinute: 50, BotPerHour: 1500, EnvPerMinute: 6000}, time.Minute)
			wants := append(wantsFor("rt-a-"+top.name, 500), wantsFor("rt-b-"+top.name, 500)...)
			nodes := 1
			if cc, ok := client.(*redis.ClusterClient); ok {
				var masters atomic.Int64
				if err := cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil }); err != nil {
					t.Fatal(err)
				}
				nodes = int(masters.Load())
			}
			// Load the slot map and the scripts on every node first: neither
			// is a cost of a batch.
			warm := wantsFor("warm-up-"+top.name, 64)
			wcs, err := c.Claim(ctx, warm)
			if err != nil {
				t.Fatal(err)
			}
			var wf []cache.Fill
			for i, cl := range wcs {
				wf = append(wf, cache.Fill{Key: warm[i].Key, Claim: cl, Failure: "unavailable"})
			}
			if err := c.Finish(ctx, wf); err != nil {
				t.Fatal(err)
			}
			count.n.Store(0)
			cs, err := c.Claim(ctx, wants)
			if err != nil {
				t.Fatal(err)
			}
			if got := count.n.Load(); got != int64(nodes) {
				t.Fatalf("claim of 1,000 bots: %d round trips, want %d (one per node)", got, nodes)
			}
			fills := make([]cache.Fill, len(cs))
			for i, cl := range cs {
				if cl.State != cache.Claimed {
					t.Fatalf("bot %d: state %d, want claimed", i, cl.State)
				}
				fills[i] = cache.Fill{Key: wants[i].Key, Claim: cl, Entry: &cache.Entry{FetchedAt: time.Now()}}
			}
			count.n.Store(0)
			if err := c.Finish(ctx, fills); err != nil {
				t.Fatal(err)
			}
			if got := count.n.Load(); got != int64(nodes) {
				t.Fatalf("finish of 1,000 bots: %d round trips, want %d (one per node)", got, nodes)
			}
		})
	}
}

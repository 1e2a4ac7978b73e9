package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

var policy = cache.Policy{TTL: 30 * time.Second, InProgressTTL: 2 * time.Second, NotFoundTTL: 20 * time.Second, StaleFor: time.Minute}

func entry(state upstream.State, at time.Time) cache.Entry {
	return cache.Entry{Job: &upstream.Job{ID: "ds-1", Status: state, StreamID: "st-x"}, FetchedAt: at}
}

func TestPolicyFreshnessByState(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		e    cache.Entry
		want time.Duration
	}{
		{"finished job uses ttl", entry(upstream.StateSuccessful, now), 30 * time.Second},
		{"failed job uses ttl", entry(upstream.StateFailed, now), 30 * time.Second},
		{"publishing job uses inProgressTTL", entry(upstream.StateInProgress, now), 2 * time.Second},
		{"never published uses notFoundTTL", cache.Entry{FetchedAt: now}, 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.FreshFor(tc.e); got != tc.want {
				t.Fatalf("FreshFor = %v, want %v", got, tc.want)
			}
			if policy.RetainFor(tc.e) != tc.want+time.Minute {
				t.Fatalf("RetainFor = %v", policy.RetainFor(tc.e))
			}
		})
	}
}

func TestMemoryExpiresAndBounds(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	m := cache.NewMemory(policy, cache.WithClock(clock), cache.WithMaxEntries(10))
	ctx := context.Background()
	var items []cache.Item
	for i := range 25 {
		items = append(items, cache.Item{Key: cache.Key{Environment: "e", BotID: fmt.Sprint(i)}, Entry: entry(upstream.StateSuccessful, now)})
	}
	_ = m.SetMany(ctx, items)
	if m.Len() > 10 {
		t.Fatalf("%d entries held, bound is 10", m.Len())
	}
	k := cache.Key{Environment: "e", BotID: "24"}
	got, _ := m.GetMany(ctx, []cache.Key{k})
	if got[0] == nil {
		t.Fatal("the newest entry was evicted")
	}
	now = now.Add(91 * time.Second) // past ttl + staleFor
	got, _ = m.GetMany(ctx, []cache.Key{k})
	if got[0] != nil {
		t.Fatal("an entry outlived ttl + staleFor")
	}
}

func TestRedisRoundTripsAndChunks(t *testing.T) {
	r := testkit.MustRedis(t)
	client := r.Client(t)
	var pipelines, mgets int
	client.AddHook(countHook{pipelines: &pipelines, mgets: &mgets})
	c := cache.NewRedis(client, policy, cache.WithChunk(100))
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	var keys []cache.Key
	var items []cache.Item
	for i := range 450 {
		env := []string{"prod", "dev"}[i%2]
		k := cache.Key{Environment: env, BotID: fmt.Sprintf("st-%d", i)}
		keys = append(keys, k)
		if i%3 != 0 {
			items = append(items, cache.Item{Key: k, Entry: entry(upstream.StateInProgress, now)})
		}
	}
	if err := c.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	pipelines, mgets = 0, 0
	got, err := c.GetMany(ctx, append(keys, cache.Key{Environment: "other", BotID: "missing"}))
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if (i%3 != 0) != (got[i] != nil) {
			t.Fatalf("key %v: got %v", k, got[i])
		}
		if got[i] != nil && (!got[i].FetchedAt.Equal(now) || got[i].Job.Status != upstream.StateInProgress) {
			t.Fatalf("round trip changed the entry: %+v", got[i])
		}
	}
	// 225 keys in each of prod and dev, spread over 16 buckets each (about
	// 14 keys a bucket, under the chunk of 100), and one "other": one MGET
	// per bucket, 33 in all, in one round trip.
	if pipelines != 1 || mgets != 2*keyspace.Buckets+1 {
		t.Fatalf("%d round trips with %d MGETs, want 1 with %d", pipelines, mgets, 2*keyspace.Buckets+1)
	}
	ttl, _ := client.PTTL(ctx, cache.RedisKey(keys[1])).Result()
	if ttl <= 0 || ttl > policy.InProgressTTL+policy.StaleFor {
		t.Fatalf("PTTL %v, want in (0, inProgressTTL+staleFor]", ttl)
	}
	// A value of another shape (an older encoding) is a miss, not an error.
	client.Set(ctx, cache.RedisKey(keys[0]), "{not json", time.Minute)
	got, err = c.GetMany(ctx, keys[:1])
	if err != nil || got[0] != nil {
		t.Fatalf("garbage value: %v %v", got[0], err)
	}
}

type countHook struct{ pipelines, mgets *int }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		*h.pipelines++
		for _, c := range cmds {
			if c.Name() == "mget" {
				*h.mgets++
			}
		}
		return next(ctx, cmds)
	}
}

func TestTieredDegradesAndRecovers(t *testing.T) {
	r := testkit.MustRedis(t)
	client := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	var failures int
	tc := cache.NewTiered(cache.NewMemory(policy), cache.NewRedis(client, policy), policy,
		cache.WithPause(10*time.Millisecond), cache.WithErrorHook(func(error) { failures++ }))
	ctx := context.Background()
	k := cache.Key{Environment: "prod", BotID: "st-1"}
	if err := tc.SetMany(ctx, []cache.Item{{Key: k, Entry: entry(upstream.StateSuccessful, time.Now())}}); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	other := cache.Key{Environment: "prod", BotID: "st-2"}
	got, err := tc.GetMany(ctx, []cache.Key{k, other})
	if err != nil || got[0] == nil || got[1] != nil {
		t.Fatalf("with Redis down: %v %v %v", got[0], got[1], err)
	}
	if failures == 0 || tc.SharedHealthy() {
		t.Fatal("the outage was not noticed")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the shared cache never came back", func() bool {
		_ = tc.SetMany(ctx, []cache.Item{{Key: other, Entry: entry(upstream.StateSuccessful, time.Now())}})
		n, _ := r.Client(t).Exists(ctx, cache.RedisKey(other)).Result()
		return n == 1
	})
}

package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

func TestPullTakesNewerSharedEntriesOnly(t *testing.T) {
	r := testkit.MustRedis(t)
	newTiered := func() *cache.Tiered {
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { _ = c.Close() })
		return cache.NewTiered(cache.NewMemory(policy), cache.NewRedis(c, policy), policy)
	}
	poller, follower := newTiered(), newTiered()
	ctx := context.Background()
	now := time.Now()
	changed := cache.Key{Environment: "prod", BotID: "st-changed"}
	older := cache.Key{Environment: "prod", BotID: "st-older"}
	// The follower holds fresh local copies of both.
	if err := follower.SetMany(ctx, []cache.Item{
		{Key: changed, Entry: entry(upstream.StateSuccessful, now.Add(-time.Second))},
		{Key: older, Entry: entry(upstream.StateSuccessful, now)},
	}); err != nil {
		t.Fatal(err)
	}
	// The poller then writes a newer job of one, and an older answer of the other.
	if err := poller.SetMany(ctx, []cache.Item{
		{Key: changed, Entry: entry(upstream.StateInProgress, now)},
		{Key: older, Entry: entry(upstream.StateFailed, now.Add(-time.Second))},
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := follower.GetMany(ctx, []cache.Key{changed}); got[0].Job.Status != upstream.StateSuccessful {
		t.Fatalf("before Pull the fresh local copy is served: got %v", got[0].Job.Status)
	}
	if err := follower.Pull(ctx, []cache.Key{changed, older}); err != nil {
		t.Fatal(err)
	}
	got, _ := follower.GetMany(ctx, []cache.Key{changed, older})
	if got[0].Job.Status != upstream.StateInProgress || got[1].Job.Status != upstream.StateSuccessful {
		t.Fatalf("after Pull: %v, %v; want the newer shared job and the newer local one", got[0].Job.Status, got[1].Job.Status)
	}
}

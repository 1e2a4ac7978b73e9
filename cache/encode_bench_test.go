package cache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

// benchEntry is a typical cached answer: a finished job of five resources.
func benchEntry(i int) cache.Entry {
	t := time.Date(2026, 3, 1, 10, 17, 2, 456e6, time.UTC)
	return cache.Entry{FetchedAt: t, Job: &upstream.Job{
		ID: fmt.Sprintf("ds-%08d", i), JobType: "PUBLISH_BOT", StreamID: testkit.BotID(fmt.Sprint(i)), Action: "RUN", CreatedBy: "u-1b2c3d4e",
		PercentageComplete: 100, Status: upstream.StateSuccessful, RawStatus: "successful", RequestedTime: &t, InitiatedOn: &t, LastModifiedOn: &t,
		StatusSummary: []upstream.ResourceStatus{
			{ResourceID: "SETTINGS", ResourceType: "SETTINGS", Name: "Bot Settings", Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "NL", ResourceType: "NL", Modules: []string{"ML", "FAQ"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "CHANNELS", ResourceType: "CHANNELS", Modules: []string{"rtm"}, Status: upstream.ResourceSuccess, RawStatus: "success"},
			{ResourceID: "BOTLANGUAGES", ResourceType: "BOTLANGUAGES", Modules: []string{"en", "de"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
			{ResourceID: "AUTOVERSIONING", ResourceType: "AUTOVERSIONING", Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
		},
	}}
}

// BenchmarkEntryEncode measures the value encoding of a cache entry (the
// JSON of Entry, which the Redis cache writes and reads), one entry per op.
func BenchmarkEntryEncode(b *testing.B) {
	e := benchEntry(1)
	raw, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var out cache.Entry
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisGetMany reads 100 and 1,000 cached entries from a real Redis
// through the Redis cache (one pipelined round trip, decoding included), next
// to the floor: the same MGET with no decoding. x-mget is their ratio.
func BenchmarkRedisGetMany(b *testing.B) {
	r := testkit.MustRedis(b)
	client := r.Client(b)
	c := cache.NewRedis(client, cache.DefaultPolicy)
	ctx := context.Background()
	for _, n := range []int{100, 1000} {
		keys := make([]cache.Key, n)
		names := make([]string, n)
		items := make([]cache.Item, n)
		for i := range keys {
			keys[i] = cache.Key{Environment: "bench", BotID: testkit.BotID(fmt.Sprint(i))}
			names[i] = cache.RedisKey(keys[i])
			e := benchEntry(i)
			e.FetchedAt = time.Now()
			items[i] = cache.Item{Key: keys[i], Entry: e}
		}
		if err := c.SetMany(ctx, items); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			floor := mgetTime(b, client, names)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				got, err := c.GetMany(ctx, keys)
				if err != nil || got[n-1] == nil {
					b.Fatalf("GetMany: %v (last entry %v)", err, got[n-1])
				}
			}
			per := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(floor.Microseconds()), "mget-µs")
			b.ReportMetric(float64(per)/float64(floor), "x-mget")
		})
	}
}

// mgetTime is the mean time of one MGET of names over 50 calls.
func mgetTime(b *testing.B, client *redis.Client, names []string) time.Duration {
	b.Helper()
	start := time.Now()
	for range 50 {
		if err := client.MGet(context.Background(), names...).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / 50
}

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
)

// benchEntry is a typical cached answer: a finished job of five resources.
func benchEntry(i int) cache.Entry {
	t := time.Date(2026, 3, 1, 10, 17, 2, 456e6, time.UTC)
	return cache.Entry{FetchedAt: t, Job: cache.TypicalJob(fmt.Sprintf("ds-%08d", i), testkit.BotID(fmt.Sprint(i)), t)}
}

// entryCodec is one value encoding of a cache entry.
type entryCodec struct {
	name   string
	encode func(cache.Entry) ([]byte, error)
	decode func([]byte) (cache.Entry, error)
}

// entryCodecs are JSON, the v1 keys' encoding, kept as the comparison,
// and the binary format of codec.go, which the Redis cache writes and reads.
func entryCodecs() []entryCodec {
	return []entryCodec{
		{"json", func(e cache.Entry) ([]byte, error) { return json.Marshal(e) }, func(raw []byte) (cache.Entry, error) {
			var e cache.Entry
			err := json.Unmarshal(raw, &e)
			return e, err
		}},
		{"binary", func(e cache.Entry) ([]byte, error) { return cache.AppendEntry(nil, e), nil }, cache.DecodeEntry},
	}
}

// BenchmarkEntryEncode measures encoding benchEntry, one entry per op, in
// each format; B/entry is the encoded size.
func BenchmarkEntryEncode(b *testing.B) {
	benchEntryCodecs(b, func(c entryCodec, e cache.Entry, _ []byte) error {
		_, err := c.encode(e)
		return err
	})
}

// BenchmarkEntryDecode measures decoding benchEntry, one entry per op, in
// each format: what a replica pays per entry it reads from Redis.
func BenchmarkEntryDecode(b *testing.B) {
	benchEntryCodecs(b, func(c entryCodec, _ cache.Entry, raw []byte) error {
		_, err := c.decode(raw)
		return err
	})
}

// benchEntryCodecs runs op, given benchEntry and its encoding, once per
// op for each codec.
func benchEntryCodecs(b *testing.B, op func(c entryCodec, e cache.Entry, raw []byte) error) {
	e := benchEntry(1)
	for _, c := range entryCodecs() {
		b.Run(c.name, func(b *testing.B) {
			raw, err := c.encode(e)
			if err != nil {
				b.Fatal(err)
			}
			if got, err := c.decode(raw); err != nil || got.Job == nil || got.Job.ID != e.Job.ID {
				b.Fatalf("decode: %+v, %v", got, err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := op(c, e, raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(raw)), "B/entry")
		})
	}
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

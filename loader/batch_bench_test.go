package loader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// instantFetcher answers every bot at once with the same finished job, so
// that a cold batch measures the loader's own work, not an upstream.
type instantFetcher struct{ job upstream.Job }

func (f instantFetcher) PublishStatus(_ context.Context, botID string) (*upstream.Job, error) {
	j := f.job
	j.StreamID = botID
	return &j, nil
}

// Concurrency lets the whole batch run at once.
func (instantFetcher) Concurrency() int { return 1024 }

// BenchmarkLoadBatch measures one batch of 1,000 keys of one environment
// through Source.Load: warm (every key fresh in the in-process cache) and
// cold (every key refreshed from an upstream that answers at once).
func BenchmarkLoadBatch(b *testing.B) {
	const n = 1000
	now := time.Now()
	job := upstream.Job{ID: "ds-1", JobType: "PUBLISH_BOT", Status: upstream.StateSuccessful, RawStatus: "successful",
		PercentageComplete: 100, LastModifiedOn: &now,
		StatusSummary: []upstream.ResourceStatus{{ResourceID: "NL", ResourceType: "NL", Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"}}}
	policy := cache.Policy{TTL: time.Hour, InProgressTTL: time.Hour, NotFoundTTL: time.Hour, StaleFor: time.Hour}
	for _, mode := range []string{"warm", "cold"} {
		b.Run(fmt.Sprintf("%s/keys=%d", mode, n), func(b *testing.B) {
			src := loader.NewSource(cache.NewMemory(policy), policy, map[string]loader.Fetcher{"prod": instantFetcher{job}})
			b.Cleanup(src.Close)
			keys := make([]loader.Key, n)
			for i := range keys {
				keys[i] = loader.Key{Environment: "prod", BotID: testkit.BotID(fmt.Sprint(i)), Refresh: mode == "cold"}
			}
			ctx := context.Background()
			src.Load(ctx, keys) // fills the cache
			b.ReportAllocs()
			for b.Loop() {
				out := src.Load(ctx, keys)
				if len(out) != n {
					b.Fatalf("%d outcomes for %d keys", len(out), n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
		})
	}
}

package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/publish"
	"github.com/publishgate/publishgate/upstream"
)

// TestStoresKeepTheIdempotencyContract runs every Store through claim,
// repeat, complete and abandon, over keys that fall in many slots: in a
// Cluster they are served by every master.
func TestStoresKeepTheIdempotencyContract(t *testing.T) {
	cluster := testkit.MustRedisCluster(t, 3)
	cases := []struct {
		name   string
		store  func(t *testing.T) (publish.Store, redis.UniversalClient)
		spread func(t *testing.T, keys []string) // checks that the keys reached every node
	}{
		{name: "in process", store: func(*testing.T) (publish.Store, redis.UniversalClient) {
			return publish.NewMemoryStore(nil), nil
		}},
		{name: "one Redis server", store: func(t *testing.T) (publish.Store, redis.UniversalClient) {
			rdb := testkit.MustRedis(t).Client(t)
			return publish.NewRedisStore(rdb), rdb
		}},
		{name: "a 3-master Redis Cluster", store: func(t *testing.T) (publish.Store, redis.UniversalClient) {
			rdb := cluster.Client(t)
			return publish.NewRedisStore(rdb), rdb
		}, spread: func(t *testing.T, keys []string) {
			for i, m := range cluster.MasterClients(t) {
				if n, err := m.DBSize(context.Background()).Result(); err != nil || n == 0 {
					t.Errorf("master %s holds %d of %d keys (%v): the test did not reach every master", cluster.Addrs[i], n, len(keys), err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store, rdb := tc.store(t)
			keys := make([]string, 30)
			for i := range keys {
				h := sha256.Sum256(fmt.Appendf(nil, "caller\x00key-%d", i))
				keys[i] = hex.EncodeToString(h[:])
			}
			at := time.Now().Truncate(time.Millisecond)
			for _, k := range keys {
				if _, claimed, err := store.Claim(ctx, k, time.Minute); err != nil || !claimed {
					t.Fatalf("first Claim(%s) = claimed %v, %v; want claimed", k, claimed, err)
				}
				if a, claimed, err := store.Claim(ctx, k, time.Minute); err != nil || claimed || !a.Pending {
					t.Fatalf("repeat Claim(%s) = %+v, claimed %v, %v; want pending, not claimed", k, a, claimed, err)
				}
				done := publish.Answer{Environment: "prod", BotID: "st-" + k[:8], Job: &upstream.Job{ID: "job-" + k[:8], Status: upstream.StateInProgress}, FetchedAt: at}
				if err := store.Complete(ctx, k, done, time.Minute); err != nil {
					t.Fatalf("Complete(%s): %v", k, err)
				}
				a, claimed, err := store.Claim(ctx, k, time.Minute)
				if err != nil || claimed || a.Pending || a.Environment != done.Environment || a.BotID != done.BotID || a.Job == nil || a.Job.ID != done.Job.ID || a.Job.Status != done.Job.Status || !a.FetchedAt.Equal(at) {
					t.Fatalf("Claim(%s) after Complete = %+v, claimed %v, %v; want %+v", k, a, claimed, err, done)
				}
				if rdb != nil {
					if ttl, err := rdb.TTL(ctx, keyspace.Idempotency(k)).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
						t.Fatalf("key %s TTL = %v, %v; want at most 1m", keyspace.Idempotency(k), ttl, err)
					}
				}
			}
			if tc.spread != nil {
				tc.spread(t, keys)
			}
			for _, k := range keys {
				if err := store.Abandon(ctx, k); err != nil {
					t.Fatalf("Abandon(%s): %v", k, err)
				}
				if _, claimed, err := store.Claim(ctx, k, time.Minute); err != nil || !claimed {
					t.Fatalf("Claim(%s) after Abandon = claimed %v, %v; want claimed", k, claimed, err)
				}
			}
		})
	}
}

package lease_test

import (
	"testing"
	"time"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/lease"
	"github.com/publishgate/publishgate/internal/testkit"
)

// TestBatchHoldOnACluster: an environment's 16 live shard leases, spread
// over the 3 masters of a Cluster by their buckets' tags, are held with one
// pipeline (go-redis sends each master its part in one round trip) and
// released with another.
func TestBatchHoldOnACluster(t *testing.T) {
	cl := testkit.MustRedisCluster(t, 3)
	c := cl.Client(t)
	count := &roundTrips{}
	c.AddHook(count)
	ctx := t.Context()
	keys := make([]string, keyspace.Buckets)
	for b := range keys {
		keys[b] = keyspace.LiveLease("prod", b)
	}
	b := lease.NewBatch(c, time.Minute)
	b.Hold(ctx, keys) // loads the script on every master
	for _, what := range []string{"taking", "renewing"} {
		count.reset()
		for i, r := range b.Hold(ctx, keys) {
			if !r.Held || r.Err != nil {
				t.Fatalf("%s %s: %+v", what, keys[i], r)
			}
		}
		if count.pipelines.Load() != 1 || count.cmds.Load() != 0 {
			t.Errorf("%s: %d pipelines and %d single commands; want one pipeline", what, count.pipelines.Load(), count.cmds.Load())
		}
	}
	var spread []int64
	for _, m := range cl.MasterClients(t) {
		n, err := m.DBSize(ctx).Result()
		if err != nil || n == 0 {
			t.Fatalf("a master holds %d of the leases (%v)", n, err)
		}
		spread = append(spread, n)
	}
	t.Logf("16 leases over 3 masters: %v", spread)
	if err := b.Release(ctx, keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if n, err := c.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Fatalf("%s after Release: exists %d, %v", k, n, err)
		}
	}
}

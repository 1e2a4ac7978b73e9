package keyspace_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
)

// TestJobKeysOnARedisCluster checks on a real 3-master Cluster what the
// package promises: an environment's job keys spread over every master, one
// bucket's keys are one MGET, and a batch grouped per bucket costs one round
// trip per master. The subtests share one Cluster (it takes about 2 s to
// start) and run in order: the first writes the keys the others read.
func TestJobKeysOnARedisCluster(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	c := testkit.MustRedisCluster(t, 3)
	t.Logf("3-master Cluster started in %v", time.Since(start).Round(time.Millisecond))
	rdb := c.Client(t)
	owner := slotOwners(t, rdb)
	plain := map[string]*redis.Client{}
	for i, m := range c.MasterClients(t) {
		plain[c.Addrs[i]] = m
	}

	const env = "prod"
	bots := make([]string, 1500)
	for i := range bots {
		bots[i] = testkit.BotID(fmt.Sprintf("keyspace-cluster-%d", i))
	}
	byBucket := map[int][]string{}
	for _, b := range bots {
		byBucket[keyspace.Bucket(b)] = append(byBucket[keyspace.Bucket(b)], b)
	}

	wrote := t.Run("every master holds at least 20% of an environment's job keys", func(t *testing.T) {
		pipe := rdb.Pipeline()
		for _, b := range bots {
			pipe.Set(ctx, keyspace.Job(env, b), b, time.Hour)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("write %d job keys: %v", len(bots), err)
		}
		buckets := map[string][]int{}
		for b := range keyspace.Buckets {
			addr := owner(keyspace.Slot(keyspace.Tag(env, b)))
			buckets[addr] = append(buckets[addr], b)
		}
		var total int64
		for _, addr := range c.Addrs {
			n, err := plain[addr].DBSize(ctx).Result()
			if err != nil {
				t.Fatalf("DBSIZE on %s: %v", addr, err)
			}
			total += n
			share := float64(n) / float64(len(bots))
			t.Logf("master %s: %d of %d keys (%.1f%%), buckets %v", addr, n, len(bots), 100*share, buckets[addr])
			if share < 0.20 {
				t.Errorf("master %s holds %.1f%% of the keys, want at least 20%%", addr, 100*share)
			}
		}
		if total != int64(len(bots)) {
			t.Errorf("the masters hold %d keys, want %d", total, len(bots))
		}
	})
	if !wrote {
		return // the subtests below read what it wrote
	}

	t.Run("an MGET of one bucket's keys never answers CROSSSLOT", func(t *testing.T) {
		for b := range keyspace.Buckets {
			names := jobKeys(env, byBucket[b])
			// Straight to the master that owns the bucket, so that the
			// server, not the client's routing, judges the slots.
			addr := owner(keyspace.Slot(names[0]))
			for via, cl := range map[string]redis.Cmdable{"cluster client": rdb, "master " + addr: plain[addr]} {
				vals, err := cl.MGet(ctx, names...).Result()
				if err != nil {
					t.Fatalf("MGET of bucket %d (%d keys, tag %s) via %s: %v", b, len(names), keyspace.Tag(env, b), via, err)
				}
				if want := anySlice(byBucket[b]); !equalValues(vals, want) {
					t.Errorf("MGET of bucket %d via %s answered wrong values", b, via)
				}
			}
		}
	})

	t.Run("an MGET of two buckets on one master answers CROSSSLOT", func(t *testing.T) {
		// The control of the subtest above: the check would see CROSSSLOT.
		first := map[string]int{}
		for b := range keyspace.Buckets {
			addr := owner(keyspace.Slot(keyspace.Tag(env, b)))
			a, seen := first[addr]
			if !seen {
				first[addr] = b
				continue
			}
			err := plain[addr].MGet(ctx, keyspace.Job(env, byBucket[a][0]), keyspace.Job(env, byBucket[b][0])).Err()
			if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
				t.Fatalf("MGET of buckets %d and %d on %s: %v, want CROSSSLOT", a, b, addr, err)
			}
			return
		}
		t.Fatal("no master owns two buckets")
	})

	rt := &roundTrips{n: map[string]int{}}
	counted := countingClient(t, c.Addrs, rt)
	// A new connection sends CLIENT SETINFO as a pipeline of its own, and
	// pipelines have a pool of their own: open one pipeline connection per
	// master first, as a running gateway has, so that what is counted is the
	// batch.
	if err := counted.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		_, err := m.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() })
		return err
	}); err != nil {
		t.Fatalf("a pipelined PING to every master: %v", err)
	}
	onePerMaster := map[string]int{}
	for _, addr := range c.Addrs {
		onePerMaster[addr] = 1
	}

	t.Run("500 bots read with one MGET per bucket cost one round trip per master", func(t *testing.T) {
		batch := bots[:500]
		groups := map[int][]string{}
		for _, b := range batch {
			groups[keyspace.Bucket(b)] = append(groups[keyspace.Bucket(b)], b)
		}
		pipe := counted.Pipeline()
		cmds := map[int]*redis.SliceCmd{}
		for b, g := range groups {
			cmds[b] = pipe.MGet(ctx, jobKeys(env, g)...)
		}
		rt.take()
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("pipeline of %d MGETs: %v", len(cmds), err)
		}
		got := rt.take()
		t.Logf("%d MGETs for %d bots: round trips per master %v", len(cmds), len(batch), got)
		if !maps.Equal(got, onePerMaster) {
			t.Errorf("round trips per master %v, want %v", got, onePerMaster)
		}
		for b, cmd := range cmds {
			if !equalValues(cmd.Val(), anySlice(groups[b])) {
				t.Errorf("bucket %d: wrong values", b)
			}
		}
	})

	t.Run("cache.Redis writes and reads 500 bots in one round trip per master", func(t *testing.T) {
		jc := cache.NewRedis(counted, cache.DefaultPolicy)
		at := time.Now().Truncate(time.Millisecond)
		keys := make([]cache.Key, 500)
		items := make([]cache.Item, len(keys))
		for i, b := range bots[:len(keys)] {
			keys[i] = cache.Key{Environment: "eu", BotID: b}
			items[i] = cache.Item{Key: keys[i], Entry: cache.Entry{FetchedAt: at, Job: &upstream.Job{ID: "job-" + b, Status: upstream.StateSuccessful}}}
		}
		rt.take()
		if err := jc.SetMany(ctx, items); err != nil {
			t.Fatalf("SetMany: %v", err)
		}
		got := rt.take()
		t.Logf("SetMany of %d bots: round trips per master %v", len(items), got)
		if !maps.Equal(got, onePerMaster) {
			t.Errorf("SetMany of %d bots: round trips per master %v, want %v", len(items), got, onePerMaster)
		}
		entries, err := jc.GetMany(ctx, keys)
		if err != nil {
			t.Fatalf("GetMany: %v", err)
		}
		got = rt.take()
		t.Logf("GetMany of %d bots: round trips per master %v", len(keys), got)
		if !maps.Equal(got, onePerMaster) {
			t.Errorf("GetMany of %d bots: round trips per master %v, want %v", len(keys), got, onePerMaster)
		}
		for i, e := range entries {
			switch {
			case e == nil:
				t.Fatalf("bot %s: a miss", keys[i].BotID)
			case e.Job == nil || e.Job.ID != "job-"+keys[i].BotID || e.Job.Status != upstream.StateSuccessful || !e.FetchedAt.Equal(at):
				t.Fatalf("bot %s: got %+v at %v, want job-%s successful at %v", keys[i].BotID, e.Job, e.FetchedAt, keys[i].BotID, at)
			}
		}
	})
}

// slotOwners returns the address of the master that serves a slot, by the
// Cluster's own CLUSTER SLOTS.
func slotOwners(t *testing.T, rdb *redis.ClusterClient) func(slot int) string {
	t.Helper()
	slots, err := rdb.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	return func(slot int) string {
		for _, s := range slots {
			if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
				return s.Nodes[0].Addr
			}
		}
		t.Fatalf("no master serves slot %d", slot)
		return ""
	}
}

// countingClient is a Cluster client whose node clients count the pipelines
// they send, each one round trip to that node, in rt.
func countingClient(t *testing.T, addrs []string, rt *roundTrips) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs,
		NewClient: func(opt *redis.Options) *redis.Client {
			node := redis.NewClient(opt)
			node.AddHook(pipelineCounter{addr: opt.Addr, rt: rt})
			return node
		},
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// roundTrips counts pipelines per node address.
type roundTrips struct {
	mu sync.Mutex
	n  map[string]int
}

// take returns the counts so far and starts again from zero.
func (r *roundTrips) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = map[string]int{}
	return n
}

// pipelineCounter is a redis.Hook that counts the pipelines one node client
// sends.
type pipelineCounter struct {
	addr string
	rt   *roundTrips
}

func (h pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.rt.mu.Lock()
		h.rt.n[h.addr]++
		h.rt.mu.Unlock()
		return next(ctx, cmds)
	}
}

func jobKeys(env string, bots []string) []string {
	names := make([]string, len(bots))
	for i, b := range bots {
		names[i] = keyspace.Job(env, b)
	}
	return names
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func equalValues(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

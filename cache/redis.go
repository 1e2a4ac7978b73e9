package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
)

// DefaultChunk is the most keys read by one MGET.
const DefaultChunk = 500

// RedisKey is the Redis key of k (internal/keyspace): the hash tag of the
// bot's bucket, so that in a Redis Cluster an environment's keys spread over
// every master while one MGET still reads a whole bucket.
func RedisKey(k Key) string { return keyspace.Job(k.Environment, k.BotID) }

// Redis is the JobCache shared by every replica: one pipelined round trip
// reads a batch (an MGET per bucket, chunked; in a Cluster, one round trip
// per master), one writes it back with
// the state-dependent lifetimes of the Policy. It works with a single node,
// Sentinel or a Cluster (redis.UniversalClient).
type Redis struct {
	client redis.UniversalClient
	policy Policy
	chunk  int
}

// RedisOption configures a Redis cache.
type RedisOption func(*Redis)

// WithChunk sets the most keys read by one MGET.
func WithChunk(n int) RedisOption {
	return func(r *Redis) {
		if n > 0 {
			r.chunk = n
		}
	}
}

// NewRedis returns a cache on client keeping entries for policy.RetainFor.
func NewRedis(client redis.UniversalClient, policy Policy, opts ...RedisOption) *Redis {
	r := &Redis{client: client, policy: policy, chunk: DefaultChunk}
	for _, o := range opts {
		o(r)
	}
	return r
}

// GetMany implements JobCache. Values are in the encoding of codec.go;
// undecodable ones (another version's) count as misses.
func (r *Redis) GetMany(ctx context.Context, keys []Key) ([]*Entry, error) {
	out := make([]*Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	// Group by bucket (one hash slot each), then chunk; every MGET goes out
	// in one pipeline, so one round trip per node.
	type pending struct {
		idx []int
		cmd *redis.SliceCmd
	}
	var cmds []pending
	pipe := r.client.Pipeline()
	for _, all := range groupBySlot(keys) {
		for start := 0; start < len(all); start += r.chunk {
			idx := all[start:min(start+r.chunk, len(all))]
			names := make([]string, len(idx))
			for j, i := range idx {
				names[j] = RedisKey(keys[i])
			}
			cmds = append(cmds, pending{idx, pipe.MGet(ctx, names...)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis mget: %w", err)
	}
	for _, p := range cmds {
		vals, err := p.cmd.Result()
		if err != nil {
			return nil, fmt.Errorf("redis mget: %w", err)
		}
		for j, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			if e, err := decodeEntryString(s); err == nil && !e.FetchedAt.IsZero() {
				out[p.idx[j]] = &e
			}
		}
	}
	return out, nil
}

// SetMany implements JobCache: one pipelined round trip of SET ... PX.
func (r *Redis) SetMany(ctx context.Context, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	now := time.Now()
	pipe := r.client.Pipeline()
	for _, it := range items {
		b := appendEntry(nil, it.Entry)
		ttl := it.Entry.FetchedAt.Add(r.policy.RetainFor(it.Entry)).Sub(now)
		if ttl < time.Millisecond {
			continue
		}
		pipe.Set(ctx, RedisKey(it.Key), b, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// groupBySlot returns the indexes of keys grouped by hash tag (environment
// and bucket), in the order each group first appears.
func groupBySlot(keys []Key) [][]int {
	type tag struct {
		env    string
		bucket int
	}
	at := map[tag]int{}
	var groups [][]int
	for i, k := range keys {
		t := tag{k.Environment, keyspace.Bucket(k.BotID)}
		g, ok := at[t]
		if !ok {
			g = len(groups)
			at[t] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

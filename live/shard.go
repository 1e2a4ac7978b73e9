package live

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/lease"
)

// shardID is one bucket of an environment's bots (keyspace.Bucket): the
// unit of leadership between replicas.
type shardID struct {
	env    string
	bucket int
}

func shardOf(k Key) shardID { return shardID{k.Environment, keyspace.Bucket(k.BotID)} }

// shard is a bucket in which this replica has watches.
type shard struct {
	id      shardID
	key     string              // its lease
	watches map[*watch]struct{} // guarded by shards.mu
	leading atomic.Bool         // this replica polls its bots
}

// shards keeps the leases of the shards this hub has watches in: one batch
// round trip every LeaseTTL/3 renews those it holds and takes those nobody
// does, whatever the number of bots watched (at most keyspace.Buckets per
// environment). It tells the watches of a shard when it becomes led here,
// and joins and leaves the shards' channels.
type shards struct {
	h     *Hub
	ps    *pubsub
	batch *lease.Batch

	mu      sync.Mutex
	byID    map[shardID]*shard
	release []string // leases of shards left since the last round

	kick chan struct{} // a shard joined or left: a round now, not at the next tick
	done chan struct{}
}

func newShards(h *Hub, ps *pubsub) *shards {
	s := &shards{
		h: h, ps: ps, batch: lease.NewBatch(h.opts.Redis, h.opts.LeaseTTL, lease.WithToken(h.id)),
		byID: map[shardID]*shard{}, kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.run(h.ctx)
	}()
	return s
}

// join adds w to its shard, subscribing to the shard's channel and asking
// for its lease when w is the first of this replica's watches in it.
func (s *shards) join(ctx context.Context, w *watch) *shard {
	id := shardOf(w.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.byID[id]
	if sh == nil {
		sh = &shard{id: id, key: keyspace.LiveLease(id.env, id.bucket), watches: map[*watch]struct{}{}}
		s.byID[id] = sh
		// Left and joined again within a round: keep the lease.
		s.release = slices.DeleteFunc(s.release, func(k string) bool { return k == sh.key })
		s.ps.subscribe(ctx, keyspace.LiveChannel(id.env, id.bucket))
		s.poke()
	}
	sh.watches[w] = struct{}{}
	return sh
}

// leave undoes join. The lease of a shard left without watches here is
// released by a round at once, so that a replica still watching its bots
// takes it over at its next round rather than when the lease expires.
func (s *shards) leave(sh *shard, w *watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(sh.watches, w)
	if len(sh.watches) > 0 {
		return
	}
	delete(s.byID, sh.id)
	sh.leading.Store(false)
	s.release = append(s.release, sh.key)
	s.ps.unsubscribe(keyspace.LiveChannel(sh.id.env, sh.id.bucket))
	s.poke()
}

// poke asks for a round now; rounds asked for while one runs make one more.
func (s *shards) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run holds the leases every LeaseTTL/3 until ctx ends, and once more when
// a shard gains its first watch here or loses its last (requests made while
// a round runs make one more round, not one each).
func (s *shards) run(ctx context.Context) {
	t := time.NewTicker(s.h.opts.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.round(ctx)
	}
}

// round releases the leases of the shards left, then holds those of the
// shards watched, each in one round trip. Without an answer from Redis for
// a shard this replica polls its bots itself: a duplicate poll is better
// than none.
func (s *shards) round(ctx context.Context) {
	s.mu.Lock()
	rel := s.release
	s.release = nil
	list := make([]*shard, 0, len(s.byID))
	for _, sh := range s.byID {
		list = append(list, sh)
	}
	s.mu.Unlock()
	if len(rel) > 0 {
		if err := s.batch.Release(ctx, rel); err != nil {
			s.h.log.Debug("releasing live leases failed", "err", err)
		}
	}
	if len(list) == 0 {
		return
	}
	keys := make([]string, len(list))
	for i, sh := range list {
		keys[i] = sh.key
	}
	res := s.batch.Hold(ctx, keys)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sh := range list {
		lead := res[i].Held
		if res[i].Err != nil {
			lead = ctx.Err() == nil
			s.h.log.Debug("holding a live lease failed", "err", res[i].Err)
		}
		if s.byID[sh.id] != sh {
			continue // left meanwhile; its lease is released next round
		}
		if !sh.leading.Swap(lead) && lead {
			for w := range sh.watches {
				w.nudge()
			}
		}
	}
}

// close waits for the loop (its context is the hub's) and releases every
// lease: called once the watches have stopped.
func (s *shards) close() {
	<-s.done
	s.mu.Lock()
	keys := s.release
	s.release = nil
	for _, sh := range s.byID {
		keys = append(keys, sh.key)
	}
	s.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.batch.Release(ctx, keys); err != nil {
		s.h.log.Debug("releasing live leases failed", "err", err)
	}
}

package live

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/redislock"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// Redis keys and channels of the live hub.
const (
	leasePrefix   = "publishgate:v1:live:lease:"
	channelPrefix = "publishgate:v1:live:bot:"
)

// message is what a replica publishes on a bot's channel: the job it saw.
type message struct {
	Origin    string        `json:"origin"`
	Job       *upstream.Job `json:"job"`
	FetchedAt time.Time     `json:"fetchedAt"`
	Stale     bool          `json:"stale,omitempty"`
}

// pubsub is the hub's Redis side: one subscription connection for the
// channels of every watched bot, and the leases.
type pubsub struct {
	h  *Hub
	c  redis.UniversalClient
	ps *redis.PubSub

	mu   sync.Mutex
	refs map[string]int // channel -> watches joined
	keys map[string]Key

	done chan struct{}
}

func newPubSub(h *Hub) *pubsub {
	p := &pubsub{h: h, c: h.opts.Redis, refs: map[string]int{}, keys: map[string]Key{}, done: make(chan struct{})}
	p.ps = p.c.Subscribe(h.ctx)
	ch := p.ps.Channel(redis.WithChannelSize(1024))
	go func() {
		defer close(p.done)
		for m := range ch {
			p.dispatch(m)
		}
	}()
	return p
}

func (p *pubsub) close() error {
	err := p.ps.Close()
	<-p.done
	return err
}

// LeaseKey is the Redis key of the lease on k (its value is the holder's ID).
func LeaseKey(k Key) string { return leasePrefix + k.Environment + ":" + k.BotID }

func channel(k Key) string { return channelPrefix + k.Environment + ":" + k.BotID }

// join subscribes to k's channel for a watch.
func (p *pubsub) join(ctx context.Context, k Key) {
	ch := channel(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs[ch]++
	p.keys[ch] = k
	if p.refs[ch] == 1 {
		if err := p.ps.Subscribe(ctx, ch); err != nil {
			p.h.log.Warn("subscribe to bot channel failed", "err", err)
		}
	}
}

// leave undoes join.
func (p *pubsub) leave(k Key) {
	ch := channel(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs[ch]--
	if p.refs[ch] > 0 {
		return
	}
	delete(p.refs, ch)
	delete(p.keys, ch)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.ps.Unsubscribe(ctx, ch); err != nil {
		p.h.log.Debug("unsubscribe from bot channel failed", "err", err)
	}
}

func (p *pubsub) dispatch(m *redis.Message) {
	p.mu.Lock()
	k, ok := p.keys[m.Channel]
	p.mu.Unlock()
	if !ok {
		return
	}
	var msg message
	if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.Origin == p.h.id {
		return
	}
	p.h.mu.Lock()
	w := p.h.watches[k]
	p.h.mu.Unlock()
	if w != nil {
		w.offer(loader.Outcome{Result: loader.Result{Job: msg.Job, FetchedAt: msg.FetchedAt, FromCache: true, Stale: msg.Stale}})
	}
}

// publish tells the other replicas about a job of k.
func (p *pubsub) publish(ctx context.Context, k Key, r loader.Result) {
	raw, err := json.Marshal(message{Origin: p.h.id, Job: r.Job, FetchedAt: r.FetchedAt, Stale: r.Stale})
	if err != nil {
		return
	}
	if err := p.c.Publish(ctx, channel(k), raw).Err(); err != nil {
		p.h.log.Debug("publish to bot channel failed", "err", err)
	}
}

// hold renews the lease on k when this replica holds it, or tries to take
// it, and reports whether this replica leads k now. Without an answer from
// Redis the replica polls itself: a duplicate poll is better than none.
func (p *pubsub) hold(ctx context.Context, k Key, held bool) bool {
	ttl := p.h.opts.LeaseTTL
	if held {
		n, err := redislock.Renew.Run(ctx, p.c, []string{LeaseKey(k)}, p.h.id, ttl.Milliseconds()).Int()
		if err != nil {
			return true
		}
		if n == 1 {
			return true
		}
		// Lost it (expired and taken): try to take it back below.
	}
	ok, err := p.c.SetNX(ctx, LeaseKey(k), p.h.id, ttl).Result()
	if err != nil {
		return ctx.Err() == nil
	}
	return ok
}

// release frees the lease on k if this replica holds it.
func (p *pubsub) release(ctx context.Context, k Key) {
	_ = redislock.Release.Run(ctx, p.c, []string{LeaseKey(k)}, p.h.id).Err()
}

package live

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// message is what a replica publishes on a shard's channel: the job it saw
// of one bot.
type message struct {
	Origin    string        `json:"origin"`
	Env       string        `json:"env"`
	BotID     string        `json:"bot"`
	Job       *upstream.Job `json:"job"`
	FetchedAt time.Time     `json:"fetchedAt"`
	Stale     bool          `json:"stale,omitempty"`
}

// pubsub is the hub's Redis channels: one subscription connection for the
// channels of the shards it has watches in (shards joins and leaves them).
// A shard's channel carries the jobs of all its bots, so a replica also
// hears of bots of the shard it does not watch, and drops them: one
// SUBSCRIBE per shard instead of one per bot.
type pubsub struct {
	h  *Hub
	c  redis.UniversalClient
	ps *redis.PubSub

	done chan struct{}
}

func newPubSub(h *Hub) *pubsub {
	p := &pubsub{h: h, c: h.opts.Redis, done: make(chan struct{})}
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

// LeaseKey is the Redis key of the lease on the shard k falls in (its value
// is the holding hub's ID): keyspace.LiveLease of k's bucket.
func LeaseKey(k Key) string { return keyspace.LiveLease(k.Environment, keyspace.Bucket(k.BotID)) }

func channel(k Key) string { return keyspace.LiveChannel(k.Environment, keyspace.Bucket(k.BotID)) }

func (p *pubsub) subscribe(ctx context.Context, ch string) {
	if err := p.ps.Subscribe(ctx, ch); err != nil {
		p.h.log.Warn("subscribe to live channel failed", "err", err)
	}
}

func (p *pubsub) unsubscribe(ch string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.ps.Unsubscribe(ctx, ch); err != nil {
		p.h.log.Debug("unsubscribe from live channel failed", "err", err)
	}
}

func (p *pubsub) dispatch(m *redis.Message) {
	var msg message
	if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.Origin == p.h.id {
		return
	}
	k := Key{Environment: msg.Env, BotID: msg.BotID}
	p.h.mu.Lock()
	w := p.h.watches[k]
	p.h.mu.Unlock()
	if w != nil {
		w.offer(loader.Outcome{Result: loader.Result{Job: msg.Job, FetchedAt: msg.FetchedAt, FromCache: true, Stale: msg.Stale}})
	}
}

// publish tells the other replicas about a job of k.
func (p *pubsub) publish(ctx context.Context, k Key, r loader.Result) {
	raw, err := json.Marshal(message{Origin: p.h.id, Env: k.Environment, BotID: k.BotID, Job: r.Job, FetchedAt: r.FetchedAt, Stale: r.Stale})
	if err != nil {
		return
	}
	if err := p.c.Publish(ctx, channel(k), raw).Err(); err != nil {
		p.h.log.Debug("publish to live channel failed", "err", err)
	}
}

// Package live keeps subscribers up to date with the publish jobs of the bots
// they watch. One poll loop (a watch) runs per bot however many subscribers
// watch it: it reads the job through the loader's Source (the same cache,
// coalescing and budget as queries) every InProgressEvery while the bot is
// publishing and every IdleEvery otherwise, and passes on only real changes
// (job, status, percentage, resource statuses). It stops when the last
// subscriber of the bot leaves.
//
// With Redis, replicas share the work by shards: an environment's bots fall
// in keyspace.Buckets buckets, and one replica leads each bucket, holding its
// lease (keyspace.LiveLease; an internal/lease.Batch: SET NX PX with the
// hub's ID, renewed by compare-and-expire, released by compare-and-delete).
// Each hub holds the leases of all the shards it has watches in with one
// pipelined round trip every LeaseTTL/3, so its lease traffic is bounded by
// the shard count, not the bots watched. A watch polls only while its shard
// is led here, and publishes the changes it sees on the shard's channel
// (keyspace.LiveChannel); watches of the other replicas relay them, and their
// hub takes the shard over when its lease expires, within about LeaseTTL of
// the leader's death.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/lease"
	"github.com/publishgate/publishgate/loader"
)

// Sentinel errors; graph maps them to BAD_USER_INPUT (the limits) and
// UPSTREAM_UNAVAILABLE (a closing hub).
var (
	// ErrTooManyRefs means a subscription names more bots than MaxRefs.
	ErrTooManyRefs = errors.New("too many bots in one subscription")
	// ErrTooManySubscriptions means a connection holds MaxPerConnection
	// subscriptions already.
	ErrTooManySubscriptions = errors.New("too many subscriptions on this connection")
	// ErrClosed means the hub is shutting down.
	ErrClosed = errors.New("live updates are shutting down")
)

// Defaults of Options.
const (
	DefaultInProgressEvery  = 2 * time.Second
	DefaultIdleEvery        = 30 * time.Second
	DefaultLeaseTTL         = 3 * time.Second
	DefaultMaxRefs          = 500
	DefaultMaxPerConnection = 20
)

// Key names a bot of an environment.
type Key struct {
	Environment string
	BotID       string
}

// Event is a bot's job (or the error reading it) sent to a subscriber.
type Event struct {
	Key     Key
	Outcome loader.Outcome
}

// Loader reads jobs; *loader.Source implements it.
type Loader interface {
	Load(ctx context.Context, keys []loader.Key) []loader.Outcome
}

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// InProgressEvery is the poll interval of a bot that is publishing
	// (the cache's inProgressTTL).
	InProgressEvery time.Duration
	// IdleEvery is the poll interval of a bot that is not (the cache's ttl).
	IdleEvery time.Duration
	// LeaseTTL is how long a replica's lease on a shard of bots lasts
	// unrenewed: about the longest a dead replica's bots go unpolled.
	LeaseTTL time.Duration
	// MaxRefs bounds the bots of one subscription.
	MaxRefs int
	// MaxPerConnection bounds the subscriptions of one connection (see
	// WithConnection).
	MaxPerConnection int
	// Redis, when set, shares the polling across replicas.
	Redis redis.UniversalClient
	// Cache, when set, is looked at before each poll: a bot someone else
	// fetched within the last half interval (environment watching, a
	// query's refresh) is not read again until an interval after that
	// fetch, so that a watched bot with subscribers is not read twice.
	Cache Reader
	// Logger receives the hub's logs.
	Logger *slog.Logger
}

// Reader reads cached entries without fetching; cache.JobCache implements it.
type Reader interface {
	GetMany(ctx context.Context, keys []cache.Key) ([]*cache.Entry, error)
}

// Hub runs the watches of one replica. Close ends every subscription.
type Hub struct {
	src  Loader
	opts Options
	log  *slog.Logger
	id   string

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	watches map[Key]*watch
	closed  bool

	ps     *pubsub // nil without Redis
	shards *shards // nil without Redis
}

// New returns a hub reading jobs from src.
func New(src Loader, opts Options) *Hub {
	if opts.InProgressEvery <= 0 {
		opts.InProgressEvery = DefaultInProgressEvery
	}
	if opts.IdleEvery <= 0 {
		opts.IdleEvery = DefaultIdleEvery
	}
	opts.IdleEvery = max(opts.IdleEvery, opts.InProgressEvery)
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.MaxRefs <= 0 {
		opts.MaxRefs = DefaultMaxRefs
	}
	if opts.MaxPerConnection <= 0 {
		opts.MaxPerConnection = DefaultMaxPerConnection
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{src: src, opts: opts, log: opts.Logger.With("component", "live"), id: lease.NewToken(), watches: map[Key]*watch{}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if opts.Redis != nil {
		h.ps = newPubSub(h)
		h.shards = newShards(h, h.ps)
	}
	return h
}

// ID identifies this replica in leases and messages.
func (h *Hub) ID() string { return h.id }

// OnClose calls f when the hub closes (at once if it has), unless the
// returned stop is called first.
func (h *Hub) OnClose(f func()) (stop func() bool) { return context.AfterFunc(h.ctx, f) }

// Close ends every subscription (their channels close), stops the watches,
// releases their leases and waits for all of it. It may be called more than
// once.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		h.cancel()
		h.wg.Wait()
		if h.shards != nil {
			h.shards.close()
		}
		if h.ps != nil {
			h.closeErr = h.ps.close()
		}
	})
	return h.closeErr
}

// Watching reports how many bots this replica watches (for tests and metrics).
func (h *Hub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watches)
}

// connKey is the context key of a connection's subscription counter.
type connKey struct{}

// WithConnection marks ctx as one connection's: Subscribe counts the
// subscriptions made with it against MaxPerConnection.
func WithConnection(ctx context.Context) context.Context {
	return context.WithValue(ctx, connKey{}, new(atomic.Int64))
}

// Subscribe watches keys until ctx ends or the hub closes, then closes the
// channel. The first event of each key is its current job; after that only
// changes are sent. A subscriber that does not keep up (its buffer full) is
// ended rather than slowing the others. convert turns events into what the
// caller sends.
func Subscribe[T any](ctx context.Context, h *Hub, keys []Key, convert func(Event) T) (<-chan T, error) {
	if len(keys) > h.opts.MaxRefs {
		return nil, fmt.Errorf("%w: %d bots, at most %d", ErrTooManyRefs, len(keys), h.opts.MaxRefs)
	}
	release := func() {}
	if n, ok := ctx.Value(connKey{}).(*atomic.Int64); ok {
		if n.Add(1) > int64(h.opts.MaxPerConnection) {
			n.Add(-1)
			return nil, fmt.Errorf("%w: at most %d", ErrTooManySubscriptions, h.opts.MaxPerConnection)
		}
		release = func() { n.Add(-1) }
	}
	uniq := make([]Key, 0, len(keys))
	seen := make(map[Key]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	s := &subscriber[T]{
		out:     make(chan T, 2*len(uniq)+32),
		convert: convert,
		last:    make(map[Key]string, len(uniq)),
		lastAt:  make(map[Key]time.Time, len(uniq)),
		slow:    make(chan struct{}),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		release()
		return nil, ErrClosed
	}
	for _, k := range uniq {
		w := h.watches[k]
		if w == nil {
			w = h.startWatch(k)
		}
		w.subs[s] = struct{}{}
	}
	h.wg.Add(1)
	h.mu.Unlock()

	go func() {
		defer h.wg.Done()
		defer release()
		lkeys := make([]loader.Key, len(uniq))
		for i, k := range uniq {
			lkeys[i] = loader.Key{Environment: k.Environment, BotID: k.BotID}
		}
		// The current jobs, from the cache when it has them.
		lctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(h.ctx, cancel)
		outs := h.src.Load(lctx, lkeys)
		stop()
		cancel()
		for i, k := range uniq {
			s.deliver(Event{Key: k, Outcome: outs[i]}, true)
		}
		select {
		case <-ctx.Done():
		case <-h.ctx.Done():
		case <-s.slow:
			h.log.Info("subscriber too slow: subscription ended")
		}
		h.leave(s, uniq)
		s.close()
	}()
	return s.out, nil
}

// leave removes s from the watches of keys, stopping those left without
// subscribers.
func (h *Hub) leave(s sink, keys []Key) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		w := h.watches[k]
		if w == nil {
			continue
		}
		delete(w.subs, s)
		if len(w.subs) == 0 {
			delete(h.watches, k)
			w.cancel()
		}
	}
}

// Observe passes on a job read outside the watches (publishBot's new job):
// local subscribers get it now, the bot's poller speeds up, and with Redis
// every replica hears of it.
func (h *Hub) Observe(k Key, o loader.Outcome) {
	if o.Err != nil {
		return
	}
	if h.ps != nil {
		h.ps.publish(h.ctx, k, o.Result)
	}
	h.mu.Lock()
	w := h.watches[k]
	h.mu.Unlock()
	if w != nil {
		w.offer(o)
	}
}

// sink is a subscriber, whatever it converts events to.
type sink interface {
	deliver(ev Event, initial bool)
}

type subscriber[T any] struct {
	out     chan T
	convert func(Event) T

	mu     sync.Mutex
	closed bool
	last   map[Key]string // fingerprint of the last event sent per key
	// lastAt is when the answer of the last event sent per key was fetched:
	// a subscriber's own initial read and the poller's read can finish in
	// either order, and an older answer must never follow a newer one.
	lastAt   map[Key]time.Time
	slow     chan struct{}
	slowOnce sync.Once
}

// deliver sends ev unless it is no change from what was last sent for its
// key. The initial event is skipped when a watch already sent a newer one.
func (s *subscriber[T]) deliver(ev Event, initial bool) {
	fp := fingerprint(ev.Outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, sent := s.last[ev.Key]
	if s.closed || (initial && sent) || (sent && prev == fp) {
		return
	}
	at := ev.Outcome.Result.FetchedAt
	if ev.Outcome.Err == nil && sent && at.Before(s.lastAt[ev.Key]) {
		return
	}
	s.last[ev.Key] = fp
	if ev.Outcome.Err == nil {
		s.lastAt[ev.Key] = at
	}
	select {
	case s.out <- s.convert(ev):
	default:
		s.slowOnce.Do(func() { close(s.slow) })
	}
}

func (s *subscriber[T]) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	close(s.out)
}

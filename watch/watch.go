// Package watch keeps every known bot of a watched environment (watchInterval
// > 0, SPEC §4) fresh in the background, so that a dashboard's query is a
// warm one and never waits for Kore.ai (refresh-ahead).
//
// One Watcher per environment reads each bot through the loader's Source
// with refresh (the same cache, coalescing and budget as queries) once per
// interval, started early by the time a read takes to reach every replica so
// that no replica ever serves an answer older than the interval (a publish
// shows within one interval), and more often when the cached answer would
// otherwise turn stale first: a job in progress (fresh for the cache's
// inProgressTTL) is read a little before that lifetime ends, and so is any
// bot when the interval is longer than its lifetime. A bot someone else fetched within the last half
// interval (a query, the live poller, another replica) is not read again
// until an interval after that fetch.
//
// With Redis exactly one replica polls an environment: the holder of its
// lease (keyspace.WatchLease, an internal/lease.Lease: SET NX PX with a
// token, renewed every LeaseTTL/3, released by compare-and-delete); another
// replica takes over within about LeaseTTL when the holder dies. After each
// batch the holder names the bots it read on keyspace.WatchReadChannel, and the
// other replicas pull those entries from Redis into their local copy (one
// MGET), so that every replica serves a change as soon as the poller saw it
// and answers a watched query from memory.
package watch

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/loader"
)

// Defaults of Options.
const (
	DefaultLeaseTTL  = 5 * time.Second
	DefaultBatchSize = 500
)

// Loader reads jobs; *loader.Source implements it.
type Loader interface {
	Load(ctx context.Context, keys []loader.Key) []loader.Outcome
}

// Reader reads cached entries without fetching; cache.JobCache implements it.
type Reader interface {
	GetMany(ctx context.Context, keys []cache.Key) ([]*cache.Entry, error)
}

// Puller copies newer shared entries into this replica's local copy;
// *cache.Tiered implements it.
type Puller interface {
	Pull(ctx context.Context, keys []cache.Key) error
}

// Options configure a Watcher.
type Options struct {
	// Environment is the watched environment's name.
	Environment string
	// Interval is the period at which each bot is read (watchInterval).
	Interval time.Duration
	// Policy is the cache's: how long an answer stays fresh.
	Policy cache.Policy
	// Bots returns the environment's known bots, read at every round
	// (catalog.Environment.Known).
	Bots func() []catalog.Bot
	// Redis elects the one polling replica; nil: this process polls.
	Redis redis.UniversalClient
	// Puller, with Redis, takes the changes the polling replica announces.
	Puller Puller
	// LeaseTTL is how long a dead poller's lease lasts (default 5s).
	LeaseTTL time.Duration
	// BatchSize is how many bots are read, stored and announced together
	// (default 500); a batch's answers reach the other replicas when it
	// ends. The gateway uses the environment's concurrency.
	BatchSize int
	// Logger receives the watcher's logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnPoll is called after every batch with the bots read from upstream
	// (or another replica's fill), the failures among them, and how long
	// after the round's start the other replicas were told (the lag).
	OnPoll func(polled, failed int, lag time.Duration)
	// OnLead is called when this replica becomes, or stops being, the
	// environment's poller.
	OnLead func(leading bool)
}

// Watcher keeps one environment's bots fresh.
type Watcher struct {
	opts   Options
	src    Loader
	reader Reader
	lease  *election
	log    *slog.Logger

	mu    sync.Mutex
	due   map[string]time.Time // bot ID -> next read
	read  map[string]time.Time // bot ID -> when this watcher's last read was fetched
	cycle chan struct{}        // closed and replaced after every round

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a watcher reading through src and checking freshness in r.
func New(src Loader, r Reader, opts Options) *Watcher {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Watcher{
		opts: opts, src: src, reader: r,
		lease: newElection(opts.Redis, opts.Environment, opts.LeaseTTL),
		log:   opts.Logger.With("component", "watch", "environment", opts.Environment),
		due:   map[string]time.Time{}, read: map[string]time.Time{},
		cycle: make(chan struct{}),
	}
}

// Start polls in the background until ctx ends or Close is called.
func (w *Watcher) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Go(func() { w.lease.run(ctx, w.opts.OnLead) })
	if w.opts.Redis != nil && w.opts.Puller != nil {
		w.wg.Go(func() { w.follow(ctx) })
	}
	if w.opts.Redis == nil && w.opts.OnLead != nil {
		w.opts.OnLead(true)
	}
	w.wg.Go(func() { w.run(ctx) })
}

// Close stops the watcher, releasing its lease, and waits for it.
func (w *Watcher) Close() error {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	return nil
}

// Leading reports whether this replica polls the environment now.
func (w *Watcher) Leading() bool { return w.lease.leading.Load() }

// Rounds returns a channel closed when the round under way (or the next
// one) has finished: tests and callers wait on it instead of sleeping.
func (w *Watcher) Rounds() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cycle
}

func (w *Watcher) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.lease.changed:
		}
		var next time.Time
		if w.lease.leading.Load() {
			next = w.Round(ctx)
		} else {
			next = w.opts.Now().Add(w.opts.LeaseTTL / 3)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(next.Sub(w.opts.Now()), 10*time.Millisecond))
	}
}

// Round reads every known bot that is due and returns when the next one
// will be. It is what the background loop runs while this replica leads.
func (w *Watcher) Round(ctx context.Context) time.Time {
	defer w.endRound()
	now := w.opts.Now()
	bots := w.opts.Bots()
	var due []string
	w.mu.Lock()
	known := make(map[string]bool, len(bots))
	for _, b := range bots {
		known[b.ID] = true
		if t, ok := w.due[b.ID]; !ok || !now.Before(t) {
			due = append(due, b.ID)
		}
	}
	for id := range w.due {
		if !known[id] {
			delete(w.due, id) // no longer known (discovery dropped it)
			delete(w.read, id)
		}
	}
	w.mu.Unlock()
	var (
		read []readBot
		lag  time.Duration
	)
	for start := 0; start < len(due) && ctx.Err() == nil; start += w.opts.BatchSize {
		r, l := w.batch(ctx, now, due[start:min(start+w.opts.BatchSize, len(due))])
		read, lag = append(read, r...), max(lag, l)
	}
	next := now.Add(w.opts.Interval)
	w.mu.Lock()
	defer w.mu.Unlock()
	// A bot's answer reaches every replica up to lag after its read began
	// (the read, the store, the announcement of its batch): its next read
	// starts that much before a period after this round's start, so that
	// the answer every replica serves is never more than a period older
	// than Kore.ai's (watchInterval bounds the staleness, not only the
	// cadence). The next round reads its bots at about the same offsets.
	for _, r := range read {
		w.due[r.id] = now.Add(r.period - min(lag, r.period/4))
	}
	for _, t := range w.due {
		if t.Before(next) {
			next = t
		}
	}
	return next
}

func (w *Watcher) endRound() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.cycle)
	w.cycle = make(chan struct{})
}

// readBot is a bot a batch read, and the period after which it is due.
type readBot struct {
	id     string
	period time.Duration
}

// batch reads the bots of ids that nobody fetched recently and announces
// them; it returns the bots read and the lag: how long after the batch
// began the other replicas had its answers. Round schedules the bots read; batch
// schedules the others: a bot someone else fetched recently a period after
// that fetch, and a failed one an interval after the round's start (the
// last good answer stays cached meanwhile).
func (w *Watcher) batch(ctx context.Context, round time.Time, ids []string) ([]readBot, time.Duration) {
	env := w.opts.Environment
	began := w.opts.Now()
	ckeys := make([]cache.Key, len(ids))
	for i, id := range ids {
		ckeys[i] = cache.Key{Environment: env, BotID: id}
	}
	entries, err := w.reader.GetMany(ctx, ckeys)
	if err != nil {
		entries = nil // read them all
	}
	now := w.opts.Now()
	var keys []loader.Key
	w.mu.Lock()
	for i, id := range ids {
		var e *cache.Entry
		if i < len(entries) {
			e = entries[i]
		}
		if e != nil && e.FetchedAt.After(w.read[id]) {
			// Fetched since this watcher's last read, by someone else (a
			// query, the live poller, the previous poller): read it again
			// a period after that fetch if it is less than half one old.
			if p := w.period(*e); now.Before(e.FetchedAt.Add(p / 2)) {
				w.due[id] = e.FetchedAt.Add(p)
				continue
			}
		}
		keys = append(keys, loader.Key{Environment: env, BotID: id, Refresh: true})
	}
	w.mu.Unlock()
	if len(keys) == 0 {
		return nil, 0
	}
	outs := w.src.Load(ctx, keys)
	if ctx.Err() != nil {
		return nil, 0
	}
	var (
		read      []readBot
		announced []string
		failed    int
	)
	w.mu.Lock()
	for i, o := range outs {
		id := keys[i].BotID
		if o.Err != nil {
			failed++
			w.due[id] = round.Add(w.opts.Interval)
			continue
		}
		read = append(read, readBot{id: id, period: w.period(cache.Entry{Job: o.Result.Job, FetchedAt: o.Result.FetchedAt})})
		announced = append(announced, id)
		w.read[id] = o.Result.FetchedAt
	}
	w.mu.Unlock()
	w.announce(ctx, announced)
	// The followers then pull the entries with one MGET like the batch's
	// own first read: count it too.
	lag := w.opts.Now().Sub(began) + now.Sub(began)
	if failed > 0 {
		w.log.DebugContext(ctx, "some bots could not be refreshed", "failed", failed, "of", len(keys))
	}
	if w.opts.OnPoll != nil {
		w.opts.OnPoll(len(keys), failed, lag)
	}
	return read, lag
}

// period is how long after e was fetched its bot is read again: the
// interval, but a little before e turns stale if that comes first (a job in
// progress, or an interval longer than the cache's lifetimes), so that a
// watched query always finds a fresh answer.
func (w *Watcher) period(e cache.Entry) time.Duration {
	fresh := w.opts.Policy.FreshFor(e)
	if fresh <= 0 {
		return w.opts.Interval
	}
	lead := min(fresh/4, time.Second)
	return max(min(w.opts.Interval, fresh-lead), 100*time.Millisecond)
}

// announce names the bots just read, for the other replicas: they copy
// those entries into their local copy, which then never ages past its
// freshness while the environment is watched (a warm query needs no Redis
// round trip, and a change shows on every replica at once).
func (w *Watcher) announce(ctx context.Context, ids []string) {
	if w.opts.Redis == nil || len(ids) == 0 {
		return
	}
	raw, err := json.Marshal(ids)
	if err != nil {
		return
	}
	if err := w.opts.Redis.Publish(ctx, keyspace.WatchReadChannel(w.opts.Environment), raw).Err(); err != nil {
		w.log.DebugContext(ctx, "announcing changes failed", "err", err)
	}
}

// follow pulls what the polling replica announces into the local copy,
// while this replica does not poll.
func (w *Watcher) follow(ctx context.Context) {
	// The subscription's connection is closed by Close below, not by the
	// context: go-redis would drop it mid-read.
	ps := w.opts.Redis.Subscribe(context.WithoutCancel(ctx), keyspace.WatchReadChannel(w.opts.Environment))
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if w.lease.leading.Load() {
				continue // our own announcement
			}
			var ids []string
			if json.Unmarshal([]byte(m.Payload), &ids) != nil {
				continue
			}
			keys := make([]cache.Key, len(ids))
			for i, id := range ids {
				keys[i] = cache.Key{Environment: w.opts.Environment, BotID: id}
			}
			if err := w.opts.Puller.Pull(ctx, keys); err != nil {
				w.log.DebugContext(ctx, "pulling announced changes failed", "err", err)
			}
		}
	}
}

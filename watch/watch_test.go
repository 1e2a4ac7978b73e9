package watch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/watch"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fetcher answers every bot with a successful job, except the ones marked
// publishing, and counts the calls per bot.
type fetcher struct {
	mu         sync.Mutex
	calls      map[string]int
	publishing map[string]bool
	// onCall, if set, runs at every call (a slow upstream moves the clock)
	onCall func()
}

func (f *fetcher) PublishStatus(_ context.Context, botID string) (*upstream.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onCall != nil {
		f.onCall()
	}
	f.calls[botID]++
	j := &upstream.Job{ID: "ds-1", StreamID: botID, Status: upstream.StateSuccessful, RawStatus: "successful", PercentageComplete: 100}
	if f.publishing[botID] {
		j.Status, j.RawStatus, j.PercentageComplete = upstream.StateInProgress, "inprogress", f.calls[botID]
	}
	return j, nil
}

// take returns and zeroes the calls.
func (f *fetcher) take() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = map[string]int{}
	return out
}

var policy = cache.Policy{TTL: 30 * time.Second, InProgressTTL: 2 * time.Second, NotFoundTTL: 30 * time.Second, StaleFor: time.Minute}

type rig struct {
	clock *clock
	f     *fetcher
	store *cache.Memory
	src   *loader.Source
	bots  []catalog.Bot
}

func newRig(t *testing.T, n int) *rig {
	t.Helper()
	r := &rig{clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, f: &fetcher{calls: map[string]int{}, publishing: map[string]bool{}}}
	r.store = cache.NewMemory(policy, cache.WithClock(r.clock.Now))
	r.src = loader.NewSource(r.store, policy, map[string]loader.Fetcher{"prod": r.f}, loader.WithClock(r.clock.Now))
	t.Cleanup(r.src.Close)
	for i := range n {
		r.bots = append(r.bots, catalog.Bot{ID: testkit.BotID(fmt.Sprintf("w-%d", i)), Environment: "prod"})
	}
	return r
}

func (r *rig) watcher(interval time.Duration) *watch.Watcher {
	return watch.New(r.src, r.store, watch.Options{
		Environment: "prod", Interval: interval, Policy: policy, Now: r.clock.Now,
		Bots: func() []catalog.Bot { return r.bots },
	})
}

func TestRoundsReadEachBotOncePerInterval(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		interval   time.Duration
		publishing bool
		// after the first round, the clock moves by step; wantCalls is
		// each bot's reads in the round that follows
		step      time.Duration
		wantCalls int
		wantNext  time.Duration
	}{
		{name: "nothing is due within the interval", interval: 2 * time.Second, step: 1999 * time.Millisecond, wantCalls: 0, wantNext: time.Millisecond},
		{name: "everything is due after the interval", interval: 2 * time.Second, step: 2 * time.Second, wantCalls: 1, wantNext: 2 * time.Second},
		{name: "a publishing bot is read before its answer turns stale", interval: 2 * time.Second, publishing: true, step: 1500 * time.Millisecond, wantCalls: 1, wantNext: 1500 * time.Millisecond},
		{name: "an interval past the TTL is shortened to stay fresh", interval: time.Minute, step: 29 * time.Second, wantCalls: 1, wantNext: 29 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 20)
			for _, b := range r.bots {
				r.f.publishing[b.ID] = tt.publishing
			}
			w := r.watcher(tt.interval)
			w.Round(ctx)
			if first := r.f.take(); len(first) != len(r.bots) {
				t.Fatalf("first round read %d bots, want %d", len(first), len(r.bots))
			}
			r.clock.Advance(tt.step)
			next := w.Round(ctx)
			calls := r.f.take()
			for _, b := range r.bots {
				if calls[b.ID] != tt.wantCalls {
					t.Fatalf("bot read %d times in the second round, want %d", calls[b.ID], tt.wantCalls)
				}
			}
			if got := next.Sub(r.clock.Now()); got != tt.wantNext {
				t.Fatalf("next round in %v, want %v", got, tt.wantNext)
			}
		})
	}
}

// TestASlowRoundStartsTheNextEarly: when a batch's answers reach the other
// replicas some time after its reads began (the lag), every bot's next read
// starts that much before an interval has passed, so no answer served is
// ever older than the interval. The lag is a batch's, not the round's (a
// round of many batches is no later for it), and never takes more than a
// quarter of the interval.
func TestASlowRoundStartsTheNextEarly(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		batch    int           // bots per batch (0: all 20 in one)
		once     time.Duration // the clock moves this much at the round's first read
		perRead  time.Duration // and this much at every read
		wantNext time.Duration // from the round's start
	}{
		{name: "an instant round", wantNext: 2 * time.Second},
		{name: "a 300ms round", once: 300 * time.Millisecond, wantNext: 1700 * time.Millisecond},
		{name: "four batches of 25ms: the lag is a batch's", batch: 5, perRead: 5 * time.Millisecond, wantNext: 2*time.Second - 25*time.Millisecond},
		{name: "a round longer than a quarter interval", once: time.Second, wantNext: 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 20)
			var once sync.Once
			r.f.onCall = func() {
				once.Do(func() { r.clock.Advance(tt.once) })
				r.clock.Advance(tt.perRead)
			}
			w := watch.New(r.src, r.store, watch.Options{
				Environment: "prod", Interval: 2 * time.Second, Policy: policy, Now: r.clock.Now, BatchSize: tt.batch,
				Bots: func() []catalog.Bot { return r.bots },
			})
			start := r.clock.Now()
			if got := w.Round(ctx).Sub(start); got != tt.wantNext {
				t.Fatalf("next round %v after the start, want %v", got, tt.wantNext)
			}
			if n := len(r.f.take()); n != len(r.bots) {
				t.Fatalf("the round read %d bots, want %d", n, len(r.bots))
			}
			// Each bot is due again then, and not before.
			r.f.onCall = nil
			r.clock.Advance(start.Add(tt.wantNext).Sub(r.clock.Now()) - time.Millisecond)
			w.Round(ctx)
			if n := len(r.f.take()); n != 0 {
				t.Fatalf("%d bots read before they were due", n)
			}
			r.clock.Advance(time.Millisecond)
			w.Round(ctx)
			if n := len(r.f.take()); n != len(r.bots) {
				t.Fatalf("%d bots read when due, want %d", n, len(r.bots))
			}
		})
	}
}

func TestFirstRoundReadsEveryBotOnceAndWarmsTheCache(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 200)
	r.watcher(2 * time.Second).Round(ctx)
	calls := r.f.take()
	if len(calls) != 200 {
		t.Fatalf("%d bots read, want 200", len(calls))
	}
	keys := make([]loader.Key, len(r.bots))
	for i, b := range r.bots {
		keys[i] = loader.Key{Environment: "prod", BotID: b.ID}
	}
	r.clock.Advance(1999 * time.Millisecond)
	for _, o := range r.src.Load(ctx, keys) {
		if o.Err != nil || !o.Result.FromCache || o.Result.Stale {
			t.Fatalf("a watched query was not warm: %+v", o)
		}
	}
	if n := len(r.f.take()); n != 0 {
		t.Fatalf("a warm query read %d bots upstream", n)
	}
}

func TestABotFetchedByAQuerySinceIsNotReadAgain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	w := r.watcher(2 * time.Second)
	w.Round(ctx)
	r.f.take()
	r.clock.Advance(1500 * time.Millisecond)
	// A query refreshes bot 0 three quarters of the way.
	r.src.Load(ctx, []loader.Key{{Environment: "prod", BotID: r.bots[0].ID, Refresh: true}})
	r.f.take()
	r.clock.Advance(500 * time.Millisecond)
	next := w.Round(ctx)
	calls := r.f.take()
	if calls[r.bots[0].ID] != 0 || calls[r.bots[1].ID] != 1 {
		t.Fatalf("calls %v: want bot 1 read and bot 0 (fetched half a second ago) not", calls)
	}
	if got := next.Sub(r.clock.Now()); got != 1500*time.Millisecond {
		t.Fatalf("next round in %v, want 1.5s (an interval after the query's fetch)", got)
	}
}

func TestOneReplicaLeadsAndAnotherTakesOver(t *testing.T) {
	rdb := testkit.MustRedis(t)
	r := newRig(t, 3)
	newClient := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: rdb.Addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var ws []*watch.Watcher
	for range 3 {
		w := watch.New(r.src, r.store, watch.Options{
			Environment: "prod", Interval: time.Hour, Policy: policy, LeaseTTL: 300 * time.Millisecond,
			Bots: func() []catalog.Bot { return r.bots }, Redis: newClient(),
		})
		w.Start(context.Background())
		ws = append(ws, w)
	}
	leaders := func() (n int, first int) {
		first = -1
		for i, w := range ws {
			if w.Leading() {
				n++
				if first < 0 {
					first = i
				}
			}
		}
		return n, first
	}
	testkit.Eventually(t, 5*time.Second, "a replica leads", func() bool { n, _ := leaders(); return n == 1 })
	_, lead := leaders()
	if err := ws[lead].Close(); err != nil {
		t.Fatal(err)
	}
	ws = append(ws[:lead], ws[lead+1:]...)
	testkit.Eventually(t, 5*time.Second, "another replica takes over", func() bool { n, _ := leaders(); return n == 1 })
	for _, w := range ws {
		_ = w.Close()
	}
	if n, _ := leaders(); n != 0 {
		t.Fatalf("%d replicas lead after Close", n)
	}
	if v, err := newClient().Exists(context.Background(), keyspace.WatchLease("prod")).Result(); err != nil || v != 0 {
		t.Fatalf("lease still held after every watcher closed (exists=%d, err %v)", v, err)
	}
}

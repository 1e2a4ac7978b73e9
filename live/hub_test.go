package live_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// progress is a Loader whose every read of a bot moves its job one percent,
// counting reads per bot.
type progress struct {
	mu    sync.Mutex
	reads map[string]int
}

func (p *progress) Load(_ context.Context, keys []loader.Key) []loader.Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]loader.Outcome, len(keys))
	for i, k := range keys {
		p.reads[k.BotID]++
		out[i].Result = loader.Result{FetchedAt: time.Now(), Job: &upstream.Job{
			ID: "ds-1", Status: upstream.StateInProgress, RawStatus: "inprogress", PercentageComplete: p.reads[k.BotID] % 100,
		}}
	}
	return out
}

func (p *progress) count(bot string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads[bot]
}

// TestOnePollerPerBotInProcess: however many subscribers, one read per
// interval per bot; the poller stops with the last subscriber.
func TestOnePollerPerBotInProcess(t *testing.T) {
	for _, subscribers := range []int{1, 25} {
		t.Run(fmt.Sprintf("%d subscribers", subscribers), func(t *testing.T) {
			src := &progress{reads: map[string]int{}}
			h := live.New(src, live.Options{InProgressEvery: 20 * time.Millisecond})
			defer h.Close()
			k := live.Key{Environment: "e", BotID: "b"}
			ctx, cancel := context.WithCancel(context.Background())
			var chans []<-chan live.Event
			for range subscribers {
				ch, err := live.Subscribe(ctx, h, []live.Key{k}, func(e live.Event) live.Event { return e })
				if err != nil {
					t.Fatal(err)
				}
				chans = append(chans, ch)
			}
			// Every subscriber sees the same rising sequence.
			for _, ch := range chans {
				last := -1
				for range 5 {
					ev := <-ch
					if p := ev.Outcome.Result.Job.PercentageComplete; p <= last {
						t.Fatalf("percentage %d after %d", p, last)
					} else {
						last = p
					}
				}
			}
			// subscribers+1 initial reads at most, then one poll per interval.
			if n := src.count("b"); n > subscribers+1+20 {
				t.Errorf("%d reads", n)
			}
			cancel()
			testkit.Eventually(t, 5*time.Second, "the poller stops", func() bool { return h.Watching() == 0 })
		})
	}
}

// TestLeaseExpiresWhenTheHolderVanishes: a replica loses Redis without
// releasing its lease (a crash, a partition); another takes the bot over
// once the lease expires and its subscribers keep moving.
func TestLeaseExpiresWhenTheHolderVanishes(t *testing.T) {
	const ttl = 600 * time.Millisecond
	r := testkit.MustRedis(t)
	ca, cb := r.Client(t), r.Client(t)
	src := &progress{reads: map[string]int{}}
	a := live.New(src, live.Options{InProgressEvery: 50 * time.Millisecond, LeaseTTL: ttl, Redis: ca})
	defer a.Close()
	k := live.Key{Environment: "e", BotID: "b"}
	ctx := t.Context()
	id := func(e live.Event) live.Event { return e }
	if _, err := live.Subscribe(ctx, a, []live.Key{k}, id); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "a holds the lease", func() bool {
		v, _ := cb.Get(ctx, live.LeaseKey(k)).Result()
		return v == a.ID()
	})
	b := live.New(src, live.Options{InProgressEvery: 50 * time.Millisecond, LeaseTTL: ttl, Redis: cb})
	defer b.Close()
	evs, err := live.Subscribe(ctx, b, []live.Key{k}, id)
	if err != nil {
		t.Fatal(err)
	}
	<-evs          // the initial event
	_ = ca.Close() // a can no longer renew, nor release
	at := time.Now()
	testkit.Eventually(t, 3*ttl, "b takes the lease over", func() bool {
		v, err := cb.Get(ctx, live.LeaseKey(k)).Result()
		return err == nil && v == b.ID()
	})
	before := time.Now()
	for ev := range evs {
		if ev.Outcome.Result.FetchedAt.After(before) {
			break
		}
	}
	t.Logf("b polls %v after a vanished (lease TTL %v)", time.Since(at).Round(time.Millisecond), ttl)
}

// fetcher answers every bot with a successful job, counting the calls.
type fetcher struct {
	mu    sync.Mutex
	calls int
}

func (f *fetcher) PublishStatus(_ context.Context, botID string) (*upstream.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return &upstream.Job{ID: "ds-1", StreamID: botID, Status: upstream.StateSuccessful, RawStatus: "successful", PercentageComplete: 100}, nil
}

func (f *fetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestPollSkipsABotSomeoneElseJustRead: while someone else (the
// environment's watcher, a query's refresh) reads a subscribed bot more
// often than its live poller would, the poller reads it no more: the bot
// costs Kore.ai the other reader's requests and the subscription's first
// (and at most one more: a read the other reader's first refresh may not
// join, having begun before it). Without the cache to look at, the poller
// adds its own, one every 600 ms.
func TestPollSkipsABotSomeoneElseJustRead(t *testing.T) {
	policy := cache.Policy{TTL: time.Minute, InProgressTTL: time.Minute, NotFoundTTL: time.Minute, StaleFor: time.Minute}
	for _, tt := range []struct {
		name      string
		withCache bool
	}{{"with the cache", true}, {"without it", false}} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fetcher{}
			store := cache.NewMemory(policy)
			src := loader.NewSource(store, policy, map[string]loader.Fetcher{"e": f})
			defer src.Close()
			opts := live.Options{IdleEvery: 600 * time.Millisecond, InProgressEvery: 600 * time.Millisecond}
			if tt.withCache {
				opts.Cache = store
			}
			h := live.New(src, opts)
			defer h.Close()
			k := live.Key{Environment: "e", BotID: "b"}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := live.Subscribe(ctx, h, []live.Key{k}, func(e live.Event) live.Event { return e })
			if err != nil {
				t.Fatal(err)
			}
			<-ch // the first answer
			first := f.count()
			// The other reader: a refresh every 50 ms for 3 s (the pace is
			// the load, not a synchronisation).
			other := 0
			tick := time.NewTicker(50 * time.Millisecond)
			for range 60 {
				<-tick.C
				if o := src.Load(ctx, []loader.Key{{Environment: "e", BotID: "b", Refresh: true}})[0]; o.Err != nil {
					t.Fatal(o.Err)
				}
				other++
			}
			tick.Stop()
			extra := f.count() - first - other
			t.Logf("%d reads by the other reader, %d besides them and the first", other, extra)
			if tt.withCache && extra > 1 {
				t.Fatalf("the poller read the bot %d times while someone else read it every 50 ms", extra)
			}
			if !tt.withCache && extra < 3 {
				t.Fatalf("without the cache the poller read the bot only %d times in 3 s at a 600 ms interval: the test measures nothing", extra)
			}
		})
	}
}

package loader

import (
	"context"
	"sync"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// firstFlush is when a batch whose reads are not all back yet writes back
// what it has: the replicas waiting for its bots must not wait for its
// slowest host. It is the waiters' check interval
// (RedisCoordinator.CheckInterval): they claim again then anyway, and a
// batch of a thousand bots, whose reads take a few hundred milliseconds on
// a small machine, is written back in one round trip. Later flushes come at
// doubling intervals, so a batch of any length makes a handful of
// write-back round trips.
const firstFlush = 250 * time.Millisecond

// fetchCoordinated reads the bots of fs with the other replicas: one claim
// for the whole batch (cache.Coordinator) says, per bot, that a fresh entry
// is there, that this replica fetches it, that another replica does (then
// this one waits for its notice), or that the budget refuses it. Waiting
// bots are claimed again every check interval, so a holder that died is
// replaced once its lock expires.
func (s *Source) fetchCoordinated(ctx context.Context, fs []*flight) {
	keys := make([]cache.Key, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	w := s.coord.Watch(keys)
	defer w.End()

	var fetching sync.WaitGroup
	defer fetching.Wait()
	pending := fs
	for len(pending) > 0 {
		wants := make([]cache.Want, len(pending))
		for i, f := range pending {
			wants[i] = cache.Want{Key: f.key, Since: f.since}
		}
		claims, err := s.coord.Claim(ctx, wants)
		if err != nil {
			s.log.DebugContext(ctx, "fill coordination unavailable; fetching without it", "err", err)
			s.fetchAlone(ctx, pending)
			return
		}
		var (
			mine []claimed
			held = map[cache.Key]*flight{}
		)
		for i, c := range claims {
			f := pending[i]
			switch c.State {
			case cache.Fresh:
				f.resolve(fetchResult{job: c.Entry.Job, at: c.Entry.FetchedAt, shared: true})
			case cache.Refused:
				s.refused(f.key.Environment)
				f.resolve(fetchResult{err: c.Err})
			case cache.Held:
				held[f.key] = f
			default:
				mine = append(mine, claimed{f, c})
			}
		}
		if len(mine) > 0 {
			fetching.Add(1)
			go func() {
				defer fetching.Done()
				s.fetchClaimed(ctx, mine)
			}()
		}
		if len(held) == 0 {
			return
		}
		pending = s.awaitHolders(ctx, w, held)
	}
}

// awaitHolders waits for the notices of held keys until every one is
// answered or the check interval passes, and returns the flights to claim
// again. When ctx ends, every flight left gets a timeout.
func (s *Source) awaitHolders(ctx context.Context, w *cache.Watch, held map[cache.Key]*flight) []*flight {
	t := time.NewTimer(s.check)
	defer t.Stop()
	var again []*flight
	for len(held) > 0 {
		select {
		case n := <-w.C():
			f, ok := held[n.Key]
			if !ok {
				continue
			}
			delete(held, n.Key)
			switch {
			case n.Failure != "":
				f.resolve(fetchResult{err: decodeFailure(n.Failure)})
			case n.Entry != nil:
				f.resolve(fetchResult{job: n.Entry.Job, at: n.Entry.FetchedAt, shared: true})
			default:
				again = append(again, f) // unreadable: ask Redis
			}
		case <-t.C:
			for _, f := range held {
				again = append(again, f)
			}
			return again
		case <-ctx.Done():
			for _, f := range held {
				f.resolve(fetchResult{err: &upstream.Error{Kind: upstream.ErrTimeout, Err: context.Cause(ctx)}})
			}
			return nil
		}
	}
	return again
}

// claimed is a flight this replica holds the fill lock of.
type claimed struct {
	f *flight
	c cache.Claim
}

// fetchClaimed reads the claimed bots and hands them to the coordinator,
// which writes them to Redis, releases the locks and tells the waiting
// replicas: when every read is back, or earlier for those back by
// firstFlush, then at doubling intervals. A flight is answered once its
// bot is written: whoever it answers may tell other replicas to look (the
// watcher does), and they must find it.
func (s *Source) fetchClaimed(ctx context.Context, cs []claimed) {
	type read struct {
		f    *flight
		r    fetchResult
		fill cache.Fill
	}
	reads := make(chan read, len(cs))
	go func() {
		fs := make([]*flight, len(cs))
		byFlight := make(map[*flight]cache.Claim, len(cs))
		for i, c := range cs {
			fs[i] = c.f
			byFlight[c.f] = c.c
		}
		s.fetchEach(ctx, fs, func(ctx context.Context, f *flight) {
			r, backoff := s.read(ctx, f.key)
			fill := cache.Fill{Key: f.key, Claim: byFlight[f], Backoff: backoff}
			if r.err != nil {
				fill.Failure = encodeFailure(r.err)
			} else {
				e := cache.Entry{Job: r.job, FetchedAt: r.at}
				fill.Entry = &e
				s.local(ctx, f.key, e)
				s.stored(ctx, f.key, e)
			}
			reads <- read{f, r, fill}
		})
		close(reads)
	}()

	var batch []read
	flush := func() {
		if len(batch) == 0 {
			return
		}
		fills := make([]cache.Fill, len(batch))
		for i, r := range batch {
			fills[i] = r.fill
		}
		if err := s.coord.Finish(ctx, fills); err != nil {
			s.cacheFailed(ctx, err)
		}
		for _, r := range batch {
			r.f.resolve(r.r)
		}
		batch = batch[:0]
	}
	interval := firstFlush
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case r, ok := <-reads:
			if !ok {
				flush()
				return
			}
			batch = append(batch, r)
		case <-t.C:
			flush()
			interval *= 2
			t.Reset(interval)
		}
	}
}

// local copies an entry this replica fetched into its in-process cache at
// once; the coordinator writes it to Redis with the rest of the batch.
func (s *Source) local(ctx context.Context, k cache.Key, e cache.Entry) {
	if l, ok := s.cache.(localWriter); ok {
		_ = l.SetLocal(ctx, []cache.Item{{Key: k, Entry: e}})
	}
}

// localWriter is a cache with an in-process copy (cache.Tiered).
type localWriter interface {
	SetLocal(ctx context.Context, items []cache.Item) error
}

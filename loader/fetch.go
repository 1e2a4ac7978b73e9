package loader

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// fetchResult is what fetching one key gave.
type fetchResult struct {
	job    *upstream.Job
	at     time.Time
	err    error
	shared bool // another replica fetched it
}

// flight is one upstream read of a bot that this process's concurrent
// batches share: at most one per bot at a time. It is a batch-wide
// singleflight: golang.org/x/sync/singleflight runs one function per key,
// where a batch must claim all its keys in one step.
type flight struct {
	key     cache.Key
	since   time.Time // an entry fetched after this answers it
	started time.Time
	done    chan struct{}
	res     fetchResult
}

func (f *flight) resolve(r fetchResult) {
	f.res = r
	close(f.done)
}

// fetchAll fetches every key: each bot is read at most once at a time in
// this process (a batch joins the read another batch has in flight) and,
// with a coordinator, across replicas. A refresh does not join a read that
// began before it was asked for (since(k), the refresh's time): it must see
// Kore.ai as it is after it was asked (a publish just started, say), so it
// waits for that read to end and asks again. One environment's failures
// never affect another's.
func (s *Source) fetchAll(ctx context.Context, keys []Key, since func(Key) time.Time) map[Key]fetchResult {
	results := make(map[Key]fetchResult, len(keys))
	pending := keys
	for len(pending) > 0 {
		var (
			owned []*flight
			wait  = make(map[Key]*flight, len(pending))
			again []Key
		)
		s.mu.Lock()
		for _, k := range pending {
			ck := k.cacheKey()
			if f, ok := s.flights[ck]; ok {
				wait[k] = f
				if k.Refresh && f.started.Before(since(k)) {
					again = append(again, k)
				}
				continue
			}
			f := &flight{key: ck, since: since(k), started: s.now(), done: make(chan struct{})}
			s.flights[ck] = f
			owned = append(owned, f)
			wait[k] = f
		}
		s.mu.Unlock()
		if len(owned) > 0 {
			s.startBatch(ctx, owned)
		}
		if s.testHookWaiting != nil {
			s.testHookWaiting()
		}
		for k, f := range wait {
			select {
			case <-f.done:
				results[k] = f.res
			case <-ctx.Done():
				results[k] = fetchResult{err: &upstream.Error{Kind: upstream.ErrTimeout, Err: context.Cause(ctx)}}
			}
		}
		if ctx.Err() != nil {
			break
		}
		pending = again
	}
	return results
}

// startBatch reads the bots of owned in the background. The reads must not
// die with the first caller's request, only with the deadline it would have
// had: other requests may have joined them.
func (s *Source) startBatch(ctx context.Context, owned []*flight) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if dl, ok := ctx.Deadline(); ok {
		bctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		defer cancel()
		defer s.land(owned)
		if s.coord == nil {
			s.fetchAlone(bctx, owned)
			return
		}
		s.fetchCoordinated(bctx, owned)
	}()
}

// land removes the flights from the in-process table, resolving any that
// is still open (a panic, a bug) with an error rather than leaving its
// waiters hanging.
func (s *Source) land(owned []*flight) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range owned {
		if s.flights[f.key] == f {
			delete(s.flights, f.key)
		}
		select {
		case <-f.done:
		default:
			f.resolve(fetchResult{err: &upstream.Error{Kind: upstream.ErrUnavailable, Message: "the read was abandoned"}})
		}
	}
}

// fetchAlone reads each bot itself, within this process's budget: without
// Redis, or when Redis could not coordinate the batch.
func (s *Source) fetchAlone(ctx context.Context, fs []*flight) {
	s.fetchEach(ctx, fs, func(ctx context.Context, f *flight) {
		f.resolve(s.readAlone(ctx, f))
	})
}

// readAlone reads one bot within this process's budget and caches it.
func (s *Source) readAlone(ctx context.Context, f *flight) fetchResult {
	if s.budget != nil {
		if err := s.budget.Allow(ctx, f.key.Environment, f.key.BotID); err != nil {
			return fetchResult{err: err}
		}
	}
	r, backoff := s.read(ctx, f.key)
	if backoff > 0 && s.budget != nil {
		s.budget.Backoff(ctx, f.key.Environment, f.key.BotID, backoff)
	}
	if r.err == nil {
		e := cache.Entry{Job: r.job, FetchedAt: r.at}
		if err := s.cache.SetMany(ctx, []cache.Item{{Key: f.key, Entry: e}}); err != nil {
			s.cacheFailed(ctx, err)
		}
		s.stored(ctx, f.key, e)
	}
	return r
}

// fetchEach runs read for every flight, each environment with at most its
// concurrency in flight.
func (s *Source) fetchEach(ctx context.Context, fs []*flight, read func(context.Context, *flight)) {
	var wg sync.WaitGroup
	sems := map[string]chan struct{}{}
	for _, f := range fs {
		sem, ok := sems[f.key.Environment]
		if !ok {
			sem = make(chan struct{}, s.concurrency(f.key.Environment))
			sems[f.key.Environment] = sem
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			read(ctx, f)
		}()
	}
	wg.Wait()
}

// concurrency is how many reads of env may be in flight.
func (s *Source) concurrency(env string) int {
	if cl, ok := s.fetchers[env].(concurrencyLimiter); ok && cl.Concurrency() > 0 {
		return cl.Concurrency()
	}
	return 32
}

// read asks the upstream for one bot, every retry of the client spending
// the budget like the first try (the first was spent by the caller). It
// returns how long to back the bot off when Kore.ai answered 429: its
// Retry-After, or budget.DefaultBackoff when it sent none.
func (s *Source) read(ctx context.Context, k cache.Key) (fetchResult, time.Duration) {
	if s.budget != nil {
		ctx = upstream.WithRetryGate(ctx, func(ctx context.Context) error {
			return s.budget.Allow(ctx, k.Environment, k.BotID)
		})
	}
	job, err := s.fetchers[k.Environment].PublishStatus(ctx, k.BotID)
	if errors.Is(err, upstream.ErrNeverPublished) {
		job, err = nil, nil
	}
	if err != nil {
		var ue *upstream.Error
		if errors.As(err, &ue) && ue.StatusCode == 429 {
			if ue.RetryAfter <= 0 { // no Retry-After: Kore.ai's own default
				return fetchResult{err: err}, budget.DefaultBackoff
			}
			return fetchResult{err: err}, ue.RetryAfter
		}
		return fetchResult{err: err}, 0
	}
	return fetchResult{job: job, at: s.now()}, 0
}

func (s *Source) cacheFailed(ctx context.Context, err error) {
	s.log.WarnContext(ctx, "cache write failed", "err", err)
	if s.hooks.CacheErr != nil {
		s.hooks.CacheErr(err)
	}
}

func (s *Source) stored(ctx context.Context, k cache.Key, e cache.Entry) {
	if s.hooks.Stored != nil {
		s.hooks.Stored(ctx, k, e)
	}
}

func (s *Source) refused(env string) {
	if s.hooks.BudgetRefused != nil {
		s.hooks.BudgetRefused(env)
	}
}

// failureKinds names the upstream error kinds a replica can report to the
// replicas waiting on its fetch.
var failureKinds = map[string]error{
	"unavailable":  upstream.ErrUnavailable,
	"timeout":      upstream.ErrTimeout,
	"rate_limited": upstream.ErrRateLimited,
	"unauthorized": upstream.ErrUnauthorized,
	"not_found":    upstream.ErrBotNotFound,
	"bad_response": upstream.ErrBadResponse,
}

func encodeFailure(err error) string {
	for name, kind := range failureKinds {
		if errors.Is(err, kind) {
			return name
		}
	}
	return "unavailable"
}

func decodeFailure(name string) error {
	kind, ok := failureKinds[name]
	if !ok {
		kind = upstream.ErrUnavailable
	}
	return &upstream.Error{Kind: kind, Message: "reported by the replica that fetched it"}
}

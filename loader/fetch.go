package loader

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// fetchResult is what fetching one key gave.
type fetchResult struct {
	job     *upstream.Job
	at      time.Time
	err     error
	shared  bool      // another replica fetched it
	started time.Time // when the call began (the one this caller may have joined)
}

// fetchAll fetches every key, each environment with at most its concurrency
// of goroutines, environments in parallel. One environment's failures never
// affect another's.
func (s *Source) fetchAll(ctx context.Context, keys []Key, since func(Key) time.Time) map[Key]fetchResult {
	byEnv := map[string][]Key{}
	for _, k := range keys {
		byEnv[k.Environment] = append(byEnv[k.Environment], k)
	}
	var (
		mu      sync.Mutex
		results = make(map[Key]fetchResult, len(keys))
		wg      sync.WaitGroup
	)
	for env, ks := range byEnv {
		f := s.fetchers[env]
		limit := 32
		if cl, ok := f.(concurrencyLimiter); ok && cl.Concurrency() > 0 {
			limit = cl.Concurrency()
		}
		sem := make(chan struct{}, limit)
		for _, k := range ks {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var notBefore time.Time
				if k.Refresh {
					notBefore = since(k) // when the refresh was asked for
				}
				r := s.fetchOne(ctx, f, k.cacheKey(), since(k), notBefore)
				mu.Lock()
				results[k] = r
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return results
}

// fetchOne makes at most one upstream call per bot at a time in this process
// (concurrent requests share it) and, with a filler, across replicas. A
// call that began before notBefore (a refresh's request time; zero: any) is
// not an answer: a refresh must see Kore.ai as it is after it was asked for
// (a publish just started, say), so it waits for such a call to end and
// asks again.
func (s *Source) fetchOne(ctx context.Context, f Fetcher, k cache.Key, since, notBefore time.Time) fetchResult {
	sfKey := k.Environment + "\x00" + k.BotID
	for {
		ch := s.group.DoChan(sfKey, func() (any, error) {
			started := s.now()
			// The shared call must not die with the first caller's request,
			// only with the deadline it would have had.
			fctx := context.WithoutCancel(ctx)
			if dl, ok := ctx.Deadline(); ok {
				var cancel context.CancelFunc
				fctx, cancel = context.WithDeadline(fctx, dl)
				defer cancel()
			}
			r := s.fill(fctx, f, k, since)
			r.started = started
			return r, nil
		})
		if s.testHookWaiting != nil {
			s.testHookWaiting()
		}
		select {
		case r := <-ch:
			res := r.Val.(fetchResult)
			if res.started.Before(notBefore) {
				continue // joined a call from before this refresh
			}
			return res
		case <-ctx.Done():
			return fetchResult{err: &upstream.Error{Kind: upstream.ErrTimeout, Err: context.Cause(ctx)}}
		}
	}
}

// fill gets k from the upstream, or from the replica already fetching it.
func (s *Source) fill(ctx context.Context, f Fetcher, k cache.Key, since time.Time) (r fetchResult) {
	if s.filler != nil {
		done, fresh, acquired, err := s.filler.Acquire(ctx, k, since)
		switch {
		case fresh != nil:
			return fetchResult{job: fresh.Job, at: fresh.FetchedAt, shared: true}
		case err != nil:
			s.log.DebugContext(ctx, "fill lock unavailable; fetching without coordination", "err", err)
		case !acquired:
			e, err := s.filler.Await(ctx, k, since)
			var ff *cache.ErrFillFailed
			switch {
			case e != nil:
				return fetchResult{job: e.Job, at: e.FetchedAt, shared: true}
			case errors.As(err, &ff):
				return fetchResult{err: decodeFailure(ff.Reason)}
			case ctx.Err() != nil:
				return fetchResult{err: &upstream.Error{Kind: upstream.ErrTimeout, Err: err}}
			}
			// The holder died, or Redis failed: fetch ourselves.
		default:
			defer func() {
				if r.err != nil {
					done(nil, encodeFailure(r.err))
					return
				}
				done(&cache.Entry{Job: r.job, FetchedAt: r.at}, "")
			}()
		}
	}
	if s.budget != nil {
		if err := s.budget.Allow(ctx, k.Environment, k.BotID); err != nil {
			return fetchResult{err: err}
		}
	}
	job, err := f.PublishStatus(ctx, k.BotID)
	if errors.Is(err, upstream.ErrNeverPublished) {
		job, err = nil, nil
	}
	if err != nil {
		var ue *upstream.Error
		if s.budget != nil && errors.As(err, &ue) && ue.StatusCode == 429 {
			s.budget.Backoff(ctx, k.Environment, k.BotID, ue.RetryAfter)
		}
		return fetchResult{err: err}
	}
	r = fetchResult{job: job, at: s.now()}
	// Written before the fill lock is released, so that waiting replicas
	// find it.
	if err := s.cache.SetMany(ctx, []cache.Item{{Key: k, Entry: cache.Entry{Job: job, FetchedAt: r.at}}}); err != nil {
		s.log.WarnContext(ctx, "cache write failed", "err", err)
		if s.hooks.CacheErr != nil {
			s.hooks.CacheErr(err)
		}
	}
	if s.hooks.Stored != nil {
		s.hooks.Stored(ctx, k, cache.Entry{Job: job, FetchedAt: r.at})
	}
	return r
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

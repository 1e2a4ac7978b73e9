// Package loader batches and deduplicates the publish-status lookups of one
// GraphQL request (graph-gophers/dataloader) and answers them from the job
// cache, fetching misses from the upstream with bounded concurrency per
// environment and writing them back.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// ErrUnknownEnvironment means a key names an environment with no fetcher.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Key names one lookup: a bot of an environment, and whether the cache must
// be bypassed.
type Key struct {
	Environment string
	BotID       string
	// Refresh bypasses the cache (the answer still goes through coalescing).
	Refresh bool
}

func (k Key) cacheKey() cache.Key { return cache.Key{Environment: k.Environment, BotID: k.BotID} }

// Result is the answer for one key.
type Result struct {
	// Job is the publish job; nil when the bot was never published.
	Job *upstream.Job
	// FetchedAt is when the upstream answered.
	FetchedAt time.Time
	// FromCache is true when no upstream call was made for this request.
	FromCache bool
	// Stale is true when the answer is past its freshness.
	Stale bool
	// StaleReason is the upstream failure that made a stale answer be
	// served, nil otherwise.
	StaleReason error
}

// Fetcher reads one bot's publish status from an environment.
// *upstream.Client implements it.
type Fetcher interface {
	PublishStatus(ctx context.Context, botID string) (*upstream.Job, error)
}

// concurrencyLimiter is implemented by fetchers that know how many requests
// they allow in flight (the upstream client does).
type concurrencyLimiter interface{ Concurrency() int }

// Source answers batches of keys. One Source serves the whole process; each
// request gets its own dataloader over it (see Loaders).
type Source struct {
	cache    cache.JobCache
	policy   cache.Policy
	fetchers map[string]Fetcher
	now      func() time.Time
	log      *slog.Logger
	wait     time.Duration
	maxBatch int
	group    singleflight.Group
	hooks    Hooks
}

// Hooks observe what the source does, for metrics. Every field is optional.
type Hooks struct {
	Batch     func(size int)
	CacheHit  func(n int)
	CacheMiss func(n int)
	Stale     func(n int)
	CacheErr  func(err error)
}

// Option configures a Source.
type Option func(*Source)

// WithWait sets how long a request's dataloader collects keys before it
// dispatches a batch. Default 1ms: list resolvers prime the loader with every
// key they know, so the wait only has to catch the concurrent field resolvers
// of one level of the query (see BenchmarkBatchWait).
func WithWait(d time.Duration) Option { return func(s *Source) { s.wait = d } }

// WithMaxBatch bounds the keys of one batch (default 5,000).
func WithMaxBatch(n int) Option {
	return func(s *Source) {
		if n > 0 {
			s.maxBatch = n
		}
	}
}

// WithClock sets the clock used for freshness.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithHooks sets the observation hooks.
func WithHooks(h Hooks) Option { return func(s *Source) { s.hooks = h } }

// DefaultWait is the default batch window of a request's dataloader.
const DefaultWait = time.Millisecond

// NewSource returns a Source reading c under policy and fetching from the
// fetcher of each environment.
func NewSource(c cache.JobCache, policy cache.Policy, fetchers map[string]Fetcher, opts ...Option) *Source {
	s := &Source{
		cache:    c,
		policy:   policy,
		fetchers: fetchers,
		now:      time.Now,
		log:      slog.New(slog.DiscardHandler),
		wait:     DefaultWait,
		maxBatch: 5000,
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "loader")
	return s
}

// Outcome is a Result or the error that prevented one.
type Outcome struct {
	Result Result
	Err    error
}

// Load answers keys, one outcome per key in key order. Keys may repeat. It
// never fails as a whole: a failing cache is skipped and each failing fetch
// is that key's error.
func (s *Source) Load(ctx context.Context, keys []Key) []Outcome {
	out := make([]Outcome, len(keys))
	if s.hooks.Batch != nil {
		s.hooks.Batch(len(keys))
	}

	// Read the cache once for all distinct keys that may be served from it.
	type slot struct{ idx []int }
	var (
		cacheKeys []cache.Key
		cacheIdx  = map[cache.Key]*slot{}
	)
	for i, k := range keys {
		if _, ok := s.fetchers[k.Environment]; !ok {
			out[i].Err = fmt.Errorf("%w %q", ErrUnknownEnvironment, k.Environment)
			continue
		}
		if k.Refresh {
			continue
		}
		ck := k.cacheKey()
		if sl, ok := cacheIdx[ck]; ok {
			sl.idx = append(sl.idx, i)
			continue
		}
		cacheIdx[ck] = &slot{idx: []int{i}}
		cacheKeys = append(cacheKeys, ck)
	}
	stale := map[cache.Key]*cache.Entry{}
	if len(cacheKeys) > 0 {
		entries, err := s.cache.GetMany(ctx, cacheKeys)
		if err != nil {
			s.log.WarnContext(ctx, "cache read failed; fetching from upstream", "err", err)
			if s.hooks.CacheErr != nil {
				s.hooks.CacheErr(err)
			}
			entries = make([]*cache.Entry, len(cacheKeys))
		}
		now := s.now()
		hits := 0
		for j, e := range entries {
			ck := cacheKeys[j]
			if e == nil {
				continue
			}
			if !s.policy.Fresh(*e, now) {
				stale[ck] = e
				continue
			}
			hits++
			for _, i := range cacheIdx[ck].idx {
				out[i].Result = Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true}
			}
			delete(cacheIdx, ck)
		}
		if s.hooks.CacheHit != nil && hits > 0 {
			s.hooks.CacheHit(hits)
		}
		if s.hooks.CacheMiss != nil && len(cacheKeys)-hits > 0 {
			s.hooks.CacheMiss(len(cacheKeys) - hits)
		}
	}

	// Everything else is fetched: distinct bots, grouped by environment.
	want := map[cache.Key][]int{}
	byEnv := map[string][]cache.Key{}
	for i, k := range keys {
		if out[i].Err != nil {
			continue
		}
		ck := k.cacheKey()
		if !k.Refresh {
			if _, pending := cacheIdx[ck]; !pending {
				continue // served from cache
			}
		}
		if _, seen := want[ck]; !seen {
			byEnv[ck.Environment] = append(byEnv[ck.Environment], ck)
		}
		want[ck] = append(want[ck], i)
	}
	if len(want) == 0 {
		return out
	}
	fetched := s.fetchAll(ctx, byEnv)

	var (
		items     []cache.Item
		staleUsed int
	)
	for ck, idx := range want {
		f := fetched[ck]
		var o Outcome
		switch {
		case f.err == nil:
			o.Result = Result{Job: f.job, FetchedAt: f.at}
			items = append(items, cache.Item{Key: ck, Entry: cache.Entry{Job: f.job, FetchedAt: f.at}})
		case stale[ck] != nil && s.servableStale(f.err):
			e := stale[ck]
			o.Result = Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true, Stale: true, StaleReason: f.err}
			staleUsed++
		default:
			o.Err = f.err
		}
		for _, i := range idx {
			out[i] = o
		}
	}
	if s.hooks.Stale != nil && staleUsed > 0 {
		s.hooks.Stale(staleUsed)
	}
	if len(items) > 0 {
		if err := s.cache.SetMany(ctx, items); err != nil {
			s.log.WarnContext(ctx, "cache write failed", "err", err)
			if s.hooks.CacheErr != nil {
				s.hooks.CacheErr(err)
			}
		}
	}
	return out
}

// servableStale reports whether a fetch failure may be answered with the last
// good entry: upstream trouble yes, a bot that no longer exists no.
func (s *Source) servableStale(err error) bool {
	return !errors.Is(err, upstream.ErrBotNotFound) && !errors.Is(err, upstream.ErrInvalidBotID)
}

type fetchResult struct {
	job *upstream.Job
	at  time.Time
	err error
}

// fetchAll fetches every key, each environment with at most its concurrency
// in flight, environments in parallel. One environment's failures never
// affect another's.
func (s *Source) fetchAll(ctx context.Context, byEnv map[string][]cache.Key) map[cache.Key]fetchResult {
	results := make(map[cache.Key]fetchResult, len(byEnv))
	type res struct {
		k cache.Key
		r fetchResult
	}
	ch := make(chan res, 64)
	var outer errgroup.Group
	for env, ks := range byEnv {
		f := s.fetchers[env]
		limit := 32
		if cl, ok := f.(concurrencyLimiter); ok && cl.Concurrency() > 0 {
			limit = cl.Concurrency()
		}
		outer.Go(func() error {
			var g errgroup.Group
			g.SetLimit(limit)
			for _, k := range ks {
				g.Go(func() error {
					ch <- res{k, s.fetchOne(ctx, f, k)}
					return nil
				})
			}
			return g.Wait()
		})
	}
	go func() {
		_ = outer.Wait()
		close(ch)
	}()
	for r := range ch {
		results[r.k] = r.r
	}
	return results
}

// fetchOne makes at most one upstream call per bot at a time in this process:
// concurrent requests for the same bot share it.
func (s *Source) fetchOne(ctx context.Context, f Fetcher, k cache.Key) fetchResult {
	sfKey := k.Environment + "\x00" + k.BotID
	ch := s.group.DoChan(sfKey, func() (any, error) {
		// The shared call must not die with the first caller's request, only
		// with the deadline it would have had.
		fctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			fctx, cancel = context.WithDeadline(fctx, dl)
			defer cancel()
		}
		job, err := f.PublishStatus(fctx, k.BotID)
		if errors.Is(err, upstream.ErrNeverPublished) {
			job, err = nil, nil
		}
		return fetchResult{job: job, at: s.now(), err: err}, nil
	})
	select {
	case r := <-ch:
		return r.Val.(fetchResult)
	case <-ctx.Done():
		return fetchResult{err: &upstream.Error{Kind: upstream.ErrTimeout, Err: context.Cause(ctx)}}
	}
}

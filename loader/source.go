// Package loader batches and deduplicates the publish-status lookups of one
// GraphQL request (graph-gophers/dataloader) and answers them from the job
// cache, fetching misses from the upstream with bounded concurrency per
// environment, within the upstream budget, coalesced within the process
// (one read per bot at a time) and across replicas (cache.Coordinator: one
// claim per batch, a fill lock per bot).
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/upstream"
)

// Key names one lookup: a bot of an environment, and whether the cache must
// be bypassed.
type Key struct {
	Environment string
	BotID       string
	// Refresh bypasses the cache (the answer still goes through coalescing
	// and the budget).
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
	// StaleReason is the upstream failure (or spent budget) that made a stale
	// answer be served; nil while a background refresh is on its way.
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

// Hooks observe what the source does, for metrics. Every field is optional.
type Hooks struct {
	// BatchSpan wraps one batch (for tracing): it returns the context the
	// batch runs in and a function called when it ends.
	BatchSpan func(ctx context.Context, size int) (context.Context, func())
	Batch     func(size int)
	CacheHit  func(n int)
	CacheMiss func(n int)
	Stale     func(n int)
	CacheErr  func(err error)
	// Seen gets what one cache read returned (entries[i] answers keys[i],
	// nil a miss), and Stored every job this replica fetched from the
	// upstream, once written to the cache: for alerts/.
	Seen   func(keys []cache.Key, entries []*cache.Entry)
	Stored func(ctx context.Context, k cache.Key, e cache.Entry)
	// BudgetRefused counts a request the upstream budget refused (for
	// alerts on budget exhaustion).
	BudgetRefused func(env string)
}

// Source answers batches of keys. One Source serves the whole process; each
// request gets its own dataloader over it (see Loaders). Close stops its
// background refreshes.
type Source struct {
	cache    cache.JobCache
	policy   cache.Policy
	fetchers map[string]Fetcher
	budget   budget.Budget
	coord    cache.Coordinator
	check    time.Duration
	now      func() time.Time
	log      *slog.Logger
	wait     time.Duration
	maxBatch int
	bgLimit  time.Duration
	hooks    Hooks

	// testHookWaiting, in tests, runs when fetchAll waits for its reads.
	testHookWaiting func()

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	mu         sync.Mutex
	flights    map[cache.Key]*flight
	refreshing map[cache.Key]bool
	failures   map[cache.Key]failure
}

type failure struct {
	err error
	at  time.Time
}

// Option configures a Source.
type Option func(*Source)

// WithWait sets how long a request's dataloader collects scattered keys (root
// publishStatus fields, aliases) before it dispatches a batch. Default 1ms
// rather than the library's 16ms: list resolvers preload every key they know
// without any window (Loaders.Preload), so the window only has to catch
// concurrent root fields, which arrive within microseconds.
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

// WithBudget makes every upstream request spend b first (the coordinator
// spends the shared budget itself; b is then what a batch falls back to
// when Redis cannot coordinate it, and what retries spend).
func WithBudget(b budget.Budget) Option { return func(s *Source) { s.budget = b } }

// WithCoordinator coordinates fills with other replicas; check is how long
// a batch waits for another replica's notice before it claims again.
func WithCoordinator(c cache.Coordinator, check time.Duration) Option {
	return func(s *Source) {
		s.coord = c
		if check > 0 {
			s.check = check
		}
	}
}

// WithBackgroundTimeout bounds a background refresh (default 30s).
func WithBackgroundTimeout(d time.Duration) Option { return func(s *Source) { s.bgLimit = d } }

// DefaultWait is the default batch window of a request's dataloader.
const DefaultWait = time.Millisecond

// NewSource returns a Source reading c under policy and fetching from the
// fetcher of each environment.
func NewSource(c cache.JobCache, policy cache.Policy, fetchers map[string]Fetcher, opts ...Option) *Source {
	s := &Source{
		cache:      c,
		policy:     policy,
		fetchers:   fetchers,
		now:        time.Now,
		log:        slog.New(slog.DiscardHandler),
		wait:       DefaultWait,
		maxBatch:   5000,
		bgLimit:    30 * time.Second,
		check:      250 * time.Millisecond,
		flights:    map[cache.Key]*flight{},
		refreshing: map[cache.Key]bool{},
		failures:   map[cache.Key]failure{},
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "loader")
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s
}

// Close stops background refreshes and waits for them.
func (s *Source) Close() {
	s.bgCancel()
	s.bgWG.Wait()
}

// Outcome is a Result or the error that prevented one.
type Outcome struct {
	Result Result
	Err    error
}

// Load answers keys, one outcome per key in key order. Keys may repeat. It
// never fails as a whole: a failing cache is skipped and each failing fetch
// is that key's error.
//
// A cached entry is served as is while fresh. Past its freshness, and for as
// long again (the stale-while-revalidate window), it is served marked stale
// while one refresh runs in the background. Older entries, misses and
// refresh keys are fetched now; when that fails, an entry still within
// staleFor is served stale with the failure as its reason.
func (s *Source) Load(ctx context.Context, keys []Key) []Outcome {
	out := make([]Outcome, len(keys))
	if s.hooks.BatchSpan != nil {
		var end func()
		ctx, end = s.hooks.BatchSpan(ctx, len(keys))
		defer end()
	}
	if s.hooks.Batch != nil {
		s.hooks.Batch(len(keys))
	}
	var (
		cacheKeys = make([]cache.Key, 0, len(keys))
		seen      = make(map[cache.Key]bool, len(keys))
	)
	for i, k := range keys {
		if _, ok := s.fetchers[k.Environment]; !ok {
			out[i].Err = fmt.Errorf("%w %q", catalog.ErrUnknownEnvironment, k.Environment)
			continue
		}
		if ck := k.cacheKey(); !k.Refresh && !seen[ck] {
			seen[ck] = true
			cacheKeys = append(cacheKeys, ck)
		}
	}

	// One cache read for every distinct key that may be served from it.
	served := make(map[cache.Key]Result, len(cacheKeys))
	old := map[cache.Key]*cache.Entry{}
	expired := map[cache.Key]time.Time{}
	if len(cacheKeys) > 0 {
		entries, err := s.cache.GetMany(ctx, cacheKeys)
		if s.hooks.Seen != nil {
			s.hooks.Seen(cacheKeys, entries)
		}
		if err != nil {
			s.log.WarnContext(ctx, "cache read failed; fetching from upstream", "err", err)
			if s.hooks.CacheErr != nil {
				s.hooks.CacheErr(err)
			}
		}
		now := s.now()
		refresh := map[cache.Key]time.Time{}
		defer s.refreshAll(refresh)
		var hits, stale int
		for j, ck := range cacheKeys {
			if j >= len(entries) || entries[j] == nil {
				continue
			}
			e := entries[j]
			age, fresh := now.Sub(e.FetchedAt), s.policy.FreshFor(*e)
			if age >= s.policy.RetainFor(*e) {
				// Past staleFor by this replica's clock (the store's own
				// expiry runs on another clock): no longer an answer, and
				// not what a fetch may return either.
				expired[ck] = e.FetchedAt
				continue
			}
			switch {
			case age < fresh:
				served[ck] = Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true}
				hits++
			case age < 2*fresh:
				reason, start := s.revalidate(ck, e)
				if start {
					refresh[ck] = e.FetchedAt
				}
				served[ck] = Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true, Stale: true, StaleReason: reason}
				stale++
			default:
				old[ck] = e
			}
		}
		if s.hooks.CacheHit != nil && hits+stale > 0 {
			s.hooks.CacheHit(hits + stale)
		}
		if s.hooks.CacheMiss != nil && len(cacheKeys)-hits-stale > 0 {
			s.hooks.CacheMiss(len(cacheKeys) - hits - stale)
		}
		if s.hooks.Stale != nil && stale > 0 {
			s.hooks.Stale(stale)
		}
	}

	// Everything else is fetched now: distinct bots, grouped by environment.
	type want struct {
		idx   []int
		since time.Time
	}
	wants := map[Key]*want{}
	var order []Key
	for i, k := range keys {
		if out[i].Err != nil {
			continue
		}
		ck := k.cacheKey()
		if r, ok := served[ck]; ok && !k.Refresh {
			out[i].Result = r
			continue
		}
		if !k.Refresh && old[ck] == nil {
			if err := s.recentFailure(ck); err != nil {
				out[i].Err = err
				continue
			}
		}
		fk := Key{Environment: k.Environment, BotID: k.BotID, Refresh: k.Refresh}
		w, ok := wants[fk]
		if !ok {
			w = &want{}
			if e := old[ck]; e != nil {
				w.since = e.FetchedAt
			} else if at, ok := expired[ck]; ok {
				w.since = at
			}
			if k.Refresh {
				w.since = s.now()
			}
			wants[fk] = w
			order = append(order, fk)
		}
		w.idx = append(w.idx, i)
	}
	if len(order) == 0 {
		return out
	}
	fetched := s.fetchAll(ctx, order, func(k Key) time.Time { return wants[k].since })
	var staleUsed int
	for _, k := range order {
		f := fetched[k]
		ck := k.cacheKey()
		var o Outcome
		switch {
		case f.err == nil:
			o.Result = Result{Job: f.job, FetchedAt: f.at, FromCache: f.shared}
		case old[ck] != nil && servableStale(f.err):
			e := old[ck]
			o.Result = Result{Job: e.Job, FetchedAt: e.FetchedAt, FromCache: true, Stale: true, StaleReason: f.err}
			staleUsed++
		default:
			o.Err = f.err
		}
		if f.err != nil {
			s.rememberFailure(ck, f.err)
		}
		for _, i := range wants[k].idx {
			out[i] = o
		}
	}
	if s.hooks.Stale != nil && staleUsed > 0 {
		s.hooks.Stale(staleUsed)
	}
	return out
}

// servableStale reports whether a fetch failure may be answered with the last
// good entry: upstream trouble yes, a bot that no longer exists no.
func servableStale(err error) bool {
	return !errors.Is(err, upstream.ErrBotNotFound) && !errors.Is(err, upstream.ErrInvalidBotID)
}

// revalidate decides whether k, served stale, is refreshed in the
// background: not while a refresh of it runs, nor while its last one failed
// too recently. It returns that failure, if any, as the reason the answer is
// stale, and whether k joins this batch's background refresh (which the
// caller starts with refreshAll).
func (s *Source) revalidate(k cache.Key, e *cache.Entry) (reason error, start bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	last, failed := s.failures[k]
	if failed && !last.at.Before(e.FetchedAt) && now.Sub(last.at) < s.retryFailedAfter(*e) {
		return last.err, false
	}
	if failed {
		reason = last.err
	}
	if s.refreshing[k] || s.bgCtx.Err() != nil {
		return reason, false
	}
	s.refreshing[k] = true
	return reason, true
}

// refreshAll refreshes, in one background batch, the stale entries a Load
// served (each key with the fetch time of the entry it replaces).
func (s *Source) refreshAll(stale map[cache.Key]time.Time) {
	if len(stale) == 0 {
		return
	}
	keys := make([]Key, 0, len(stale))
	for k := range stale {
		keys = append(keys, Key{Environment: k.Environment, BotID: k.BotID})
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, s.bgLimit)
		defer cancel()
		got := s.fetchAll(ctx, keys, func(k Key) time.Time { return stale[k.cacheKey()] })
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range keys {
			ck := k.cacheKey()
			delete(s.refreshing, ck)
			if r := got[k]; r.err != nil {
				s.failures[ck] = failure{err: r.err, at: s.now()}
				s.log.Debug("background refresh failed", "environment", k.Environment, "bot", k.BotID, "err", r.err)
			} else {
				delete(s.failures, ck)
			}
		}
		if len(s.failures) > 100_000 { // bound memory; failures are only hints
			clear(s.failures)
		}
	}()
}

// negativeTTL is how long a failed fetch of a bot with nothing cached is
// answered with the same error instead of asking again: a dashboard polling a
// broken bot must not pay the upstream's failure (and its retries) on every
// query, nor hammer it.
func (s *Source) negativeTTL() time.Duration {
	return min(max(s.policy.InProgressTTL, time.Second), 5*time.Second)
}

func (s *Source) recentFailure(k cache.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.failures[k]; ok && s.now().Sub(f.at) < s.negativeTTL() {
		return f.err
	}
	return nil
}

func (s *Source) rememberFailure(k cache.Key, err error) {
	if errors.Is(err, upstream.ErrInvalidBotID) || errors.Is(err, context.Canceled) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 100_000 { // bound memory; failures are only hints
		clear(s.failures)
	}
	s.failures[k] = failure{err: err, at: s.now()}
}

// retryFailedAfter is how long after a failed refresh another is tried.
func (s *Source) retryFailedAfter(e cache.Entry) time.Duration {
	return min(max(s.policy.FreshFor(e)/2, time.Second), 15*time.Second)
}

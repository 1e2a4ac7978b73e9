// Package discovery keeps the bot list of the environments that discover
// their bots (discoverBots, SPEC §1.1 and §4): it lists the account's bots
// with Kore.ai's Get Bots API and hands them to the catalog, where they join
// the configured bots.
//
// A list is used for TTL (cache.botListTTL, minutes), then listed again in
// the background; queries never wait for it. With Redis the list is shared
// by every replica (keyspace.BotList) and one replica lists for all: the
// one that takes the listing lock (keyspace.BotListLock, an
// internal/lease.Lease: SET NX PX with a token, released by
// compare-and-delete, extended after a failure) once the shared list is
// due, while the others read what it shares. So three replicas cost Kore.ai one listing per TTL. Each
// page first passes the gate (the account's admin API budget). A failed
// listing keeps the last good list, is logged, and is tried again after
// RetryAfter by whichever replica takes the lock then.
//
// Secrets: Kore.ai's items carry every linked app's client secret
// (jwtApps). upstream.ListedBot has no field for them, so they are dropped
// by the decoder and nothing here ever holds one.
package discovery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/upstream"
)

// Outcomes of a synchronisation, for metrics.
const (
	// OutcomeFetched: this replica listed the bots with Kore.ai.
	OutcomeFetched = "fetched"
	// OutcomeShared: this replica took the list another one shared.
	OutcomeShared = "shared"
	// OutcomeFailed: listing failed; the last good list stays.
	OutcomeFailed = "failed"
)

// Defaults of Options.
const (
	DefaultTTL        = 5 * time.Minute
	DefaultRetryAfter = 30 * time.Second
	DefaultPoll       = time.Second
	DefaultLockTTL    = 2 * time.Minute
)

// Lister lists an account's bots; *upstream.Client implements it.
type Lister interface {
	ListBots(ctx context.Context, opts ...upstream.ListOption) (upstream.BotList, error)
}

// Options configure a Refresher. Zero values take the defaults.
type Options struct {
	// TTL is how long a list is used before it is listed again.
	TTL time.Duration
	// Redis shares the list and the lock between replicas; nil keeps both
	// in process.
	Redis redis.UniversalClient
	// Gate admits each page request (the account's admin API budget); nil
	// admits every page.
	Gate func(ctx context.Context) error
	// RetryAfter is how long after a failed listing it is tried again
	// (longer when Kore.ai or the budget says so). Default
	// min(DefaultRetryAfter, TTL).
	RetryAfter time.Duration
	// Poll is how often a replica reads the shared list while another
	// replica holds the lock.
	Poll time.Duration
	// LockTTL bounds one listing, and how long a dead lister's lock lasts.
	LockTTL time.Duration
	// Logger receives the refresher's logs (default: discard).
	Logger *slog.Logger
	// Now is the clock that dates lists (default time.Now).
	Now func() time.Time
	// OnSync is called after every change of list and every failure, with
	// the outcome and the number of discovered bots then known.
	OnSync func(outcome string, bots int)
}

// Refresher keeps one environment's discovered bots up to date.
type Refresher struct {
	env    *catalog.Environment
	lister Lister
	opts   Options
	store  store
	log    *slog.Logger

	mu      sync.Mutex
	current *List

	loaded     chan struct{}
	loadedOnce sync.Once
	cancel     context.CancelFunc
	done       chan struct{}
}

// New returns a refresher of env's discovered bots, listed with l. Start
// runs it in the background; Sync does one step.
func New(env *catalog.Environment, l Lister, opts Options) *Refresher {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = min(DefaultRetryAfter, opts.TTL)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Refresher{
		env: env, lister: l, opts: opts,
		log:    opts.Logger.With("component", "discovery", "environment", env.Name),
		loaded: make(chan struct{}),
	}
	if opts.Redis != nil {
		r.store = &redisStore{c: opts.Redis, env: env.Name}
	} else {
		r.store = &memoryStore{}
	}
	return r
}

// Loaded is closed once a first list has been handed to the catalog.
func (r *Refresher) Loaded() <-chan struct{} { return r.loaded }

// Start runs Sync in the background, whenever the list is due, until ctx
// ends or Close is called.
func (r *Refresher) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			next, _ := r.Sync(ctx)
			t.Reset(max(next.Sub(r.opts.Now()), 10*time.Millisecond))
		}
	}()
}

// Close stops the background work started by Start and waits for it.
func (r *Refresher) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	return nil
}

// Sync brings the environment's discovered bots up to date, if they are
// due: it takes a newer shared list, or lists the bots when the list is
// older than TTL and no other replica is listing them. It returns when it
// should run next, and the listing's failure, if any (the last good list
// stays).
func (r *Refresher) Sync(ctx context.Context) (next time.Time, err error) {
	shared, sharedErr := r.store.load(ctx)
	if sharedErr != nil {
		r.log.WarnContext(ctx, "shared bot list unavailable; listing without it", "err", sharedErr)
	}
	r.adopt(shared)
	now := r.opts.Now()
	if cur := r.list(); cur != nil && now.Sub(cur.FetchedAt) < r.opts.TTL {
		return cur.FetchedAt.Add(r.opts.TTL), nil
	}
	unlock, ok, lockErr := r.store.lock(ctx, r.opts.LockTTL)
	switch {
	case lockErr != nil:
		// Without Redis's answer, list here: a duplicate listing is better
		// than none.
		r.log.WarnContext(ctx, "bot list lock unavailable; listing without it", "err", lockErr)
		unlock = func(time.Duration) {}
	case !ok:
		return now.Add(r.opts.Poll), nil // another replica is listing
	}
	if sharedErr == nil && lockErr == nil {
		// Another replica may have shared a list between the read and the
		// lock.
		if shared, err := r.store.load(ctx); err == nil && r.adopt(shared) && now.Sub(shared.FetchedAt) < r.opts.TTL {
			unlock(0)
			return shared.FetchedAt.Add(r.opts.TTL), nil
		}
	}
	lctx, cancel := context.WithTimeout(ctx, r.opts.LockTTL)
	defer cancel()
	var opts []upstream.ListOption
	if r.opts.Gate != nil {
		opts = append(opts, upstream.WithPageGate(r.opts.Gate))
	}
	got, err := r.lister.ListBots(lctx, opts...)
	if err != nil {
		retry := r.opts.RetryAfter
		var ue *upstream.Error
		if errors.As(err, &ue) && ue.RetryAfter > retry {
			retry = ue.RetryAfter
		}
		unlock(retry)
		if ctx.Err() != nil {
			return now, err
		}
		kept := r.known()
		r.log.WarnContext(ctx, "listing the account's bots failed; keeping the last list", "err", err, "kept", kept, "retryIn", retry)
		r.notify(OutcomeFailed, kept)
		return now.Add(retry), err
	}
	l := &List{FetchedAt: r.opts.Now(), Bots: got.Bots}
	if err := r.store.save(ctx, l, max(10*r.opts.TTL, time.Hour)); err != nil {
		r.log.WarnContext(ctx, "sharing the bot list failed", "err", err)
	}
	unlock(0)
	r.apply(l, OutcomeFetched)
	r.log.InfoContext(ctx, "listed the account's bots", "bots", len(l.Bots), "pages", got.Pages, "invalidIDs", got.Invalid)
	return l.FetchedAt.Add(r.opts.TTL), nil
}

// adopt applies l when it is newer than the current list, and reports
// whether it did.
func (r *Refresher) adopt(l *List) bool {
	if l == nil {
		return false
	}
	if cur := r.list(); cur != nil && !l.FetchedAt.After(cur.FetchedAt) {
		return false
	}
	r.apply(l, OutcomeShared)
	return true
}

// apply hands l to the catalog.
func (r *Refresher) apply(l *List, outcome string) {
	bots := make([]catalog.Bot, len(l.Bots))
	for i, b := range l.Bots {
		bots[i] = catalog.Bot{ID: b.ID, Name: b.Name}
	}
	r.env.SetDiscovered(bots)
	r.mu.Lock()
	r.current = l
	r.mu.Unlock()
	r.loadedOnce.Do(func() { close(r.loaded) })
	r.notify(outcome, len(l.Bots))
}

func (r *Refresher) notify(outcome string, bots int) {
	if r.opts.OnSync != nil {
		r.opts.OnSync(outcome, bots)
	}
}

func (r *Refresher) list() *List {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

func (r *Refresher) known() int {
	if l := r.list(); l != nil {
		return len(l.Bots)
	}
	return 0
}

// Package gateway wires publishgate together from a configuration: the
// upstream clients, the job cache, the loader, the GraphQL server and the
// HTTP routes. It is the one readable place where the parts meet; server.go
// runs it and internal/testkit starts it in tests.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/discovery"
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/metrics"
	"github.com/publishgate/publishgate/publish"
	"github.com/publishgate/publishgate/telemetry"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/watch"
)

// Options are the dependencies of a Gateway that do not come from the
// configuration. Every field is optional.
type Options struct {
	// Logger receives the gateway's logs (default: discard).
	Logger *slog.Logger
	// HTTPClient is used for every upstream call (default: one client on a
	// transport sized for the environments' concurrency).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Demo marks the built-in demo: introspection and the Playground on, and
	// the start-up banner says so.
	Demo bool
	// BatchWait overrides the dataloader batch window (default loader.DefaultWait).
	BatchWait time.Duration
	// OnRedisError is called with every failed Redis call, for metrics.
	OnRedisError func(error)
	// RedisHooks are added to the Redis client (instrumentation, tests).
	RedisHooks []redis.Hook
	// RedisTimeout bounds each Redis call (default 500ms): a slow Redis
	// degrades the cache, never the answers.
	RedisTimeout time.Duration
	// LocalCacheEntries bounds the in-process copy kept in front of Redis
	// (default 100,000); benchmarks set it to 1 to measure the Redis path.
	LocalCacheEntries int
	// Metrics receives the gateway's metrics (default: a fresh registry,
	// served at /metrics).
	Metrics *metrics.Metrics
	// Tracing makes the spans (default: from the configuration's tracing
	// section, off when it names no endpoint).
	Tracing *telemetry.Tracing
}

// Gateway is a configured publishgate.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	handler http.Handler
	closers []func() error
	// redis is the shared Redis client, nil when none is configured.
	redis redis.UniversalClient
	// sec holds the caller verifier and persisted queries (security.go).
	sec *security
	// obs holds the metrics, tracing and access log (observability.go).
	obs *observability
	// Source answers publish-status lookups (exposed for benchmarks).
	Source *loader.Source
	// Live runs the publishStatusChanged pollers (live.go).
	Live *live.Hub
	// Discovery lists the bots of each environment with discoverBots
	// (discovery.go).
	Discovery map[string]*discovery.Refresher
	// Watchers keep each environment with a watchInterval fresh
	// (discovery.go).
	Watchers map[string]*watch.Watcher
}

// New builds a gateway from a validated configuration.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	obs, err := newObservability(cfg, opts)
	if err != nil {
		return nil, err
	}
	opts.Logger = slog.New(requestIDHandler{opts.Logger.Handler()})
	g := &Gateway{cfg: cfg, log: opts.Logger, obs: obs}
	g.closers = append(g.closers, obs.close)

	botIDs, err := upstream.NewBotIDValidator(cfg.BotIDPattern)
	if err != nil {
		return nil, fmt.Errorf("botIDPattern: %w", err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		maxConc := 2
		for _, e := range cfg.Environments {
			maxConc = max(maxConc, e.Concurrency)
		}
		hc = &http.Client{Transport: upstream.NewTransport(maxConc)}
	}
	fetchers := make(map[string]loader.Fetcher, len(cfg.Environments))
	starters := make(map[string]publish.Starter, len(cfg.Environments))
	envs := make([]catalog.Environment, 0, len(cfg.Environments))
	for _, e := range cfg.Environments {
		client, err := upstream.New(e.Host, upstream.Credentials{
			ClientID:     e.ClientID,
			ClientSecret: e.ClientSecret.Reveal(),
			Token:        e.Token.Reveal(),
			JTI:          e.JTI,
		},
			upstream.WithHTTPClient(hc),
			upstream.WithVersionedPath(e.PathStyle == config.PathVersioned),
			upstream.WithConcurrency(e.Concurrency),
			upstream.WithTimeout(e.Timeout.Duration()),
			upstream.WithRetries(cfg.Upstream.Retries, 100*time.Millisecond),
			upstream.WithBotIDValidator(botIDs),
			upstream.WithClock(opts.Now),
			obs.clientOption(cfg, e, opts.Logger),
		)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		if err := obs.addClient(e.Name, client); err != nil {
			return nil, fmt.Errorf("environment %s: metrics: %w", e.Name, err)
		}
		fetchers[e.Name] = client
		starters[e.Name] = client
		ce := catalog.Environment{Name: e.Name, Host: e.Host}
		for _, b := range e.Bots {
			ce.Bots = append(ce.Bots, catalog.Bot{ID: b.ID, Name: b.Name})
		}
		envs = append(envs, ce)
	}
	cat, err := catalog.New(envs)
	if err != nil {
		return nil, err
	}

	policy := cache.Policy{
		TTL:           cfg.Cache.TTL.Duration(),
		InProgressTTL: cfg.Cache.InProgressTTL.Duration(),
		NotFoundTTL:   cfg.Cache.NotFoundTTL.Duration(),
		StaleFor:      cfg.Cache.StaleFor.Duration(),
	}
	store, err := g.newJobCache(cfg, policy, opts)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, store.close)

	wait := loader.DefaultWait
	if opts.BatchWait > 0 {
		wait = opts.BatchWait
	}
	hooks := obs.loaderHooks()
	srcOpts := []loader.Option{
		loader.WithWait(wait),
		loader.WithClock(opts.Now),
		loader.WithLogger(opts.Logger),
		loader.WithBudget(obs.alerts.CountingBudget(store.budget)),
		loader.WithHooks(hooks),
	}
	if store.coord != nil {
		srcOpts = append(srcOpts, loader.WithCoordinator(store.coord, store.coord.CheckInterval()))
	}
	g.Source = loader.NewSource(store.cache, policy, fetchers, srcOpts...)
	g.closers = append(g.closers, func() error { g.Source.Close(); return nil })
	g.startBackground(cat, fetchers, store.cache, policy, opts)
	publisher := g.setupLive(ctx, policy, store.cache, starters, opts)
	resolver := &graph.Resolver{
		Catalog:           cat,
		Jobs:              g.Source,
		BotIDs:            botIDs,
		MaxBotsPerRequest: cfg.Limits.MaxBotsPerRequest,
		Logger:            opts.Logger.With("component", "graph"),
		Now:               opts.Now,
		Live:              g.Live,
		Publisher:         publisher,
	}
	if g.sec, err = g.setupSecurity(ctx); err != nil {
		_ = g.Close()
		return nil, err
	}
	g.handler = g.routes(resolver, store.ready, opts)
	return g, nil
}

// Handler is the gateway's HTTP handler: /graphql, /playground, /healthz,
// /readyz.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close releases what the gateway holds (Redis connections, background
// work). It does not stop an HTTP server serving Handler.
func (g *Gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// readiness reports whether each dependency answers: "ok", "in-process",
// or what is wrong.
type readiness func(ctx context.Context) map[string]string

// jobStore is what newJobCache builds: the cache the loader reads, and the
// pieces that share it across replicas (nil without Redis).
type jobStore struct {
	cache  cache.JobCache
	coord  *cache.RedisCoordinator
	budget budget.Budget
	ready  readiness
	close  func() error
}

// newJobCache chooses the cache: a local copy in front of Redis when Redis is
// configured (shared by every replica, with cross-replica fill locks and a
// shared upstream budget), the in-process cache and budget otherwise.
func (g *Gateway) newJobCache(cfg *config.Config, policy cache.Policy, opts Options) (*jobStore, error) {
	limits := envLimits(cfg)
	local := cache.NewMemory(policy, cache.WithClock(opts.Now), cache.WithMaxEntries(opts.LocalCacheEntries))
	if cfg.Redis.URL == "" && len(cfg.Redis.Addrs) == 0 {
		return &jobStore{
			cache:  local,
			budget: budget.NewLocal(limits),
			ready:  func(context.Context) map[string]string { return map[string]string{"cache": "in-process"} },
			close:  func() error { return nil },
		}, nil
	}
	timeout := opts.RedisTimeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	client, err := newRedisClient(cfg.Redis, timeout)
	if err != nil {
		return nil, err
	}
	g.redis = client
	for _, h := range opts.RedisHooks {
		client.AddHook(h)
	}
	onErr := func(err error) {
		g.obs.metrics.RedisError()
		if opts.OnRedisError != nil {
			opts.OnRedisError(err)
		}
	}
	tiered := cache.NewTiered(local, cache.NewRedis(client, policy), policy,
		cache.WithTieredClock(opts.Now), cache.WithErrorHook(onErr), cache.WithSharedTimeout(timeout))
	maxTimeout := cfg.Upstream.Timeout.Duration()
	for _, e := range cfg.Environments {
		maxTimeout = max(maxTimeout, e.Timeout.Duration())
	}
	// A fill lock outlives the longest read it covers: every try of the
	// upstream client, then a second for the write-back.
	lockTTL := time.Duration(cfg.Upstream.Retries+1)*maxTimeout + time.Second
	coord := cache.NewRedisCoordinator(client, tiered, policy, limits, lockTTL, opts.Logger, cache.WithCoordinatorClock(opts.Now))
	return &jobStore{
		cache:  tiered,
		coord:  coord,
		budget: budget.NewRedis(client, limits, opts.Logger, onErr),
		ready: func(ctx context.Context) map[string]string {
			if err := client.Ping(ctx).Err(); err != nil {
				return map[string]string{"redis": "unreachable: " + err.Error()}
			}
			return map[string]string{"redis": "ok"}
		},
		close: func() error { return errors.Join(coord.Close(), client.Close()) },
	}, nil
}

// newRedisClient builds a go-redis UniversalClient: one node from url, a
// cluster from addrs, or Sentinels from addrs with masterName. Timeouts are
// short: a slow Redis must degrade the cache, never the answers.
func newRedisClient(rc config.Redis, timeout time.Duration) (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		Addrs:        rc.Addrs,
		MasterName:   rc.MasterName,
		Password:     rc.Password.Reveal(),
		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		// A cold batch coordinates every missing bot at once (fill lock,
		// budget, write-back): the pool must not be what it waits for.
		PoolSize:     256,
		MinIdleConns: 4,
		PoolTimeout:  2 * timeout,
		MaxRetries:   1,
	}
	// One dial attempt per call: while Redis is down, a call must fail fast
	// (the caller pauses Redis and carries on without it), not retry dials.
	const dialerRetries = 1
	switch {
	case rc.MasterName != "":
		return redis.NewUniversalClient(o), nil
	case rc.URL == "":
		co := o.Cluster()
		co.DialerRetries = dialerRetries
		return redis.NewClusterClient(co), nil
	}
	u, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	so := o.Simple()
	so.Network, so.Addr, so.DB, so.Username, so.TLSConfig, so.Protocol = u.Network, u.Addr, u.DB, u.Username, u.TLSConfig, u.Protocol
	if so.Password == "" {
		so.Password = u.Password
	}
	so.DialerRetries = dialerRetries
	return redis.NewClient(so), nil
}

// envLimits returns the upstream budget of each environment.
func envLimits(cfg *config.Config) func(env string) budget.Limits {
	m := make(map[string]budget.Limits, len(cfg.Environments))
	for _, e := range cfg.Environments {
		m[e.Name] = budget.Limits{EnvPerMinute: e.RatePerMinute, BotPerMinute: e.BotRatePerMinute, BotPerHour: e.BotRatePerHour}
	}
	return func(env string) budget.Limits { return m[env] }
}

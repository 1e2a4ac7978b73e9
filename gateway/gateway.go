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

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
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
}

// Gateway is a configured publishgate.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	handler http.Handler
	closers []func() error
	// redis is the shared Redis client, nil when none is configured.
	redis redis.UniversalClient
	// Source answers publish-status lookups (exposed for benchmarks).
	Source *loader.Source
}

// New builds a gateway from a validated configuration.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Gateway{cfg: cfg, log: opts.Logger}

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
		)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		fetchers[e.Name] = client
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
	jobCache, ready, closeCache, err := newJobCache(ctx, cfg, policy, opts)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, closeCache)

	wait := loader.DefaultWait
	if opts.BatchWait > 0 {
		wait = opts.BatchWait
	}
	g.Source = loader.NewSource(jobCache, policy, fetchers,
		loader.WithWait(wait),
		loader.WithClock(opts.Now),
		loader.WithLogger(opts.Logger),
	)
	resolver := &graph.Resolver{
		Catalog:           cat,
		Jobs:              g.Source,
		BotIDs:            botIDs,
		MaxBotsPerRequest: cfg.Limits.MaxBotsPerRequest,
		Logger:            opts.Logger.With("component", "graph"),
		Now:               opts.Now,
	}
	g.handler = g.routes(resolver, ready, opts)
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

// readiness reports whether a dependency answers.
type readiness func(ctx context.Context) map[string]string

// newJobCache chooses the cache: Redis when configured, in-process otherwise.
func newJobCache(_ context.Context, cfg *config.Config, policy cache.Policy, opts Options) (cache.JobCache, readiness, func() error, error) {
	if cfg.Redis.URL != "" || len(cfg.Redis.Addrs) > 0 {
		return nil, nil, nil, errors.New("redis: the shared Redis cache is not available in this build; remove redis from the configuration to use the in-process cache")
	}
	m := cache.NewMemory(policy, cache.WithClock(opts.Now))
	ready := func(context.Context) map[string]string { return map[string]string{"cache": "in-process"} }
	return m, ready, func() error { return nil }, nil
}

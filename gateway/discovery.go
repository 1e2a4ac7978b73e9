package gateway

import (
	"context"
	"time"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/discovery"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/watch"
)

// adminBudgetKey names the account's admin API in the admin budget (where
// a bot ID would be): Kore.ai counts Get Bots per account, not per bot.
const adminBudgetKey = "admin-api"

// adminLimits keep the Get Bots API under Kore.ai's per-account admin limits
// (60 a minute, 1,800 an hour, SPEC §1.1) with the same headroom as the
// per-bot defaults. One listing of 1,000 bots is 20 pages.
var adminLimits = budget.Limits{BotPerMinute: 50, BotPerHour: 1500}

// startBackground starts bot discovery (environments with discoverBots) and
// refresh-ahead watching (environments with watchInterval > 0); Close stops
// both. Neither makes New wait for Kore.ai: until a first list arrives an
// environment has its configured bots, and until a first round a watched
// query is served as any other.
func (g *Gateway) startBackground(cat *catalog.Catalog, fetchers map[string]loader.Fetcher, jobs cache.JobCache, policy cache.Policy, opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Discovery = map[string]*discovery.Refresher{}
	g.Watchers = map[string]*watch.Watcher{}
	var admin budget.Budget
	if g.redis != nil {
		admin = budget.NewRedis(g.redis, func(string) budget.Limits { return adminLimits }, opts.Logger, func(error) { g.obs.metrics.RedisError() })
	} else {
		admin = budget.NewLocal(func(string) budget.Limits { return adminLimits })
	}
	m := g.obs.metrics
	for _, e := range g.cfg.Environments {
		env, err := cat.Lookup(e.Name)
		if err != nil {
			continue // cannot happen: the catalog is built from the same list
		}
		lister, ok := fetchers[e.Name].(discovery.Lister)
		if e.DiscoverBots && ok {
			name := e.Name
			r := discovery.New(env, lister, discovery.Options{
				TTL:    g.cfg.Cache.BotListTTL.Duration(),
				Redis:  g.redis,
				Gate:   func(ctx context.Context) error { return admin.Allow(ctx, name, adminBudgetKey) },
				Logger: opts.Logger,
				Now:    opts.Now,
				OnSync: func(outcome string, bots int) { m.DiscoverySync(name, outcome, bots) },
			})
			r.Start(ctx)
			g.Discovery[name] = r
		}
		if interval := e.WatchInterval.Duration(); interval > 0 {
			name := e.Name
			if perMin := int(time.Minute / interval); e.BotRatePerMinute > 0 && perMin > e.BotRatePerMinute {
				g.log.Warn("watchInterval reads each bot more often than botRatePerMinute allows; some reads will be refused and answers served stale",
					"environment", name, "readsPerMinute", perMin, "botRatePerMinute", e.BotRatePerMinute)
			}
			var puller watch.Puller
			if t, ok := jobs.(*cache.Tiered); ok {
				puller = t
			}
			w := watch.New(g.Source, jobs, watch.Options{
				Environment: name,
				Interval:    interval,
				Policy:      policy,
				Bots:        env.Known,
				Redis:       g.redis,
				Puller:      puller,
				// One batch is one upstream round trip of the environment:
				// its answers reach the other replicas right after.
				BatchSize: e.Concurrency,
				Logger:    opts.Logger,
				Now:       opts.Now,
				OnPoll:    func(polled, failed int, lag time.Duration) { m.WatchPolls(name, polled, failed, lag) },
				OnLead:    func(leading bool) { m.WatchLeader(name, leading) },
			})
			w.Start(ctx)
			g.Watchers[name] = w
		}
	}
	g.closers = append(g.closers, func() error {
		cancel()
		for _, w := range g.Watchers {
			_ = w.Close()
		}
		for _, r := range g.Discovery {
			_ = r.Close()
		}
		return nil
	})
}

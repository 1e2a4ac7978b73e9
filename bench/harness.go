package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/testkit"
)

// harness holds what every topology shares: the binaries, Redis and the two
// counting proxies in front of it (one for the gateway replicas, one for the
// REST and MGET floors).
type harness struct {
	opts options
	log  *slog.Logger
	dir  string
	// bins are the publishgate binaries: bins[0] the new one, bins[1] the
	// old one with -baseline.
	bins      []binary
	buildTime time.Duration // what building the binaries took
	self      string        // this binary (REST role; gateway and simulators with -self)
	redis     *testkit.Redis
	gwProxy   *redisProxy
	restProxy *redisProxy
	http      *http.Client
	// profileRep counts the recordings of each cell (-profile).
	profileRep map[string]int
}

// newHarness builds (or finds) the binaries and starts Redis and the proxies.
func newHarness(ctx context.Context, opts options, log *slog.Logger) (h *harness, err error) {
	h = &harness{opts: opts, log: log, profileRep: map[string]int{}}
	h.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}, Timeout: 30 * time.Second}
	if h.dir, err = os.MkdirTemp("", "publishgate-bench-"); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	if h.self, err = os.Executable(); err != nil {
		return h, fmt.Errorf("own binary: %w", err)
	}
	start := time.Now()
	if h.bins, err = buildBinaries(ctx, opts, h.dir, log); err != nil {
		return h, err
	}
	h.buildTime = time.Since(start)
	if h.redis, err = testkit.StartRedis(h.dir, 0); err != nil {
		return h, err
	}
	if h.gwProxy, err = startRedisProxy(h.redis.Addr, log); err != nil {
		return h, err
	}
	if h.restProxy, err = startRedisProxy(h.redis.Addr, log); err != nil {
		return h, err
	}
	for _, b := range h.bins {
		log.Info("binary", "name", b.name, "is", b.label)
	}
	log.Info("bench ready", "dir", h.dir, "redis", h.redis.Addr)
	return h, nil
}

// order is the binaries in the order every repetition runs them: the old
// one first, then the new one (old, new, old, new...).
func (h *harness) order() []binary {
	out := slices.Clone(h.bins)
	slices.Reverse(out)
	return out
}

// close stops Redis and the proxies and removes the work directory (unless -keep).
func (h *harness) close() {
	if h.gwProxy != nil {
		_ = h.gwProxy.Close()
	}
	if h.restProxy != nil {
		_ = h.restProxy.Close()
	}
	if h.redis != nil {
		h.redis.Stop()
	}
	if h.dir != "" && !h.opts.keep {
		_ = os.RemoveAll(h.dir)
	} else if h.dir != "" {
		h.log.Info("kept the work directory", "dir", h.dir)
	}
}

// startChild starts a gateway or a simulator: a subcommand of the publishgate
// binary b, or a role of this one when b has no path (-self). realExtra are
// arguments only the real subcommand takes.
func (h *harness) startChild(ctx context.Context, b binary, name, role string, args []string, realExtra ...string) (*proc, error) {
	if b.path == "" {
		return h.startRole(ctx, name, h.self, role, args)
	}
	sub := map[string]string{roleGateway: "serve", roleSimulate: "simulate"}[role]
	return startProc(ctx, name, h.dir, b.path, append(append([]string{sub}, args...), realExtra...), nil)
}

// startRole starts bin as the given role (roleEnv).
func (h *harness) startRole(ctx context.Context, name, bin, role string, args []string) (*proc, error) {
	return startProc(ctx, name, h.dir, bin, args, []string{roleEnv + "=" + role})
}

// flushRedis empties Redis (between topologies and cache configurations).
func (h *harness) flushRedis(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: h.redis.Addr})
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	return nil
}

// cellRun is one workload on one topology. Its floors are measured once per
// repetition and shared by both binaries; its gateway part runs with each
// binary in turn, next to them.
type cellRun struct {
	name string
	// skip, when not empty, says why the workload does not run here.
	skip   string
	floors func(ctx context.Context, t *topology) (map[string]sample, error)
	// gateway measures binary b and returns one result per cell it fills
	// (warm also fills warm-fresh; defer fills defer-first and
	// defer-healthy, with floors of its own).
	gateway func(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error)
}

// result is one repetition of one cell.
type result struct {
	workload string
	rep
}

// cellRuns lists the workloads of opts in the order they run on t.
func (h *harness) cellRuns(t *topology) []cellRun {
	var out []cellRun
	for _, w := range allWorkloads {
		if !h.opts.has(w) {
			continue
		}
		c := cellRun{name: w}
		switch w {
		case workCold:
			c.floors, c.gateway = h.coldFloors, h.cold
		case workColdBudget:
			c.floors, c.gateway, c.skip = h.coldFloors, h.coldBudget, t.budgetSkip()
		case workWarm:
			c.floors, c.gateway = h.warmFloors, h.warm
		case workMixed:
			c.floors, c.gateway = h.mixedFloors, h.mixed
		case workHerd:
			c.floors, c.gateway = h.coldFloors, h.herdCell(workHerd, false)
		case workHerdBudget:
			c.floors, c.gateway, c.skip = h.coldFloors, h.herdCell(workHerdBudget, true), t.budgetSkip()
		case workDefer:
			c.gateway = h.deferredRun
			if len(t.envs) < 2 {
				c.skip = "needs two hosts or more (one hangs)"
			}
		}
		out = append(out, c)
	}
	return out
}

// runTopology starts the processes of one (bots, hosts) combination, runs
// every workload opts.reps times (each repetition with every binary in
// turn, next to the same floors), adds the results to rp and stops them.
func (h *harness) runTopology(ctx context.Context, rp *report, nBots, nHosts int) error {
	t := newTopology(h, nBots, nHosts)
	defer t.stop()
	log := h.log.With("bots", nBots, "hosts", len(t.envs))
	log.Info("topology")
	if err := h.flushRedis(ctx); err != nil {
		return err
	}
	if err := t.startSimulators(ctx); err != nil {
		return err
	}
	if err := t.startREST(ctx); err != nil {
		return err
	}
	key := func(w string) cellKey { return cellKey{w, nBots, len(t.envs)} }
	for _, c := range h.cellRuns(t) {
		if c.skip != "" {
			rp.skip(key(c.name), c.skip)
			continue
		}
		for i := range h.opts.reps {
			var floors map[string]sample
			if c.floors != nil {
				var err error
				if floors, err = c.floors(ctx, t); err != nil {
					return fmt.Errorf("%s floors: %w", c.name, err)
				}
			}
			for _, b := range h.order() {
				log.Info(c.name, "rep", i+1, "binary", b.name)
				res, err := c.gateway(ctx, t, b, floors)
				if err != nil {
					return fmt.Errorf("%s (%s binary): %w", c.name, b.name, err)
				}
				for _, r := range res {
					rp.add(key(r.workload), b.name, r.rep)
				}
			}
		}
	}
	return nil
}

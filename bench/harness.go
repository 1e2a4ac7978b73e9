package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/internal/testkit"
)

// harness holds what every topology shares: the binaries, Redis and the two
// counting proxies in front of it (one for the gateway replicas, one for the
// REST and MGET floors).
type harness struct {
	opts      options
	log       *slog.Logger
	dir       string
	gwBin     string // the publishgate binary
	self      string // this binary (REST role; gateway and simulators with --self)
	redis     *testkit.Redis
	gwProxy   *redisProxy
	restProxy *redisProxy
	http      *http.Client
}

// newHarness builds (or finds) the binaries and starts Redis and the proxies.
func newHarness(ctx context.Context, opts options, log *slog.Logger) (h *harness, err error) {
	h = &harness{opts: opts, log: log}
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
	h.gwBin = opts.gatewayBin
	if h.gwBin == "" && !opts.self {
		if h.gwBin, err = buildGateway(ctx, h.dir, log); err != nil {
			return h, err
		}
	}
	if h.redis, err = testkit.StartRedis(h.dir, 0); err != nil {
		return h, err
	}
	if h.gwProxy, err = startRedisProxy(h.redis.Addr, log); err != nil {
		return h, err
	}
	if h.restProxy, err = startRedisProxy(h.redis.Addr, log); err != nil {
		return h, err
	}
	log.Info("bench ready", "dir", h.dir, "redis", h.redis.Addr, "gateway", h.gwBin)
	return h, nil
}

// buildGateway builds the publishgate binary of the module the harness is in.
func buildGateway(ctx context.Context, dir string, log *slog.Logger) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the harness inside the publishgate module, or pass -gateway-bin")
	}
	bin := filepath.Join(dir, "publishgate")
	log.Info("building the gateway", "module", filepath.Dir(mod))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return bin, nil
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
// binary, or a role of this one with --self. realExtra are arguments only the
// real subcommand takes.
func (h *harness) startChild(ctx context.Context, name, role string, args []string, realExtra ...string) (*proc, error) {
	if h.opts.self {
		return h.startRole(ctx, name, h.self, role, args)
	}
	sub := map[string]string{roleGateway: "serve", roleSimulate: "simulate"}[role]
	return startProc(ctx, name, h.dir, h.gwBin, append(append([]string{sub}, args...), realExtra...), nil)
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

// startPrimed empties Redis, (re)starts the replicas with every cache
// lifetime ttl and has one of them fetch every bot: the steady state of a
// fleet of dashboards, where every bot was seen before.
func (h *harness) startPrimed(ctx context.Context, t *topology, ttl time.Duration) error {
	if err := h.flushRedis(ctx); err != nil {
		return err
	}
	if err := t.startGateways(ctx, ttl); err != nil {
		return err
	}
	return h.warmUp(ctx, targets([]string{t.gateways[0].URL}, body(queryCold, t.refs)))
}

// runTopology starts the processes of one (bots, hosts) combination, runs
// every workload opts.reps times, adds the results to rep and stops them.
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
	if h.opts.has(workCold) || h.opts.has(workWarm) {
		if err := t.startGateways(ctx, time.Hour); err != nil {
			return err
		}
		for i := range h.opts.reps {
			if h.opts.has(workCold) {
				log.Info("cold", "rep", i+1)
				r, err := h.cold(ctx, t)
				if err != nil {
					return err
				}
				rp.add(key(workCold), r)
			}
			if h.opts.has(workWarm) {
				log.Info("warm", "rep", i+1)
				w, f, err := h.warm(ctx, t)
				if err != nil {
					return err
				}
				rp.add(key(workWarm), w)
				if len(t.gateways) > 1 {
					rp.add(key(workWarmFresh), f)
				}
			}
		}
	}
	if h.opts.has(workMixed) {
		if err := h.startPrimed(ctx, t, h.opts.shortTTL); err != nil {
			return err
		}
		bodies := mixedBodies(t, 64)
		for i := range h.opts.reps {
			log.Info("mixed", "rep", i+1)
			r, err := h.mixed(ctx, t, bodies)
			if err != nil {
				return err
			}
			rp.add(key(workMixed), r)
		}
	}
	if h.opts.has(workHerd) {
		if err := h.startPrimed(ctx, t, h.opts.herdTTL); err != nil {
			return err
		}
		for i := range h.opts.reps {
			log.Info("herd", "rep", i+1)
			r, err := h.herd(ctx, t)
			if err != nil {
				return err
			}
			rp.add(key(workHerd), r)
		}
	}
	// Last: the hanging host keeps requests open until the topology stops.
	if h.opts.has(workDefer) && len(t.envs) > 1 {
		for i := range h.opts.reps {
			// Fresh replicas and an empty Redis: no breaker opened by the
			// last repetition's timeouts, no request of it still held, no
			// fill lock its killed replicas left on the hanging bots.
			if err := h.flushRedis(ctx); err != nil {
				return err
			}
			if err := t.startGateways(ctx, time.Hour); err != nil {
				return err
			}
			log.Info("defer", "rep", i+1)
			first, healthy, err := h.deferred(ctx, t)
			if err != nil {
				return err
			}
			rp.add(key(workDeferFirst), first)
			rp.add(key(workDeferHealthy), healthy)
		}
	}
	return nil
}

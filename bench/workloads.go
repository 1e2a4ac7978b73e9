package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// sample is what one repetition measured for the gateway or for its floor.
// NaN marks a figure that does not apply (a floor with no CPU of its own).
type sample struct {
	p50, p90, p99  time.Duration
	rate           float64 // sustained rate meeting the SLO (requests/s)
	cpuMs          float64 // CPU milliseconds per request
	allocs         float64 // allocations per request
	upstream       float64 // upstream requests per query
	conns          float64 // new upstream connections per query
	redisRT        float64 // Redis round trips per query
	upstreamPerBot float64 // herd: upstream requests per bot
	maxPerBot      float64 // herd: the most upstream requests one bot received
	lifetimes      float64 // herd: cache lifetimes the herd spanned (first send to last answer)
	queries        int
	failed         int
	firstErr       string
}

// rep is one repetition of a cell: the gateway and its floor, side by side.
type rep struct{ gw, floor sample }

// newSample is a sample whose every figure is "does not apply".
func newSample() sample {
	n := math.NaN()
	return sample{rate: n, cpuMs: n, allocs: n, upstream: n, conns: n, redisRT: n, upstreamPerBot: n, maxPerBot: n, lifetimes: n}
}

// latencies fills the latency figures of s from r.
func (s *sample) latencies(r loadResult) {
	s.p50, s.p90, s.p99 = r.quantile(0.5), r.quantile(0.9), r.quantile(0.99)
	s.queries, s.failed, s.firstErr = r.ok(), r.failed, r.firstErr
}

// pass drives tgts as spec says and returns the latencies and the per-query
// costs of m's processes. With settle > 0 it waits for background upstream
// work the pass started (stale-while-revalidate) before reading the counters.
func (h *harness) pass(ctx context.Context, t *topology, m *measured, tgts []vegeta.Target, spec attackSpec, settle time.Duration) (sample, loadResult, error) {
	s := newSample()
	before, err := h.read(ctx, t, m)
	if err != nil {
		return s, loadResult{}, err
	}
	r := h.attack(ctx, tgts, spec)
	if settle > 0 {
		if err := h.quiesce(ctx, t, settle); err != nil {
			return s, r, err
		}
	}
	after, err := h.read(ctx, t, m)
	if err != nil {
		return s, r, err
	}
	s.latencies(r)
	n := float64(r.ok() + r.failed)
	if n == 0 {
		return s, r, fmt.Errorf("no request completed (%s)", r.firstErr)
	}
	d := after.sub(before)
	s.upstream = float64(d.upstream) / n
	s.conns = float64(d.connections) / n
	s.redisRT = float64(d.redisTurns) / n
	s.cpuMs = float64(d.cpuTicks) * float64(clockTick.Milliseconds()) / n
	s.allocs = max(0, d.mallocs-m.scrapeMallocs) / n
	s.maxPerBot = float64(d.maxPerBot())
	return s, r, nil
}

// warmUp sends one request to every target (connections, JIT-free Go, but
// caches and pools), failing on any error.
func (h *harness) warmUp(ctx context.Context, tgts []vegeta.Target) error {
	r := h.attack(ctx, tgts, attackSpec{burst: len(tgts)})
	if r.failed > 0 {
		return fmt.Errorf("warm-up: %s", r.firstErr)
	}
	return nil
}

// cold: every query misses (refresh: true), one replica, one query at a
// time; the floor is the plain Go client firing the same GETs.
func (h *harness) cold(ctx context.Context, t *topology) (rep, error) {
	out := rep{floor: newSample()}
	fr, err := h.coldFloor(ctx, t, h.opts.floorIters)
	if err != nil {
		return out, err
	}
	out.floor.latencies(fr)
	out.floor.upstream, out.floor.conns = float64(t.nBots), 0
	gw := t.gateways[0]
	m := &measured{procs: []*proc{gw}, proxy: h.gwProxy}
	tg := targets([]string{gw.URL}, body(queryCold, t.refs))
	if err := h.warmUp(ctx, tg); err != nil {
		return out, err
	}
	if err := h.calibrate(ctx, m); err != nil {
		return out, err
	}
	out.gw, _, err = h.pass(ctx, t, m, tg, attackSpec{rate: h.opts.coldRate, duration: h.opts.duration, sequential: true}, 0)
	if err != nil {
		return out, fmt.Errorf("cold: %w", err)
	}
	if h.opts.ladder {
		out.gw.rate = h.sustained(ctx, tg, h.opts.coldRate, 2*out.floor.p50)
	}
	return out, nil
}

// warm: every query hits a replica that holds the bots (its local copy in
// front of Redis), next to the REST floor on the same cache; and warmFresh:
// the first query on a replica that never saw them (Redis only), next to one
// MGET of the same keys.
func (h *harness) warm(ctx context.Context, t *topology) (warm, fresh rep, err error) {
	warm, fresh = rep{gw: newSample(), floor: newSample()}, rep{gw: newSample(), floor: newSample()}
	gw := t.gateways[0]
	cold := targets([]string{gw.URL}, body(queryCold, t.refs))
	if err := h.warmUp(ctx, cold); err != nil { // fills Redis and this replica
		return warm, fresh, err
	}
	warmBody := body(queryWarm, t.refs)
	if last := len(t.gateways) - 1; last > 0 {
		if err := t.restartGateway(ctx, last); err != nil {
			return warm, fresh, err
		}
		g := t.gateways[last]
		// The same query with no bot first: the replica's connections, query
		// parsing and caches are warm, its copy of the bots is not.
		if err := h.warmUp(ctx, targets([]string{g.URL, g.URL, g.URL}, body(queryWarm, nil))); err != nil {
			return warm, fresh, err
		}
		m := &measured{procs: []*proc{g}, proxy: h.gwProxy}
		if err := h.calibrate(ctx, m); err != nil {
			return warm, fresh, err
		}
		fresh.gw, _, err = h.pass(ctx, t, m, targets([]string{g.URL}, warmBody), attackSpec{burst: 1}, 0)
		if err != nil {
			return warm, fresh, fmt.Errorf("warm, fresh replica: %w", err)
		}
		fr, err := h.mgetFloor(ctx, t, h.restProxy.Addr(), h.opts.floorIters*5)
		if err != nil {
			return warm, fresh, err
		}
		fresh.floor.latencies(fr)
		fresh.floor.redisRT, fresh.floor.upstream = 1, 0
	}

	tg := targets([]string{gw.URL}, warmBody)
	m := &measured{procs: []*proc{gw}, proxy: h.gwProxy}
	if err := h.warmUp(ctx, tg); err != nil {
		return warm, fresh, err
	}
	if err := h.calibrate(ctx, m); err != nil {
		return warm, fresh, err
	}
	rate := rateFor(h.opts.warmRate, t.nBots)
	spec := attackSpec{rate: rate, duration: h.opts.duration}
	if warm.gw, _, err = h.pass(ctx, t, m, tg, spec, 0); err != nil {
		return warm, fresh, fmt.Errorf("warm: %w", err)
	}
	rt := targets([]string{t.rest.URL}, warmBody)
	mr := &measured{procs: []*proc{t.rest}, proxy: h.restProxy}
	if err := h.warmUp(ctx, rt); err != nil {
		return warm, fresh, err
	}
	if err := h.calibrate(ctx, mr); err != nil {
		return warm, fresh, err
	}
	if warm.floor, _, err = h.pass(ctx, t, mr, rt, spec, 0); err != nil {
		return warm, fresh, fmt.Errorf("warm, REST floor: %w", err)
	}
	if h.opts.ladder {
		slo := max(h.opts.warmSLO, 5*warm.floor.p50)
		warm.gw.rate = h.sustained(ctx, tg, rate, slo)
		warm.floor.rate = h.sustained(ctx, rt, rate, slo)
	}
	return warm, fresh, nil
}

// mixedBodies draws the queries of the mixed workload: each asks for a tenth
// of the bots (at least 10), picked by a Zipf law over the topology's bots
// (a few bots are on every dashboard, most on few), seeded so that every run
// sends the same queries.
func mixedBodies(t *topology, n int) [][]byte {
	r := rand.New(rand.NewPCG(8, uint64(t.nBots)))
	zipf := rand.NewZipf(r, 1.2, 1, uint64(t.nBots-1))
	size := min(t.nBots, max(10, t.nBots/10))
	out := make([][]byte, n)
	for i := range out {
		seen := map[int]bool{}
		var refs []botRef
		for tries := 0; len(refs) < size && tries < 100*size; tries++ {
			k := int(zipf.Uint64())
			if !seen[k] {
				seen[k] = true
				refs = append(refs, t.refs[k])
			}
		}
		out[i] = body(queryWarm, refs)
	}
	return out
}

// mixed: skewed popularity with every lifetime short (--short-ttl), over all
// replicas, after every bot was seen once; the floor is the REST handler on
// the same queries (the cache without freshness, coalescing or upstream).
func (h *harness) mixed(ctx context.Context, t *topology, bodies [][]byte) (rep, error) {
	out := rep{}
	var bases []string
	for _, g := range t.gateways {
		bases = append(bases, g.URL)
	}
	tg := targets(bases, bodies...)
	m := &measured{procs: t.gateways, proxy: h.gwProxy}
	if err := h.calibrate(ctx, m); err != nil {
		return out, err
	}
	settle := 3 * h.opts.latency
	rate := rateFor(h.opts.mixedRate, t.nBots)
	spec := attackSpec{rate: rate, duration: h.opts.duration}
	var err error
	if out.gw, _, err = h.pass(ctx, t, m, tg, spec, settle); err != nil {
		return out, fmt.Errorf("mixed: %w", err)
	}
	rt := targets([]string{t.rest.URL}, bodies...)
	mr := &measured{procs: []*proc{t.rest}, proxy: h.restProxy}
	if err := h.calibrate(ctx, mr); err != nil {
		return out, err
	}
	if out.floor, _, err = h.pass(ctx, t, mr, rt, spec, 0); err != nil {
		return out, fmt.Errorf("mixed, REST floor: %w", err)
	}
	out.floor.upstream, out.floor.conns = 0, 0
	if h.opts.ladder {
		out.gw.rate = h.sustained(ctx, tg, rate, 2*h.opts.latency)
	}
	return out, nil
}

// herd: one replica fills every bot, the lifetime passes, then --herd
// identical queries for every bot arrive at once, spread over the replicas.
// The figure that matters is upstream requests per bot (at most 1 per TTL);
// the floor is the plain client's cold fetch of the same bots.
func (h *harness) herd(ctx context.Context, t *topology) (rep, error) {
	out := rep{floor: newSample()}
	fr, err := h.coldFloor(ctx, t, h.opts.floorIters)
	if err != nil {
		return out, err
	}
	out.floor.latencies(fr)
	out.floor.upstream, out.floor.upstreamPerBot = float64(t.nBots), 1
	if err := h.quiesce(ctx, t, 3*h.opts.latency); err != nil {
		return out, err
	}
	if err := h.warmUp(ctx, targets([]string{t.gateways[0].URL}, body(queryCold, t.refs))); err != nil {
		return out, err
	}
	filled := time.Now()
	var bases []string
	for _, g := range t.gateways {
		bases = append(bases, g.URL)
	}
	tg := targets(bases, body(queryWarm, t.refs))
	m := &measured{procs: t.gateways, proxy: h.gwProxy}
	if err := h.calibrate(ctx, m); err != nil {
		return out, err
	}
	// Waiting for a lifetime to pass is what this workload is about: the
	// clock is the event, so it is slept for, not polled.
	select {
	case <-ctx.Done():
		return out, ctx.Err()
	case <-time.After(time.Until(filled.Add(h.opts.herdTTL + 50*time.Millisecond))):
	}
	s, r, err := h.pass(ctx, t, m, tg, attackSpec{burst: h.opts.herd}, 3*h.opts.latency)
	if err != nil {
		return out, fmt.Errorf("herd: %w", err)
	}
	// The answers come right after expiry; the herd spans as many lifetimes
	// as its slowest answer takes (plus the 50 ms it started after expiry).
	s.lifetimes = math.Ceil(float64(r.quantile(1)+50*time.Millisecond) / float64(h.opts.herdTTL))
	s.upstreamPerBot = s.upstream * float64(s.queries+s.failed) / float64(t.nBots)
	out.gw = s
	return out, nil
}

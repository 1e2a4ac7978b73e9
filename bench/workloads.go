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
	redisRT        float64 // Redis round trips per query (handshakes apart)
	handshakes     float64 // Redis connection set-ups per query
	redisNodes     float64 // distinct Redis nodes the pass made round trips to
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
	return sample{rate: n, cpuMs: n, allocs: n, upstream: n, conns: n, redisRT: n, handshakes: n, redisNodes: n, upstreamPerBot: n, maxPerBot: n, lifetimes: n}
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
	return h.passOf(ctx, t, m, func() loadResult { return h.attack(ctx, tgts, spec) }, settle)
}

// passOf is pass with the load driven by drive.
func (h *harness) passOf(ctx context.Context, t *topology, m *measured, drive func() loadResult, settle time.Duration) (sample, loadResult, error) {
	s := newSample()
	before, err := h.read(ctx, t, m)
	if err != nil {
		return s, loadResult{}, err
	}
	r := drive()
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
	s.handshakes = float64(d.redisHandshakes) / n
	s.redisNodes = float64(d.nodes())
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

// noRedis marks a floor that makes no Redis call (the plain client).
func (s *sample) noRedis() { s.redisRT, s.handshakes, s.redisNodes = 0, 0, 0 }

// coldFloors is the floor of cold, herd and their budget variants: the
// plain Go client firing the same GETs.
func (h *harness) coldFloors(ctx context.Context, t *topology) (map[string]sample, error) {
	s := newSample()
	fr, err := h.coldFloor(ctx, t, h.opts.floorIters)
	if err != nil {
		return nil, err
	}
	s.latencies(fr)
	s.upstream, s.conns, s.upstreamPerBot = float64(t.nBots), 0, 1
	s.noRedis()
	return map[string]sample{workCold: s}, nil
}

// cold: every query misses (refresh: true), one replica, one query at a
// time; the floor is the plain Go client firing the same GETs.
func (h *harness) cold(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error) {
	if _, err := t.use(ctx, b, gatewayConfig{ttl: time.Hour}); err != nil {
		return nil, err
	}
	gw := t.gateways[0]
	m := &measured{procs: []*proc{gw}, proxies: []*redisProxy{h.gwProxy}}
	tg := targets([]string{gw.URL}, body(queryCold, t.refs))
	if err := h.warmUp(ctx, tg); err != nil {
		return nil, err
	}
	if err := h.calibrate(ctx, m); err != nil {
		return nil, err
	}
	rec := h.record(ctx, gw, workCold, t, h.opts.duration)
	s, _, err := h.pass(ctx, t, m, tg, attackSpec{rate: h.opts.coldRate, duration: h.opts.duration, sequential: true}, 0)
	if perr := rec.wait(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("cold: %w", err)
	}
	fl := floors[workCold]
	if h.opts.ladder {
		s.rate = h.sustained(ctx, tg, h.opts.coldRate, 2*fl.p50)
	}
	return []result{{workCold, rep{s, fl}}}, nil
}

// warmFloors are the floors of warm and warm-fresh: the REST handler on the
// same cache, and one MGET of the same keys, both over the bots' jobs as the
// harness's cache package stores them (primeFloors), so that they do not
// depend on the key names of the binary measured.
func (h *harness) warmFloors(ctx context.Context, t *topology) (map[string]sample, error) {
	if err := h.primeFloors(ctx, t); err != nil {
		return nil, err
	}
	out := map[string]sample{}
	fresh := newSample()
	fr, rt, err := h.mgetFloor(ctx, t, h.opts.floorIters*5)
	if err != nil {
		return nil, err
	}
	fresh.latencies(fr)
	fresh.redisRT, fresh.redisNodes, fresh.upstream = rt, 1, 0
	out[workWarmFresh] = fresh

	rt2 := targets([]string{t.rest.URL}, body(queryWarm, t.refs))
	mr := &measured{procs: []*proc{t.rest}, proxies: []*redisProxy{h.restProxy}}
	if err := h.warmUp(ctx, rt2); err != nil {
		return nil, err
	}
	if err := h.calibrate(ctx, mr); err != nil {
		return nil, err
	}
	rate := rateFor(h.opts.warmRate, t.nBots)
	warm, _, err := h.pass(ctx, t, mr, rt2, attackSpec{rate: rate, duration: h.opts.duration}, 0)
	if err != nil {
		return nil, fmt.Errorf("warm, REST floor: %w", err)
	}
	if h.opts.ladder {
		warm.rate = h.sustained(ctx, rt2, rate, h.warmSLO(warm))
	}
	out[workWarm] = warm
	return out, nil
}

// warmSLO is the warm ladder's latency target: -warm-slo, or 5× the REST
// floor's p50 when that is more.
func (h *harness) warmSLO(floor sample) time.Duration { return max(h.opts.warmSLO, 5*floor.p50) }

// warm: every query hits a replica that holds the bots (its local copy in
// front of Redis), next to the REST floor on the same cache; and warmFresh:
// the first query on a replica that never saw them (Redis only), next to one
// MGET of the same keys.
func (h *harness) warm(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error) {
	if _, err := t.use(ctx, b, gatewayConfig{ttl: time.Hour}); err != nil {
		return nil, err
	}
	var out []result
	gw := t.gateways[0]
	cold := targets([]string{gw.URL}, body(queryCold, t.refs))
	if err := h.warmUp(ctx, cold); err != nil { // fills Redis and this replica
		return nil, err
	}
	warmBody := body(queryWarm, t.refs)
	if last := len(t.gateways) - 1; last > 0 {
		if err := t.restartGateway(ctx, b, last); err != nil {
			return nil, err
		}
		g := t.gateways[last]
		// The same query with no bot first: the replica's connections, query
		// parsing and caches are warm, its copy of the bots is not.
		if err := h.warmUp(ctx, targets([]string{g.URL, g.URL, g.URL}, body(queryWarm, nil))); err != nil {
			return nil, err
		}
		m := &measured{procs: []*proc{g}, proxies: []*redisProxy{h.gwProxy}}
		if err := h.calibrate(ctx, m); err != nil {
			return nil, err
		}
		fresh, _, err := h.pass(ctx, t, m, targets([]string{g.URL}, warmBody), attackSpec{burst: 1}, 0)
		if err != nil {
			return nil, fmt.Errorf("warm, fresh replica: %w", err)
		}
		out = append(out, result{workWarmFresh, rep{fresh, floors[workWarmFresh]}})
	}

	tg := targets([]string{gw.URL}, warmBody)
	m := &measured{procs: []*proc{gw}, proxies: []*redisProxy{h.gwProxy}}
	if err := h.warmUp(ctx, tg); err != nil {
		return nil, err
	}
	if err := h.calibrate(ctx, m); err != nil {
		return nil, err
	}
	rate := rateFor(h.opts.warmRate, t.nBots)
	s, _, err := h.pass(ctx, t, m, tg, attackSpec{rate: rate, duration: h.opts.duration}, 0)
	if err != nil {
		return nil, fmt.Errorf("warm: %w", err)
	}
	if h.opts.ladder {
		s.rate = h.sustained(ctx, tg, rate, h.warmSLO(floors[workWarm]))
	}
	// warm first in the report, as before: the order cells first appear in.
	return append([]result{{workWarm, rep{s, floors[workWarm]}}}, out...), nil
}

// mixedBodies draws the queries of the mixed workload (once per topology):
// each asks for a tenth of the bots (at least 10), picked by a Zipf law
// over the topology's bots (a few bots are on every dashboard, most on few),
// seeded so that every run sends the same queries.
func mixedBodies(t *topology, n int) [][]byte {
	if t.mixed != nil {
		return t.mixed
	}
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
	t.mixed = out
	return out
}

// mixedFloors is the mixed workload's floor: the REST handler on the same
// queries (the cache without freshness, coalescing or upstream).
func (h *harness) mixedFloors(ctx context.Context, t *topology) (map[string]sample, error) {
	if err := h.primeFloors(ctx, t); err != nil {
		return nil, err
	}
	rt := targets([]string{t.rest.URL}, mixedBodies(t, 64)...)
	mr := &measured{procs: []*proc{t.rest}, proxies: []*redisProxy{h.restProxy}}
	if err := h.calibrate(ctx, mr); err != nil {
		return nil, err
	}
	spec := attackSpec{rate: rateFor(h.opts.mixedRate, t.nBots), duration: h.opts.duration}
	s, _, err := h.pass(ctx, t, mr, rt, spec, 0)
	if err != nil {
		return nil, fmt.Errorf("mixed, REST floor: %w", err)
	}
	s.upstream, s.conns = 0, 0
	return map[string]sample{workMixed: s}, nil
}

// mixed: skewed popularity with every lifetime short (--short-ttl), over all
// replicas, after every bot was seen once (when the replicas start: later
// repetitions of the same binary go on from the last one's state).
func (h *harness) mixed(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error) {
	started, err := t.use(ctx, b, gatewayConfig{ttl: h.opts.shortTTL})
	if err != nil {
		return nil, err
	}
	if started { // the steady state of a fleet of dashboards: every bot was seen before
		if err := h.warmUp(ctx, targets([]string{t.gateways[0].URL}, body(queryCold, t.refs))); err != nil {
			return nil, err
		}
	}
	var bases []string
	for _, g := range t.gateways {
		bases = append(bases, g.URL)
	}
	tg := targets(bases, mixedBodies(t, 64)...)
	m := &measured{procs: t.gateways, proxies: []*redisProxy{h.gwProxy}}
	if err := h.calibrate(ctx, m); err != nil {
		return nil, err
	}
	rate := rateFor(h.opts.mixedRate, t.nBots)
	s, _, err := h.pass(ctx, t, m, tg, attackSpec{rate: rate, duration: h.opts.duration}, 3*h.opts.latency)
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	if h.opts.ladder {
		s.rate = h.sustained(ctx, tg, rate, 2*h.opts.latency)
	}
	return []result{{workMixed, rep{s, floors[workMixed]}}}, nil
}

// herdCell is the gateway part of the herd cell named workload, with the
// budgets at their defaults or off, next to the plain client's floor.
func (h *harness) herdCell(workload string, budgets bool) func(context.Context, *topology, binary, map[string]sample) ([]result, error) {
	return func(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error) {
		s, err := h.herd(ctx, t, b, budgets)
		if err != nil {
			return nil, err
		}
		return []result{{workload, rep{s, floors[workCold]}}}, nil
	}
}

// herd: one replica fills every bot, the lifetime passes, then --herd
// identical queries for every bot arrive at once, spread over the replicas.
// The figure that matters is upstream requests per bot (at most 1 per TTL);
// the floor is the plain client's cold fetch of the same bots. With budgets
// (herd-budget) every budget window is refilled before the fill and again
// before the herd (see resetBudgets).
func (h *harness) herd(ctx context.Context, t *topology, b binary, budgets bool) (sample, error) {
	s := newSample()
	if _, err := t.use(ctx, b, gatewayConfig{ttl: h.opts.herdTTL, budgets: budgets}); err != nil {
		return s, err
	}
	if err := h.quiesce(ctx, t, 3*h.opts.latency); err != nil {
		return s, err
	}
	if budgets {
		if _, err := h.resetBudgets(ctx); err != nil {
			return s, err
		}
	}
	if err := h.warmUp(ctx, targets([]string{t.gateways[0].URL}, body(queryCold, t.refs))); err != nil {
		return s, err
	}
	filled := time.Now()
	var bases []string
	for _, g := range t.gateways {
		bases = append(bases, g.URL)
	}
	tg := targets(bases, body(queryWarm, t.refs))
	m := &measured{procs: t.gateways, proxies: []*redisProxy{h.gwProxy}}
	if err := h.calibrate(ctx, m); err != nil {
		return s, err
	}
	// Waiting for a lifetime to pass is what this workload is about: the
	// clock is the event, so it is slept for, not polled.
	select {
	case <-ctx.Done():
		return s, ctx.Err()
	case <-time.After(time.Until(filled.Add(h.opts.herdTTL + 50*time.Millisecond))):
	}
	if budgets { // the fill's windows; some may have refilled (and expired) already
		if _, err := h.resetBudgets(ctx); err != nil {
			return s, err
		}
	}
	s, r, err := h.pass(ctx, t, m, tg, attackSpec{burst: h.opts.herd}, 3*h.opts.latency)
	if err != nil {
		return s, fmt.Errorf("herd: %w", err)
	}
	// The answers come right after expiry; the herd spans as many lifetimes
	// as its slowest answer takes (plus the 50 ms it started after expiry).
	s.lifetimes = math.Ceil(float64(r.quantile(1)+50*time.Millisecond) / float64(h.opts.herdTTL))
	s.upstreamPerBot = s.upstream * float64(s.queries+s.failed) / float64(t.nBots)
	return s, nil
}

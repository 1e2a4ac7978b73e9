package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// cellKey names one cell of the matrix.
type cellKey struct {
	workload    string
	bots, hosts int
}

// report collects every repetition of every cell and renders the tables.
type report struct {
	opts    options
	args    []string
	started time.Time
	elapsed time.Duration
	order   []cellKey
	cells   map[cellKey][]rep
}

func newReport(opts options, args []string) *report {
	return &report{opts: opts, args: args, started: time.Now(), cells: map[cellKey][]rep{}}
}

func (r *report) add(k cellKey, x rep) {
	if _, ok := r.cells[k]; !ok {
		r.order = append(r.order, k)
	}
	r.cells[k] = append(r.cells[k], x)
}

// floorName says what each workload is compared with.
var floorName = map[string]string{
	workCold:      "plain Go client, same GETs",
	workWarm:      "REST handler, same cache",
	workWarmFresh: "one MGET, same keys",
	workMixed:     "REST handler, same queries",
	workHerd:      "plain Go client, same GETs",
	// the defer workload's floor: the same replica, the healthy hosts' bots
	// alone, without @defer
	workDeferFirst:   "healthy bots only, no @defer",
	workDeferHealthy: "healthy bots only, no @defer",
}

// stat is the median, minimum and maximum of one figure over repetitions.
type stat struct{ med, lo, hi float64 }

func statOf(xs []float64) stat {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stat{med, v[0], v[len(v)-1]}
}

// format renders a stat as "median [min–max]" with the given precision.
func (s stat) format(prec int) string {
	if math.IsNaN(s.med) {
		return "—"
	}
	f := func(x float64) string { return fmt.Sprintf("%.*f", prec, x) }
	if s.lo == s.hi {
		return f(s.med)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.med), f(s.lo), f(s.hi))
}

// figure picks one figure of a sample.
type figure func(sample) float64

func ms(d func(sample) time.Duration) figure {
	return func(s sample) float64 {
		if s.queries == 0 {
			return math.NaN()
		}
		return float64(d(s)) / float64(time.Millisecond)
	}
}

var (
	figP50    = ms(func(s sample) time.Duration { return s.p50 })
	figP90    = ms(func(s sample) time.Duration { return s.p90 })
	figP99    = ms(func(s sample) time.Duration { return s.p99 })
	figRate   = func(s sample) float64 { return s.rate }
	figCPU    = func(s sample) float64 { return s.cpuMs }
	figAllocs = func(s sample) float64 { return s.allocs }
)

// gw and ratio return the gateway's figure over the repetitions, and the
// per-repetition ratio to the floor's (side by side in the same repetition).
func gw(reps []rep, f figure) stat {
	var xs []float64
	for _, r := range reps {
		xs = append(xs, f(r.gw))
	}
	return statOf(xs)
}

func floorStat(reps []rep, f figure) stat {
	var xs []float64
	for _, r := range reps {
		xs = append(xs, f(r.floor))
	}
	return statOf(xs)
}

func ratio(reps []rep, f figure) stat {
	var xs []float64
	for _, r := range reps {
		if b := f(r.floor); b > 0 {
			xs = append(xs, f(r.gw)/b)
		}
	}
	return statOf(xs)
}

// markdown renders the whole report.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Benchmark run %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %d CPUs, %s, %s %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- command: `go run ./bench %s`\n", strings.Join(r.args, " "))
	o := r.opts
	fmt.Fprintf(&b, "- upstream latency %v; %d repetition(s) of %v passes; cold %g/s (one query in flight), warm %g/s, mixed %g/s with a %v lifetime (warm and mixed rates × 100/bots above 100 bots); %d replicas; herd of %d right after a %v lifetime; took %v\n",
		o.latency, o.reps, o.duration, o.coldRate, o.warmRate, o.mixedRate, o.shortTTL, o.replicas, o.herd, o.herdTTL, r.elapsed.Round(time.Second))
	b.WriteString("- figures: median [min–max] over repetitions; × = the gateway's figure divided by its floor's, in the same repetition\n\n")

	b.WriteString("### Latency (ms) and sustained rate\n\n")
	b.WriteString("| workload | bots | hosts | floor | p50 | floor p50 | × | p90 | × | p99 | floor p99 | × | rate/s at target | floor rate/s |\n")
	b.WriteString("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range r.order {
		reps := r.cells[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			k.workload, k.bots, k.hosts, floorName[k.workload],
			gw(reps, figP50).format(2), floorStat(reps, figP50).format(2), ratio(reps, figP50).format(2),
			gw(reps, figP90).format(2), ratio(reps, figP90).format(2),
			gw(reps, figP99).format(2), floorStat(reps, figP99).format(2), ratio(reps, figP99).format(2),
			gw(reps, figRate).format(0), floorStat(reps, figRate).format(0))
	}
	b.WriteString("\n### Cost per query\n\n")
	b.WriteString("| workload | bots | hosts | CPU ms | floor CPU ms | × | allocs | floor allocs | × | upstream req | upstream req/bot | most to one bot | new upstream conns | Redis round trips |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range r.order {
		if k.workload == workDeferFirst || k.workload == workDeferHealthy {
			continue // latency only: its cost is the cold workload's
		}
		reps := r.cells[k]
		perBot := gw(reps, func(s sample) float64 { return s.upstream / float64(k.bots) })
		if k.workload == workHerd {
			perBot = gw(reps, func(s sample) float64 { return s.upstreamPerBot })
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			k.workload, k.bots, k.hosts,
			gw(reps, figCPU).format(2), floorStat(reps, figCPU).format(2), ratio(reps, figCPU).format(2),
			gw(reps, figAllocs).format(0), floorStat(reps, figAllocs).format(0), ratio(reps, figAllocs).format(2),
			gw(reps, func(s sample) float64 { return s.upstream }).format(2), perBot.format(3),
			gw(reps, func(s sample) float64 { return s.maxPerBot }).format(0),
			gw(reps, func(s sample) float64 { return s.conns }).format(3),
			gw(reps, func(s sample) float64 { return s.redisRT }).format(2))
	}
	b.WriteString("\nRate at target: the highest rate of a doubling ladder whose p99 stays within the target with no failure " +
		"(cold: 2× the plain client's p50; warm: max(-warm-slo, 5× the REST floor's p50); mixed: 2× the upstream latency); " +
		"0 = even the first step missed, — = not measured. CPU from /proc/<pid>/stat (utime+stime, 10 ms ticks) of the measured processes " +
		"(cold, warm: the replica queried; mixed, herd: all replicas); allocations from go_memstats_mallocs_total, less one /metrics scrape; " +
		"upstream requests and new connections from the simulators' /_simulator/stats; Redis round trips counted by a proxy in front of Redis " +
		"(a pipeline is one; connection set-up — HELLO, AUTH, CLIENT SETINFO, SUBSCRIBE — is not counted). herd: upstream req/bot is what the whole herd caused, per bot; most to one bot is the largest count any single bot received in the pass. " +
		"defer (two hosts or more): the last host hangs (a simulator fault) while one replica answers, one at a time, a dashboard that defers every bot's status " +
		"(refresh: true, multipart/mixed); defer-first is the time to its first part, defer-healthy to the last healthy host's status; their floor is the same replica " +
		"asked for the healthy hosts' bots alone without @defer, alternating with it (-floor-iters of each per repetition).\n")
	b.WriteString(r.targets())
	if f := r.failures(); f != "" {
		fmt.Fprintf(&b, "\n**Failures**: %s\n", f)
	}
	return b.String()
}

// failures describes every failed request, "" when there was none.
func (r *report) failures() string {
	var out []string
	for _, k := range r.order {
		for i, x := range r.cells[k] {
			for _, s := range []struct {
				who string
				s   sample
			}{{"gateway", x.gw}, {"floor", x.floor}} {
				if s.s.failed > 0 {
					out = append(out, fmt.Sprintf("%s %d bots/%d hosts rep %d %s: %d failed (%s)", k.workload, k.bots, k.hosts, i+1, s.who, s.s.failed, s.s.firstErr))
				}
			}
		}
	}
	return strings.Join(out, "; ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

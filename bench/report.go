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
	bins    []binary
	started time.Time
	elapsed time.Duration
	// buildTime is what building the binaries took, before elapsed.
	buildTime time.Duration
	order     []cellKey
	// cells are the new binary's repetitions, base the old one's (with
	// -baseline): base[k][i] ran right before cells[k][i], next to the same
	// floors.
	cells   map[cellKey][]rep
	base    map[cellKey][]rep
	skipped []string
}

func newReport(opts options, args []string, bins []binary) *report {
	return &report{opts: opts, args: args, bins: bins, started: time.Now(), cells: map[cellKey][]rep{}, base: map[cellKey][]rep{}}
}

// add records one repetition of cell k run by the binary named bin.
func (r *report) add(k cellKey, bin string, x rep) {
	if _, ok := r.cells[k]; !ok {
		if _, ok := r.base[k]; !ok {
			r.order = append(r.order, k)
		}
	}
	if bin == binOld {
		r.base[k] = append(r.base[k], x)
		return
	}
	r.cells[k] = append(r.cells[k], x)
}

// skip records a cell that does not run, and why.
func (r *report) skip(k cellKey, why string) {
	r.skipped = append(r.skipped, fmt.Sprintf("%s, %d bots over %d hosts: %s", k.workload, k.bots, k.hosts, why))
}

// compared reports whether the run has an old binary to compare with.
func (r *report) compared() bool { return len(r.bins) > 1 }

// row is one line of a table: a cell as one binary ran it.
type row struct {
	k    cellKey
	bin  string
	reps []rep
}

// rows lists every cell, the new binary's line first, then the old one's.
func (r *report) rows() []row {
	var out []row
	for _, k := range r.order {
		out = append(out, row{k, binNew, r.cells[k]})
		if r.compared() {
			out = append(out, row{k, binOld, r.base[k]})
		}
	}
	return out
}

// lead renders a row's first columns (workload, bots, hosts and, when
// comparing, the binary).
func (r *report) lead(x row) string {
	s := fmt.Sprintf("| %s | %d | %d |", x.k.workload, x.k.bots, x.k.hosts)
	if r.compared() {
		s += " " + x.bin + " |"
	}
	return s
}

// head renders a table's header after the lead columns.
func (r *report) head(cols, align string) string {
	if r.compared() {
		return "| workload | bots | hosts | binary | " + cols + "\n|---|--:|--:|---|" + align + "\n"
	}
	return "| workload | bots | hosts | " + cols + "\n|---|--:|--:|" + align + "\n"
}

// floorName says what each workload is compared with.
var floorName = map[string]string{
	workCold:       "plain Go client, same GETs",
	workColdBudget: "plain Go client, same GETs",
	workHerdBudget: "plain Go client, same GETs",
	workWarm:       "REST handler, same cache",
	workWarmFresh:  "one MGET, same keys",
	workMixed:      "REST handler, same queries",
	workHerd:       "plain Go client, same GETs",
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
	figP50      = ms(func(s sample) time.Duration { return s.p50 })
	figP90      = ms(func(s sample) time.Duration { return s.p90 })
	figP99      = ms(func(s sample) time.Duration { return s.p99 })
	figRate     = func(s sample) float64 { return s.rate }
	figCPU      = func(s sample) float64 { return s.cpuMs }
	figAllocs   = func(s sample) float64 { return s.allocs }
	figUpstream = func(s sample) float64 { return s.upstream }
	figRedisRT  = func(s sample) float64 { return s.redisRT }
	figNodes    = func(s sample) float64 { return s.redisNodes }
	// figRTPerNode is the Redis round trips per query per node touched.
	figRTPerNode = func(s sample) float64 {
		if s.redisNodes > 0 {
			return s.redisRT / s.redisNodes
		}
		return math.NaN()
	}
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
	for _, bin := range r.bins {
		fmt.Fprintf(&b, "- %s binary: %s\n", bin.name, bin.label)
	}
	o := r.opts
	fmt.Fprintf(&b, "- upstream latency %v; %d repetition(s) of %v passes; cold %g/s (one query in flight), warm %g/s, mixed %g/s with a %v lifetime (warm and mixed rates × 100/bots above 100 bots); %d replicas; herd of %d right after a %v lifetime; took %v after %v building the binaries\n",
		o.latency, o.reps, o.duration, o.coldRate, o.warmRate, o.mixedRate, o.shortTTL, o.replicas, o.herd, o.herdTTL, r.elapsed.Round(time.Second), r.buildTime.Round(time.Second))
	env, bot, hour := budgetLimits()
	fmt.Fprintf(&b, "- budgets: off, except in cold-budget and herd-budget: ratePerMinute %d, botRatePerMinute %d, botRatePerHour %d (the defaults), every window refilled before each measured query (cold-budget) or fill and herd (herd-budget); the simulators' Kore limits off\n", env, bot, hour)
	b.WriteString("- figures: median [min–max] over repetitions; × = the gateway's figure divided by its floor's, in the same repetition")
	if r.compared() {
		b.WriteString("; new/old = the new binary's figure divided by the old one's, in the same repetition (they run alternately, old then new, next to the same floors)")
	}
	b.WriteString("\n\n")
	if r.compared() {
		b.WriteString(r.comparison())
	}

	b.WriteString("### Latency (ms) and sustained rate\n\n")
	b.WriteString(r.head("floor | p50 | floor p50 | × | p90 | × | p99 | floor p99 | × | rate/s at target | floor rate/s |", "---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"))
	for _, x := range r.rows() {
		reps := x.reps
		fmt.Fprintf(&b, "%s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.lead(x), floorName[x.k.workload],
			gw(reps, figP50).format(2), floorStat(reps, figP50).format(2), ratio(reps, figP50).format(2),
			gw(reps, figP90).format(2), ratio(reps, figP90).format(2),
			gw(reps, figP99).format(2), floorStat(reps, figP99).format(2), ratio(reps, figP99).format(2),
			gw(reps, figRate).format(0), floorStat(reps, figRate).format(0))
	}
	b.WriteString("\n### Cost per query\n\n")
	b.WriteString(r.head("CPU ms | floor CPU ms | × | allocs | floor allocs | × | upstream req | upstream req/bot | most to one bot | new upstream conns | Redis round trips | Redis handshakes | Redis nodes | round trips/node | floor Redis round trips |",
		"--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"))
	for _, x := range r.rows() {
		reps, k := x.reps, x.k
		perBot := gw(reps, func(s sample) float64 { return s.upstream / float64(k.bots) })
		if k.workload == workHerd || k.workload == workHerdBudget {
			perBot = gw(reps, func(s sample) float64 { return s.upstreamPerBot })
		}
		fmt.Fprintf(&b, "%s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.lead(x),
			gw(reps, figCPU).format(2), floorStat(reps, figCPU).format(2), ratio(reps, figCPU).format(2),
			gw(reps, figAllocs).format(0), floorStat(reps, figAllocs).format(0), ratio(reps, figAllocs).format(2),
			gw(reps, figUpstream).format(2), perBot.format(3),
			gw(reps, func(s sample) float64 { return s.maxPerBot }).format(0),
			gw(reps, func(s sample) float64 { return s.conns }).format(3),
			gw(reps, figRedisRT).format(2),
			gw(reps, func(s sample) float64 { return s.handshakes }).format(2),
			gw(reps, figNodes).format(0), gw(reps, figRTPerNode).format(2),
			floorStat(reps, figRedisRT).format(2))
	}
	b.WriteString("\nRate at target: the highest rate of a doubling ladder whose p99 stays within the target with no failure " +
		"(cold: 2× the plain client's p50; warm: max(-warm-slo, 5× the REST floor's p50); mixed: 2× the upstream latency); " +
		"0 = even the first step missed, — = not measured (the budget cells bound the rate by design). CPU from /proc/<pid>/stat (utime+stime, 10 ms ticks) of the measured processes " +
		"(cold, warm: the replica queried; mixed, herd: all replicas); allocations from go_memstats_mallocs_total, less one /metrics scrape; " +
		"upstream requests and new connections from the simulators' /_simulator/stats; Redis round trips counted by a proxy in front of Redis " +
		"(a pipeline is one); connection set-ups (HELLO, AUTH, CLIENT SETINFO, SUBSCRIBE) are counted apart as handshakes; Redis nodes is the number of Redis nodes the queries made round trips to " +
		"(the harness runs one Redis, so 1, or 0 when a query needed none), and round trips/node divides by it. " +
		"The warm REST and MGET floors read the bots' jobs as the harness's own cache package stores them, written before each repetition, so that both binaries share them. " +
		"herd: upstream req/bot is what the whole herd caused, per bot; most to one bot is the largest count any single bot received in the pass. " +
		"defer (two hosts or more): the last host hangs (a simulator fault) while one replica answers, one at a time, a dashboard that defers every bot's status " +
		"(refresh: true, multipart/mixed); defer-first is the time to its first part, defer-healthy to the last healthy host's status; their floor is the same replica " +
		"asked for the healthy hosts' bots alone without @defer, alternating with it (-floor-iters of each per repetition), so each binary has its own; their Redis round trips are the deferred query's, read around each, and their CPU and allocations are not measured.\n")
	if len(r.skipped) > 0 {
		b.WriteString("\n### Cells not run\n\n")
		for _, s := range r.skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	b.WriteString(r.targets())
	if f := r.failures(); f != "" {
		fmt.Fprintf(&b, "\n**Failures**: %s\n", f)
	}
	return b.String()
}

// newOld is the per-repetition ratio of the new binary's figure to the old
// one's in cell k.
func (r *report) newOld(k cellKey, f figure) stat {
	var xs []float64
	nw, old := r.cells[k], r.base[k]
	for i := range min(len(nw), len(old)) {
		if o := f(old[i].gw); o > 0 {
			xs = append(xs, f(nw[i].gw)/o)
		}
	}
	return statOf(xs)
}

// comparison renders the old and new binaries side by side.
func (r *report) comparison() string {
	var b strings.Builder
	b.WriteString("### Old and new side by side\n\n")
	b.WriteString("| workload | bots | hosts | p50 old | p50 new | new/old | p99 old | p99 new | new/old | CPU ms old | CPU ms new | new/old | allocs old | allocs new | new/old | Redis RT old | Redis RT new | new/old | upstream req old | upstream req new |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range r.order {
		nw, old := r.cells[k], r.base[k]
		fmt.Fprintf(&b, "| %s | %d | %d |", k.workload, k.bots, k.hosts)
		for _, f := range []struct {
			fig  figure
			prec int
		}{{figP50, 2}, {figP99, 2}, {figCPU, 2}, {figAllocs, 0}, {figRedisRT, 2}} {
			fmt.Fprintf(&b, " %s | %s | %s |", gw(old, f.fig).format(f.prec), gw(nw, f.fig).format(f.prec), r.newOld(k, f.fig).format(2))
		}
		fmt.Fprintf(&b, " %s | %s |\n", gw(old, figUpstream).format(2), gw(nw, figUpstream).format(2))
	}
	b.WriteString("\n")
	return b.String()
}

// failures describes every failed request, "" when there was none.
func (r *report) failures() string {
	var out []string
	for _, row := range r.rows() {
		k, who := row.k, "gateway"
		if r.compared() {
			who += " (" + row.bin + ")"
		}
		for i, x := range row.reps {
			for _, s := range []struct {
				who string
				s   sample
			}{{who, x.gw}, {"floor", x.floor}} {
				if s.s.failed > 0 && (s.who != "floor" || row.bin == binNew || k.workload == workDeferFirst || k.workload == workDeferHealthy) {
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

// Command bench is publishgate's benchmark harness (issue #8): it measures the
// gateway as a separate process, next to its floors, side by side in one run,
// and prints ratios, because the machines it runs on are noisy.
//
// It starts a Kore.ai simulator per host (each its own process on its own
// 127.0.0.x address, answering after a fixed latency), a private Redis, the
// gateway replicas (the publishgate binary, built once) and a hand-written
// REST handler on the same cache (this binary in its REST role), then drives
// each workload with vegeta at a fixed rate and reads what it cost from the
// simulators' counters, /proc, the processes' Go runtime metrics and a
// round-trip-counting proxy in front of Redis. See docs/benchmarks.md.
//
// With -baseline REV it also builds the publishgate binary of a git revision
// and runs every cell with both binaries, alternately, repetition by
// repetition (old, new, old, new...), next to the same floors, and reports
// them side by side with the new/old ratio; -src DIR builds the new binary
// from another checkout (a worktree snapshot) instead of this module.
//
//	go run ./bench                       # the full matrix (make bench)
//	go run ./bench -bots 100 -hosts 5 -workloads cold,cold-budget,warm,herd,herd-budget -reps 1 -duration 1s -ladder=false
//	go run ./bench -baseline 043ee67 -src /tmp/pg-wt-new -bots 100 -hosts 5 -reps 1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if role := os.Getenv(roleEnv); role != "" {
		err = runRole(ctx, role, os.Args[1:], os.Stdout, os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Workloads.
const (
	workCold = "cold"
	workWarm = "warm"
	// workColdBudget and workHerdBudget are cold and herd with the
	// gateway's upstream budgets at their production defaults (see
	// budget.go); the plain cells run with them off.
	workColdBudget = "cold-budget"
	workHerdBudget = "herd-budget"
	workMixed      = "mixed"
	workHerd       = "herd"
	// workDefer runs on topologies of two hosts or more (the last hangs);
	// it is reported as defer-first (the first part) and defer-healthy
	// (every healthy bot's status).
	workDefer = "defer"
	// workWarmFresh is reported with warm: the first query on a replica
	// that never saw the bots.
	workWarmFresh = "warm-fresh"
	// workDeferFirst and workDeferHealthy are what workDefer measures.
	workDeferFirst   = "defer-first"
	workDeferHealthy = "defer-healthy"
)

// options are the harness's flags.
type options struct {
	bots, hosts []int
	workloads   []string
	reps        int
	duration    time.Duration
	latency     time.Duration
	coldRate    float64
	warmRate    float64
	mixedRate   float64
	ladder      bool
	budgetCells bool
	ladderStep  time.Duration
	ladderSteps int
	warmSLO     time.Duration
	shortTTL    time.Duration
	herdTTL     time.Duration
	herd        int
	replicas    int
	floorIters  int
	gatewayBin  string
	src         string
	baseline    string
	self        bool
	// selfBaseline (tests only, with self) runs a second, "old" set of
	// replicas from the harness binary too, to exercise the alternation
	// without building anything.
	selfBaseline bool
	out          string
	profile      string
	keep         bool
	verbose      bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bots := fs.String("bots", "10,100,1000", "bots per query (comma-separated)")
	hosts := fs.String("hosts", "1,5,20", "simulated Kore.ai hosts the bots are spread over (comma-separated)")
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "workloads to run (cold, cold-budget, warm, mixed, herd, herd-budget, defer: one host hangs, @defer over multipart/mixed; 2+ hosts); the -budget ones run with the gateway's upstream budgets at their defaults")
	fs.BoolVar(&o.budgetCells, "budget-cells", true, "also run each of cold and herd listed in -workloads with the budgets at their defaults (cold-budget, herd-budget)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of every cell (median and min–max are reported)")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "length of each measured pass")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "fixed upstream latency of the simulators")
	fs.Float64Var(&o.coldRate, "cold-rate", 5, "cold request rate (one query in flight at a time)")
	fs.Float64Var(&o.warmRate, "warm-rate", 50, "warm request rate for up to 100 bots (n bots: rate × 100/n, so that the gateway is not driven past its capacity)")
	fs.Float64Var(&o.mixedRate, "mixed-rate", 50, "mixed request rate for up to 100 bots (n bots: rate × 100/n)")
	fs.BoolVar(&o.ladder, "ladder", true, "measure the sustained rate meeting the latency target (a doubling ladder)")
	fs.DurationVar(&o.ladderStep, "ladder-step", 750*time.Millisecond, "length of each ladder step")
	fs.IntVar(&o.ladderSteps, "ladder-steps", 6, "most ladder steps (rate doubles each step)")
	fs.DurationVar(&o.warmSLO, "warm-slo", 10*time.Millisecond, "warm latency target (p99), at least 5× the REST floor's p50")
	fs.DurationVar(&o.shortTTL, "short-ttl", time.Second, "cache lifetime in the mixed workload")
	fs.DurationVar(&o.herdTTL, "herd-ttl", 3*time.Second, "cache lifetime in the herd workload (longer than the herd takes to answer)")
	fs.IntVar(&o.herd, "herd", 50, "identical queries of the herd")
	fs.IntVar(&o.replicas, "replicas", 3, "gateway replicas on the same Redis")
	fs.IntVar(&o.floorIters, "floor-iters", 10, "rounds of the plain-client floor per repetition (×5 for the MGET floor)")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "the new publishgate binary (default: built from -src into a temporary directory)")
	fs.StringVar(&o.src, "src", "", "module directory the new publishgate binary is built from, e.g. a git worktree (default: the module the harness runs in)")
	fs.StringVar(&o.baseline, "baseline", "", "git revision of -src's repository to build an old binary from: every cell then runs with old and new alternately, reported side by side")
	fs.BoolVar(&o.self, "self", false, "run the gateway and simulators as roles of this binary (tests: no build)")
	fs.StringVar(&o.out, "out", "", "also write the report (markdown) to this file")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile and an execution trace of every cold and cold-budget pass of the new binary's first replica to this directory (publishgate serve --debug-addr)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (configs, process logs)")
	fs.BoolVar(&o.verbose, "v", false, "log progress at debug level")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.bots, err = ints(*bots); err != nil {
		return o, fmt.Errorf("-bots: %w", err)
	}
	if o.hosts, err = ints(*hosts); err != nil {
		return o, fmt.Errorf("-hosts: %w", err)
	}
	for w := range strings.SplitSeq(*workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(allWorkloads, w) {
			return o, fmt.Errorf("-workloads: unknown workload %q", w)
		}
		o.workloads = append(o.workloads, w)
	}
	if o.budgetCells {
		for plain, budgeted := range map[string]string{workCold: workColdBudget, workHerd: workHerdBudget} {
			if o.has(plain) && !o.has(budgeted) {
				o.workloads = append(o.workloads, budgeted)
			}
		}
	}
	switch {
	case o.reps < 1, o.replicas < 1, o.herd < 1, o.floorIters < 1:
		return o, errors.New("-reps, -replicas, -herd and -floor-iters must be positive")
	case o.duration <= 0, o.shortTTL <= 0, o.herdTTL <= 0, o.latency < 0:
		return o, errors.New("-duration, -short-ttl and -herd-ttl must be positive, -latency not negative")
	case o.self && (o.baseline != "" || o.src != "" || o.gatewayBin != ""):
		return o, errors.New("-self runs no publishgate binary: it takes no -baseline, -src or -gateway-bin")
	case o.src != "" && o.gatewayBin != "":
		return o, errors.New("-src and -gateway-bin both name the new binary: give one")
	}
	return o, nil
}

// allWorkloads are the workloads in the order they run on a topology (the
// default matrix runs them all).
var allWorkloads = []string{workCold, workColdBudget, workWarm, workMixed, workHerd, workHerdBudget, workDefer}

func ints(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (o options) has(w string) bool { return slices.Contains(o.workloads, w) }

// rateFor scales a warm or mixed rate to a topology of n bots: the rate given
// up to 100 bots, inversely proportional beyond, at least 1 a second. A fixed
// rate above what a 2-core machine can serve would measure a queue, not the
// gateway.
func rateFor(base float64, n int) float64 {
	return max(1, base*min(1, 100/float64(n)))
}

// run parses the flags, runs every (bots, hosts) topology and prints the report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if opts.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rep, err := execute(ctx, opts, args, log)
	if rep == nil {
		return err
	}
	text := rep.markdown() // what was measured, even when a topology failed

	fmt.Fprint(stdout, text)
	if opts.out != "" {
		if err := os.WriteFile(opts.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", opts.out, err)
		}
	}
	if err != nil {
		return err
	}
	if bad := rep.failures(); bad != "" {
		return errors.New(bad)
	}
	return nil
}

// execute runs every (bots, hosts) topology of opts and returns the report;
// when a topology fails it stops there and returns what was measured so far
// with the error.
func execute(ctx context.Context, opts options, args []string, log *slog.Logger) (*report, error) {
	h, err := newHarness(ctx, opts, log)
	if err != nil {
		return nil, err
	}
	defer h.close()
	started := time.Now()
	rep := newReport(opts, args, h.bins)
	rep.buildTime = h.buildTime
	for _, nBots := range opts.bots {
		for _, nHosts := range opts.hosts {
			if nHosts > nBots {
				continue // fewer bots than hosts: the same as bots == hosts
			}
			if err := h.runTopology(ctx, rep, nBots, nHosts); err != nil {
				rep.elapsed = time.Since(started)
				return rep, fmt.Errorf("%d bots over %d hosts: %w", nBots, nHosts, err)
			}
		}
	}
	rep.elapsed = time.Since(started)
	return rep, nil
}

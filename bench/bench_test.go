package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the harness's child processes (the
// REST floor and, with -self, the gateway and the simulators), so the test
// needs no build of the publishgate binary.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runRole(ctx, role, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench role:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// smokeRun runs the harness with args (at most two minutes) and returns its
// report, failing the test when the run fails.
func smokeRun(t *testing.T, args ...string) *report {
	t.Helper()
	return smokeRunWith(t, nil, args...)
}

// smokeRunWith is smokeRun with the parsed options changed by edit first.
func smokeRunWith(t *testing.T, edit func(*options), args ...string) *report {
	t.Helper()
	opts, err := parseOptions(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	rp, err := execute(ctx, opts, args, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	return rp
}

// TestSmokeRunReportsEveryWorkload runs the smallest matrix (10 bots on one
// host, every workload, one short repetition, 5 ms upstream latency) and
// checks the structural invariants, never a timing: every cold query costs
// exactly one upstream request per distinct bot, budgets on or off, a warm
// one none, the herd at most one per bot per lifetime, every cell shows its
// Redis round trips, and the report holds every table.
func TestSmokeRunReportsEveryWorkload(t *testing.T) {
	rp := smokeRun(t, "-self", "-bots", "10", "-hosts", "1", "-latency", "5ms", "-reps", "1", "-duration", "300ms",
		"-ladder=false", "-floor-iters", "2", "-herd", "10", "-herd-ttl", "2s", "-short-ttl", "500ms")
	if f := rp.failures(); f != "" {
		t.Fatalf("failed requests: %s", f)
	}
	cell := func(w string) rep {
		t.Helper()
		reps := rp.cells[cellKey{w, 10, 1}]
		if len(reps) != 1 {
			t.Fatalf("%s: %d repetitions, want 1", w, len(reps))
		}
		if reps[0].gw.queries == 0 {
			t.Fatalf("%s: no query measured", w)
		}
		return reps[0]
	}
	for _, w := range []string{workCold, workColdBudget} {
		if c := cell(w); c.gw.upstream != 10 || c.floor.queries == 0 || c.gw.redisNodes != 1 || c.gw.redisRT <= 0 {
			t.Errorf("%s: %v upstream requests per query (want 10, one per distinct bot), %v Redis round trips over %v nodes (want some over 1); floor rounds %d",
				w, c.gw.upstream, c.gw.redisRT, c.gw.redisNodes, c.floor.queries)
		}
	}
	if c := cell(workWarm); c.gw.upstream != 0 || c.floor.queries == 0 {
		t.Errorf("warm: %v upstream requests per query (want 0); REST floor queries %d", c.gw.upstream, c.floor.queries)
	}
	if c := cell(workWarmFresh); c.gw.redisRT != 1 {
		t.Errorf("warm on a fresh replica: %v Redis round trips (want 1 for 10 keys)", c.gw.redisRT)
	}
	if c := cell(workMixed); c.floor.queries == 0 {
		t.Error("mixed: the REST floor measured nothing")
	}
	for _, w := range []string{workHerd, workHerdBudget} {
		if c := cell(w); c.gw.maxPerBot > max(1, c.gw.lifetimes) || c.gw.queries != 10 {
			t.Errorf("%s: %d answers, a bot fetched %v times in %v lifetime(s) (want at most one per lifetime)", w, c.gw.queries, c.gw.maxPerBot, c.gw.lifetimes)
		}
	}
	for _, k := range rp.order {
		for _, x := range rp.cells[k] {
			if math.IsNaN(x.gw.redisRT) || math.IsNaN(x.gw.redisNodes) || math.IsNaN(x.gw.handshakes) {
				t.Errorf("%s: Redis round trips %v, handshakes %v, nodes %v: want every one measured", k.workload, x.gw.redisRT, x.gw.handshakes, x.gw.redisNodes)
			}
		}
	}
	md := rp.markdown()
	for _, want := range []string{"### Latency", "### Cost per query", "### Targets", "| cold | 10 | 1 |", "| cold-budget | 10 | 1 |", "| herd | 10 | 1 |", "| herd-budget | 10 | 1 |",
		"plain Go client", "Redis handshakes", "round trips/node", "botRatePerMinute 50"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestSmokeDeferReportsTheFirstPartNextToTheHealthyFloor runs the defer
// workload on 12 bots over 3 hosts, the last of which hangs: every healthy
// bot's status arrives (while the hanging host holds its requests), and the
// report shows both figures next to the healthy floor.
func TestSmokeDeferReportsTheFirstPartNextToTheHealthyFloor(t *testing.T) {
	rp := smokeRun(t, "-self", "-bots", "12", "-hosts", "3", "-latency", "5ms", "-reps", "1", "-workloads", "defer", "-floor-iters", "3")
	for _, w := range []string{workDeferFirst, workDeferHealthy} {
		reps := rp.cells[cellKey{w, 12, 3}]
		if len(reps) != 1 || reps[0].gw.queries != 3 || reps[0].floor.queries != 3 {
			t.Fatalf("%s: %+v, want one repetition of 3 deferred queries and 3 floor queries", w, reps)
		}
		if r := reps[0]; r.gw.p50 <= 0 || r.floor.p50 <= 0 {
			t.Fatalf("%s: latencies not measured: %+v", w, r)
		}
	}
	md := rp.markdown()
	for _, want := range []string{"| defer-first | 12 | 3 | healthy bots only, no @defer |", "| defer-healthy | 12 | 3 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestSmokeBaselineRunsBothBinariesSideBySide runs two sets of replicas
// (both roles of the test binary, standing for an old and a new build)
// alternately on 10 bots, and checks that every cell has a repetition of
// each next to the same floor, and that the report compares them.
func TestSmokeBaselineRunsBothBinariesSideBySide(t *testing.T) {
	rp := smokeRunWith(t, func(o *options) { o.selfBaseline = true },
		"-self", "-bots", "10", "-hosts", "1", "-latency", "5ms", "-reps", "1", "-duration", "300ms", "-replicas", "2",
		"-ladder=false", "-floor-iters", "2", "-workloads", "cold,warm", "-budget-cells=false")
	if f := rp.failures(); f != "" {
		t.Fatalf("failed requests: %s", f)
	}
	for _, w := range []string{workCold, workWarm, workWarmFresh} {
		k := cellKey{w, 10, 1}
		nw, old := rp.cells[k], rp.base[k]
		if len(nw) != 1 || len(old) != 1 {
			t.Fatalf("%s: %d new and %d old repetitions, want 1 of each", w, len(nw), len(old))
		}
		for i := range nw {
			if nw[i].floor.p50 != old[i].floor.p50 {
				t.Errorf("%s rep %d: the binaries have different floors (%v, %v): want the one measured for both", w, i+1, nw[i].floor.p50, old[i].floor.p50)
			}
			if old[i].gw.queries == 0 {
				t.Errorf("%s rep %d: the old binary measured nothing", w, i+1)
			}
		}
	}
	md := rp.markdown()
	for _, want := range []string{"### Old and new side by side", "| cold | 10 | 1 | new |", "| cold | 10 | 1 | old |", "| warm-fresh | 10 | 1 | old |", "new/old"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestBudgetCellsRunWhereOneQueryFitsTheBudget checks which topologies of
// the default matrix the budget cells skip: only those whose host holds more
// bots than one full window of the environment's budget admits.
func TestBudgetCellsRunWhereOneQueryFitsTheBudget(t *testing.T) {
	for _, tc := range []struct {
		bots, hosts int
		skipped     bool
	}{
		{10, 1, false}, {100, 1, false}, {100, 5, false}, {100, 20, false},
		{1000, 5, false}, {1000, 20, false}, {1000, 1, true},
	} {
		why := newTopology(&harness{}, tc.bots, tc.hosts).budgetSkip()
		if (why != "") != tc.skipped {
			t.Errorf("%d bots over %d hosts: skip reason %q, want skipped %v", tc.bots, tc.hosts, why, tc.skipped)
		}
	}
}

// TestExtractRevisionWritesTheTree extracts this repository's HEAD, as
// -baseline does before building it.
func TestExtractRevisionWritesTheTree(t *testing.T) {
	ctx := context.Background()
	if _, err := git(ctx, "..", "rev-parse", "--verify", "HEAD^{commit}"); err != nil {
		t.Fatalf("this test needs the repository's git history: %v", err)
	}
	dst := t.TempDir()
	if err := extractRevision(ctx, "..", "HEAD", dst); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "server.go", "bench/main.go"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("extracted tree lacks %s: %v", f, err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
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
	opts, err := parseOptions(args, io.Discard)
	if err != nil {
		t.Fatal(err)
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
// exactly one upstream request per distinct bot, a warm one none, the herd
// at most one per bot per lifetime, and the report holds every table.
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
	if c := cell(workCold); c.gw.upstream != 10 || c.floor.queries == 0 {
		t.Errorf("cold: %v upstream requests per query (want 10, one per distinct bot); floor rounds %d", c.gw.upstream, c.floor.queries)
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
	if c := cell(workHerd); c.gw.maxPerBot > max(1, c.gw.lifetimes) || c.gw.queries != 10 {
		t.Errorf("herd: %d answers, a bot fetched %v times in %v lifetime(s) (want at most one per lifetime)", c.gw.queries, c.gw.maxPerBot, c.gw.lifetimes)
	}
	md := rp.markdown()
	for _, want := range []string{"### Latency", "### Cost per query", "### Targets", "| cold | 10 | 1 |", "| herd | 10 | 1 |", "plain Go client"} {
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

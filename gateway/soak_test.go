package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// soakFor is how long TestSoak runs: a short form in every run of the suite;
// the long form is `go test -run '^TestSoak$' ./gateway/ -soak 60s`.
var soakFor = flag.Duration("soak", 12*time.Second, "how long TestSoak runs (e.g. 60s)")

// soakViolations collects what must never happen under load.
type soakViolations struct {
	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

func (v *soakViolations) add(format string, args ...any) {
	if v.n.Add(1) > 10 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.first = append(v.first, fmt.Sprintf(format, args...))
}

func TestSoak(t *testing.T) {
	const (
		envCount   = 5
		botsPerEnv = 20
		workers    = 8
	)
	var accts []simulator.Account
	for i := range envCount {
		accts = append(accts, testkit.Account(fmt.Sprintf("soak-%d", i), botsPerEnv))
	}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(accts...), simulator.WithSeed(7),
		simulator.WithFault(simulator.Fault{Latency: 2 * time.Millisecond, Jitter: 8 * time.Millisecond}))
	cfg := testkit.Config(t, sim.URL, accts...)
	cfg.Upstream.Retries = 1
	cfg.Upstream.Breaker = config.Breaker{Failures: 5, OpenFor: config.Duration(time.Second)}
	cfg.Limits.RequestTimeout = config.Duration(2 * time.Second)
	cfg.Cache.TTL = config.Duration(500 * time.Millisecond) // keep the upstream busy
	cfg.Cache.InProgressTTL = config.Duration(200 * time.Millisecond)
	cfg.Cache.NotFoundTTL = config.Duration(500 * time.Millisecond)
	for i := range cfg.Environments {
		e := &cfg.Environments[i]
		e.Timeout = config.Duration(500 * time.Millisecond)
		e.Concurrency = 8
		e.RatePerMinute, e.BotRatePerMinute, e.BotRatePerHour = 0, 0, 0
	}
	upstreamHTTP := &http.Client{Transport: upstream.NewTransport(8)}
	gw := testkit.MustGateway(t, cfg, gateway.Options{HTTPClient: upstreamHTTP})
	loadTransport := &http.Transport{MaxIdleConnsPerHost: workers}
	load := &http.Client{Transport: loadTransport, Timeout: 10 * time.Second}

	// 20% of the bots fail in every way the upstream can: half of them
	// before the warm-up (they never had an answer: errors), half after
	// (their last good answer is served stale, with a warning).
	faults := []simulator.Fault{
		{ErrorRate: 1, ErrorStatus: 503},
		{ErrorRate: 1, ErrorStatus: 500},
		{RateLimited: true, RetryAfter: time.Second},
		{Hang: true},
		{Malformed: true},
	}
	faulty := map[string]bool{}
	var allRefs []map[string]string
	inject := func(later bool) {
		for i, a := range accts {
			for j, b := range a.Bots {
				if n := i*botsPerEnv + j; n%5 == 0 && (n%10 == 5) == later { // 20% in all
					faulty[b.ID] = true
					if err := sim.Simulator.SetBotFault(b.ID, faults[(i+j)%len(faults)]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	for _, a := range accts {
		for _, b := range a.Bots {
			allRefs = append(allRefs, map[string]string{"environment": a.Name, "botId": b.ID})
		}
	}
	inject(false)
	testkit.Eventually(t, 30*time.Second, "the warm-up never answered every healthy bot", func() bool {
		for _, e := range testkit.Query(t, gw.URL, dashboardQuery, nil).Errors {
			if !faulty[e.Extensions["botId"].(string)] {
				return false
			}
		}
		return true
	})
	inject(true)

	upstreamHTTP.CloseIdleConnections()
	runtime.GC()
	startGoroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	startHeap := ms.HeapAlloc

	var (
		bad      soakViolations
		requests atomic.Int64
		failures atomic.Int64 // errors and warnings about injected bots
		degraded atomic.Int64 // healthy bots answered stale
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor)
	defer cancel()
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for ctx.Err() == nil {
				query, vars := dashboardQuery, map[string]any(nil)
				if rng.IntN(3) > 0 { // a dashboard of some bots by reference
					refs := make([]map[string]string, 10)
					for k := range refs {
						refs[k] = allRefs[rng.IntN(len(allRefs))]
					}
					query, vars = `query Refs($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus { status } } }`, map[string]any{"refs": refs}
				}
				checkSoakAnswer(load, gw.URL, query, vars, faulty, &bad, &failures, &degraded)
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests in %v, %d errors and warnings about injected bots, %d stale answers for healthy bots, %d upstream requests (%v by status)",
		requests.Load(), *soakFor, failures.Load(), degraded.Load(), sim.Simulator.Stats().Total, sim.Simulator.Stats().ByStatus)
	if n := bad.n.Load(); n > 0 {
		t.Fatalf("%d violations, the first ones:\n%v", n, bad.first)
	}
	if requests.Load() < int64(workers) || failures.Load() == 0 {
		t.Fatalf("%d requests, %d injected failures seen: the soak did not run", requests.Load(), failures.Load())
	}

	// Nothing piles up: once the load stops and idle connections are
	// closed, goroutines and heap are back where they started.
	loadTransport.CloseIdleConnections()
	upstreamHTTP.CloseIdleConnections()
	testkit.Eventually(t, 15*time.Second, "goroutines did not return to their starting range", func() bool {
		upstreamHTTP.CloseIdleConnections()
		return runtime.NumGoroutine() <= startGoroutines+10
	})
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if limit := startHeap + max(startHeap/2, 16<<20); ms.HeapAlloc > limit {
		t.Fatalf("heap %d MB after the soak, started at %d MB", ms.HeapAlloc>>20, startHeap>>20)
	}
	t.Logf("goroutines %d → %d, heap %d KB → %d KB", startGoroutines, runtime.NumGoroutine(), startHeap>>10, ms.HeapAlloc>>10)
}

// checkSoakAnswer sends one query and records a violation for anything
// but a 200 whose errors are all about injected bots and whose healthy bots
// all have data.
func checkSoakAnswer(c *http.Client, base, query string, vars map[string]any, faulty map[string]bool, bad *soakViolations, failures, staleHealthy *atomic.Int64) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := c.Post(base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		bad.add("POST: %v", err)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data struct {
			Environments []struct {
				Bots []soakBot
			}
			Bots []*soakBot
		}
		Errors     []testkit.Error
		Extensions struct {
			Warnings []struct {
				BotID string `json:"botId"`
			}
		}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil {
		bad.add("HTTP %d: %.200s", resp.StatusCode, raw)
		return
	}
	for _, e := range r.Errors {
		id, _ := e.Extensions["botId"].(string)
		if !faulty[id] {
			bad.add("error about a healthy bot: %+v", e)
			continue
		}
		failures.Add(1)
	}
	for _, w := range r.Extensions.Warnings {
		if faulty[w.BotID] {
			failures.Add(1)
		} else {
			// A healthy bot answered with its last good data while its host
			// was being shed (slow under load, or its breaker open): degraded,
			// not failed.
			staleHealthy.Add(1)
		}
	}
	check := func(b *soakBot) {
		if b == nil {
			bad.add("a null bot")
			return
		}
		if !faulty[b.ID] && b.PublishStatus == nil {
			bad.add("healthy bot %s without data", b.ID)
		}
	}
	for _, e := range r.Data.Environments {
		for i := range e.Bots {
			check(&e.Bots[i])
		}
	}
	for _, b := range r.Data.Bots {
		check(b)
	}
}

type soakBot struct {
	ID            string
	PublishStatus *struct{ Status string }
}

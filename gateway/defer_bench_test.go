package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// BenchmarkDeferredFirstPart measures a dashboard over three environments,
// one of whose hosts hangs, that defers every bot's publishStatus (refresh:
// true, so each bot is read from a simulator answering in 50 ms) over
// multipart/mixed: how long until its first part (every bot, statuses to
// come), and until every healthy bot's status has arrived, next to the
// healthy floor: the same bots of the two healthy environments asked
// without @defer. x-floor is healthy-ms / floor-ms: near 1, the hanging
// host costs the healthy bots nothing.
func BenchmarkDeferredFirstPart(b *testing.B) {
	const perEnv = 20
	sim, gw, accts := hangingSetup(b, perEnv, func(cfg *config.Config) {
		for i := range cfg.Environments {
			e := &cfg.Environments[i]
			e.Concurrency, e.BotRatePerMinute, e.BotRatePerHour, e.RatePerMinute = perEnv, 0, 0, 0
		}
		cfg.Environments[2].Timeout = config.Duration(30 * time.Second) // hangs for the whole run
	})
	for _, a := range accts[:2] {
		if err := sim.Simulator.SetAccountFault(a.ClientID, simulator.Fault{Latency: upstreamLatency}); err != nil {
			b.Fatal(err)
		}
	}
	deferred := strings.Replace(deferredDashboard, "publishStatus {", "publishStatus(refresh: true) {", 1)
	floorQuery := `query Floor { east: environment(name: "east") { bots { id name publishStatus(refresh: true) { status percentageComplete } } }
  west: environment(name: "west") { bots { id name publishStatus(refresh: true) { status percentageComplete } } } }`

	var floors []time.Duration
	for range 5 {
		start := time.Now()
		if resp := testkit.Query(b, gw.URL, floorQuery, nil); len(resp.Errors) > 0 {
			b.Fatalf("floor: %+v", resp.Errors)
		}
		floors = append(floors, time.Since(start))
	}
	slices.Sort(floors)
	floor := floors[len(floors)/2]

	var first, healthy time.Duration
	b.ResetTimer()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		s, err := postDeferred(ctx, deferTransports[0], gw.URL, deferred, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.next(); err != nil {
			b.Fatalf("first part: %v", err)
		}
		first += time.Since(start)
		for got := 0; got < 2*perEnv; {
			parts, err := s.next()
			if err != nil {
				b.Fatalf("after %d healthy statuses: %v", got, err)
			}
			for _, p := range parts {
				if p.Path[1].(float64) == 2 {
					b.Fatalf("the hanging host answered before the healthy ones: %+v", p)
				}
				got++
			}
		}
		healthy += time.Since(start)
		s.close()
		cancel()
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((first/n).Microseconds())/1000, "first-part-ms")
	b.ReportMetric(float64((healthy/n).Microseconds())/1000, "healthy-ms")
	b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
	b.ReportMetric(float64(healthy/n)/float64(floor), "x-floor")
}

package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

const upstreamLatency = 50 * time.Millisecond

// BenchmarkColdQuery100Bots measures a 100-bot query whose every bot is
// fetched from a simulator answering in 50 ms (refresh: true bypasses the
// cache), next to the floor: the same 100 GETs fired concurrently by the
// bare upstream client. x-floor is the ratio of the two in this run.
func BenchmarkColdQuery100Bots(b *testing.B) {
	acct := testkit.Account("prod", 100)
	sim := testkit.MustSimulator(b, simulator.WithAccounts(acct), simulator.WithFault(simulator.Fault{Latency: upstreamLatency}))
	cfg := testkit.Config(b, sim.URL, acct)
	cfg.Environments[0].Concurrency = 100
	cfg.Environments[0].BotRatePerMinute, cfg.Environments[0].BotRatePerHour, cfg.Environments[0].RatePerMinute = 0, 0, 0
	gw := testkit.MustGateway(b, cfg, gateway.Options{})
	q := `query($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus(refresh: true) { status percentageComplete statusSummary { resourceType status } } } }`
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}

	floor := measureFloor(b, sim.URL, acct)
	testkit.Query(b, gw.URL, q, vars) // warm connections
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if resp := testkit.Query(b, gw.URL, q, vars); len(resp.Errors) > 0 {
			b.Fatalf("errors: %+v", resp.Errors)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/query")
	b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
	b.ReportMetric(float64(per)/float64(upstreamLatency), "x-50ms")
	b.ReportMetric(float64(per)/float64(floor), "x-floor")
}

// BenchmarkColdQueryRedis is BenchmarkColdQuery100Bots with the cache in
// Redis (fill locks, write-back and release through it) next to the same
// gateway without Redis, in one run: what the cross-replica coordination
// costs a cold query.
func BenchmarkColdQueryRedis(b *testing.B) {
	r := testkit.MustRedis(b)
	acct := testkit.Account("prod", 100)
	sim := testkit.MustSimulator(b, simulator.WithAccounts(acct), simulator.WithFault(simulator.Fault{Latency: upstreamLatency}))
	body := graphQLBody(b, `query($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus(refresh: true) { status percentageComplete statusSummary { resourceType status } } } }`,
		map[string]any{"refs": refs("prod", ids(acct)...)})
	floor := measureFloor(b, sim.URL, acct)
	for _, withRedis := range []bool{false, true} {
		name := "in-process"
		if withRedis {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			cfg := testkit.Config(b, sim.URL, acct)
			cfg.Environments[0].Concurrency = 100
			cfg.Environments[0].BotRatePerMinute, cfg.Environments[0].BotRatePerHour, cfg.Environments[0].RatePerMinute = 0, 0, 0
			if withRedis {
				cfg.Redis.URL = r.URL
			}
			gw := testkit.MustGateway(b, cfg, gateway.Options{})
			postRaw(b, gw.URL, body) // connections
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				postRaw(b, gw.URL, body)
				times = append(times, time.Since(start))
			}
			p50 := median(times)
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
			b.ReportMetric(float64(p50)/float64(floor), "x-floor")
		})
	}
}

// measureFloor times 100 concurrent GETs with the bare client, median of 5.
func measureFloor(b *testing.B, url string, acct simulator.Account) time.Duration {
	b.Helper()
	c, err := upstream.New(url, upstream.Credentials{ClientID: acct.ClientID, ClientSecret: acct.ClientSecret},
		upstream.WithConcurrency(len(acct.Bots)), upstream.WithHTTPClient(&http.Client{Transport: upstream.NewTransport(len(acct.Bots))}))
	if err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	for range 6 {
		start := time.Now()
		var wg sync.WaitGroup
		for _, bot := range acct.Bots {
			wg.Go(func() { _, _ = c.PublishStatus(context.Background(), bot.ID) })
		}
		wg.Wait()
		times = append(times, time.Since(start))
	}
	times = times[1:] // the first one opened the connections
	for i := range times {
		for j := i + 1; j < len(times); j++ {
			if times[j] < times[i] {
				times[i], times[j] = times[j], times[i]
			}
		}
	}
	return times[len(times)/2]
}

// BenchmarkWarmQueryBatchWait measures a warm 100-bot query under several
// dataloader batch windows. The library's default of 16 ms used to put a
// floor under every query; list resolvers now preload their keys in one
// batch, so the window only matters for lookups scattered through a query
// (root publishStatus fields), and the figures should not depend on it.
func BenchmarkWarmQueryBatchWait(b *testing.B) {
	acct := testkit.Account("prod", 100)
	sim := testkit.MustSimulator(b, simulator.WithAccounts(acct))
	q := `{ environments { bots { id publishStatus { status } } } }`
	for _, wait := range []time.Duration{16 * time.Millisecond, time.Millisecond, 250 * time.Microsecond} {
		b.Run(fmt.Sprintf("wait=%v", wait), func(b *testing.B) {
			cfg := testkit.Config(b, sim.URL, acct)
			cfg.Cache.TTL = config.Duration(time.Hour) // stays warm however long -benchtime runs
			gw := testkit.MustGateway(b, cfg, gateway.Options{BatchWait: wait})
			testkit.Query(b, gw.URL, q, nil)
			before := sim.Simulator.Stats().Total
			for b.Loop() {
				testkit.Query(b, gw.URL, q, nil)
			}
			if n := sim.Simulator.Stats().Total - before; n != 0 {
				b.Fatalf("%d upstream requests in a warm run", n)
			}
		})
	}
}

// BenchmarkWarmQueryRedis measures warm queries with Redis configured, next
// to the floor: one pipelined MGET of the same keys. "local" is a replica
// that has served these bots before (its in-process copy answers); "shared"
// keeps no local copy, so every query reads Redis. Two query shapes: the
// bots named by reference (a [BotRef!]! variable), and an environment's
// bots (what the status board asks). The client only reads the answer
// (postRaw), so the figure is the gateway's, not a JSON decoder's.
func BenchmarkWarmQueryRedis(b *testing.B) {
	r := testkit.MustRedis(b)
	for _, n := range []int{100, 1000} {
		acct := testkit.Account("prod", n)
		sim := testkit.MustSimulator(b, simulator.WithAccounts(acct))
		cfg := testkit.Config(b, sim.URL, acct)
		cfg.Redis.URL = r.URL
		cfg.Environments[0].BotRatePerMinute, cfg.Environments[0].BotRatePerHour, cfg.Environments[0].RatePerMinute = 0, 0, 0
		cfg.Cache.TTL = config.Duration(time.Hour) // stays warm however long -benchtime runs
		shapes := []struct {
			name string
			body []byte
		}{
			{"refs", graphQLBody(b, `query($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus { status percentageComplete } } }`,
				map[string]any{"refs": refs("prod", ids(acct)...)})},
			{"environment", graphQLBody(b, `{ environment(name: "prod") { bots { id publishStatus { status percentageComplete } } } }`, nil)},
		}
		floor := mgetFloor(b, r, acct)
		for _, tier := range []struct {
			name    string
			entries int
		}{{"local", 0}, {"shared", 1}} {
			for _, shape := range shapes {
				b.Run(fmt.Sprintf("bots=%d/%s/%s", n, tier.name, shape.name), func(b *testing.B) {
					gw := testkit.MustGateway(b, cfg, gateway.Options{LocalCacheEntries: tier.entries})
					postRaw(b, gw.URL, shape.body)
					before := sim.Simulator.Stats().Total
					var times []time.Duration
					for b.Loop() {
						start := time.Now()
						postRaw(b, gw.URL, shape.body)
						times = append(times, time.Since(start))
					}
					if d := sim.Simulator.Stats().Total - before; d != 0 {
						b.Fatalf("%d upstream requests in a warm run", d)
					}
					p50 := median(times)
					b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(floor.Microseconds())/1000, "mget-ms")
					b.ReportMetric(float64(p50)/float64(floor), "x-mget")
				})
			}
		}
	}
}

// graphQLBody is the JSON body of a GraphQL request.
func graphQLBody(b *testing.B, query string, vars map[string]any) []byte {
	b.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// postRaw posts a GraphQL body and reads the whole answer, failing on
// anything but a 200 without errors.
func postRaw(b *testing.B, baseURL string, body []byte) {
	b.Helper()
	resp, err := http.Post(baseURL+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(answer, []byte(`"errors"`)) {
		b.Fatalf("HTTP %d, %v: %.300s", resp.StatusCode, err, answer)
	}
}

// mgetFloor times one pipelined MGET of the bots' keys, median of 50.
func mgetFloor(b *testing.B, r *testkit.Redis, acct simulator.Account) time.Duration {
	b.Helper()
	c := r.Client(b)
	keys := make([]string, len(acct.Bots))
	for i, bot := range acct.Bots {
		keys[i] = cache.RedisKey(cache.Key{Environment: acct.Name, BotID: bot.ID})
	}
	var times []time.Duration
	for range 50 {
		start := time.Now()
		pipe := c.Pipeline()
		for i := 0; i < len(keys); i += cache.DefaultChunk {
			pipe.MGet(context.Background(), keys[i:min(i+cache.DefaultChunk, len(keys))]...)
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	return median(times)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[len(s)/2]
}

package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

const botListPath = "GET /api/public/bots"

// transcript keeps everything a gateway said to the outside during a test:
// response bodies, /metrics scrapes and log lines, to be searched for
// secrets.
type transcript struct {
	mu   sync.Mutex
	text bytes.Buffer
}

func (tr *transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.text.Write(p)
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.text.String()
}

// get fetches url and records the body.
func (tr *transcript) get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, _ = tr.Write(body)
	return string(body)
}

// query posts a GraphQL query, records the raw body, and decodes it.
func (tr *transcript) query(t *testing.T, base, q string) testkit.Response {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"query": q})
	resp, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, _ = tr.Write(body)
	var r testkit.Response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode (HTTP %d): %v\n%s", resp.StatusCode, err, body)
	}
	r.Status = resp.StatusCode
	return r
}

// redisValues reads every value Redis holds, whatever its type.
func redisValues(t *testing.T, addr string) string {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var out strings.Builder
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			continue // expired meanwhile
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, k).Result()
		case "zset":
			v, err = c.ZRange(ctx, k, 0, -1).Result()
		default:
			v, err = c.Dump(ctx, k).Result()
		}
		if err == nil {
			fmt.Fprintf(&out, "%s=%v\n", k, v)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("Redis holds no key at all")
	}
	return out.String()
}

// discoveryAccount is an account of n bots, each with an app of its own
// whose secret Kore.ai serves in the bot list.
func discoveryAccount(name string, n int) (simulator.Account, []string) {
	a := testkit.Account(name, n)
	secrets := []string{a.ClientSecret}
	for i := range a.Bots {
		a.Bots[i].AppSecret = fmt.Sprintf("jwtapp-%s-%03d-Zq8vLr2pW", name, i)
		secrets = append(secrets, a.Bots[i].AppSecret)
	}
	return a, secrets
}

func TestDiscoverBotsListsEveryBotOnceAcrossReplicas(t *testing.T) {
	const ttl = 2 * time.Second
	acct, secrets := discoveryAccount("disc", 120)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	rdb := testkit.MustRedis(t)
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Redis.URL = rdb.URL
	cfg.Cache.BotListTTL = config.Duration(ttl)
	configuredOnly := testkit.BotID("disc-configured-only")
	env := &cfg.Environments[0]
	env.DiscoverBots = true
	env.Bots = []config.Bot{
		{ID: acct.Bots[3].ID, Name: "Configured three"},
		{ID: configuredOnly, Name: "Configured only"},
	}

	tr := &transcript{}
	logger := slog.New(slog.NewJSONHandler(tr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var reps []*testkit.Gateway
	for range 3 {
		reps = append(reps, testkit.MustGateway(t, cfg, gateway.Options{Logger: logger, RedisTimeout: 3 * time.Second}))
	}
	for _, r := range reps {
		select {
		case <-r.Discovery["disc"].Loaded():
		case <-time.After(20 * time.Second):
			t.Fatal("no bot list within 20s")
		}
	}
	start := time.Now()
	if got := sim.Simulator.Stats().ByPath[botListPath]; got != 3 {
		t.Fatalf("the first listing took %d page requests across 3 replicas, want 3 (one listing of 120 bots)", got)
	}

	wantIDs := []string{acct.Bots[3].ID, configuredOnly}
	for i, b := range acct.Bots {
		if i != 3 {
			wantIDs = append(wantIDs, b.ID)
		}
	}
	for i, r := range reps {
		resp := tr.query(t, r.URL, `{ environment(name: "disc") { bots { id name } } }`)
		if len(resp.Errors) > 0 {
			t.Fatalf("replica %d: %+v", i, resp.Errors)
		}
		var data struct {
			Environment struct {
				Bots []struct{ ID, Name string }
			}
		}
		resp.Decode(t, &data)
		bots := data.Environment.Bots
		if len(bots) != len(wantIDs) {
			t.Fatalf("replica %d lists %d bots, want %d (120 discovered + 1 configured only)", i, len(bots), len(wantIDs))
		}
		for j, b := range bots {
			if b.ID != wantIDs[j] {
				t.Fatalf("replica %d: bot %d is %s, want %s (configured first, then Kore's order, each once)", i, j, b.ID, wantIDs[j])
			}
		}
		if bots[0].Name != "Configured three" || bots[2].Name != acct.Bots[0].Name {
			t.Fatalf("replica %d: names %q, %q: the configured name must win, Kore's fill the rest", i, bots[0].Name, bots[2].Name)
		}
	}
	// Discovered bots are bots like any other: their statuses are read.
	resp := tr.query(t, reps[0].URL, `{ environment(name: "disc") { summary { total successful errors } } }`)
	var summary struct {
		Environment struct {
			Summary struct{ Total, Successful, Errors int }
		}
	}
	resp.Decode(t, &summary)
	if s := summary.Environment.Summary; s.Total != 121 || s.Successful != 120 || s.Errors != 1 {
		t.Fatalf("summary %+v, want 121 bots: 120 successful and the configured-only one unknown to Kore", s)
	}

	// Refreshed in the background once per TTL, by one replica for all:
	// over 2.5 TTLs, 2 listings (3 pages each), not 2 per replica.
	timer := time.NewTimer(ttl*5/2 - time.Since(start))
	<-timer.C
	pages := sim.Simulator.Stats().ByPath[botListPath]
	listings := (pages - 3) / 3
	t.Logf("%d listings (%d pages) across 3 replicas in %v with a TTL of %v", listings, pages-3, time.Since(start).Round(time.Millisecond), ttl)
	if pages%3 != 0 || listings < 1 || listings > 3 {
		t.Fatalf("%d list pages after the first listing: want one 3-page listing per TTL for all replicas", pages-3)
	}
	var fetched float64
	for _, r := range reps {
		fetched += sum(scrape(t, r.URL), `publishgate_discovery_syncs_total{environment="disc",outcome="fetched"}`)
	}
	if fetched != float64(listings+1) {
		t.Fatalf("the replicas count %v listings, the simulator %d", fetched, listings+1)
	}

	// No secret anywhere: responses, logs, metrics, Redis.
	for _, r := range reps {
		tr.get(t, r.URL+"/metrics")
		tr.get(t, r.URL+"/readyz")
	}
	stored := redisValues(t, rdb.Addr)
	if !strings.Contains(stored, acct.Bots[0].ID) {
		t.Fatal("the shared bot list is not in Redis")
	}
	said := tr.String()
	if !strings.Contains(said, "listed the account's bots") {
		t.Fatal("the transcript holds no discovery log line: is the logger wired?")
	}
	for _, s := range secrets {
		if strings.Contains(said, s) {
			t.Fatalf("a response, log line or metric holds the secret %q", s)
		}
		if strings.Contains(stored, s) {
			t.Fatalf("Redis holds the secret %q", s)
		}
	}
}

func TestDiscoverBotsWithoutRedisKeepsTheLastListOnFailure(t *testing.T) {
	acct, secrets := discoveryAccount("solo", 60)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Cache.BotListTTL = config.Duration(time.Second)
	cfg.Environments[0].DiscoverBots = true
	cfg.Environments[0].Bots = nil
	tr := &transcript{}
	gw := testkit.MustGateway(t, cfg, gateway.Options{Logger: slog.New(slog.NewJSONHandler(tr, nil))})
	<-gw.Discovery["solo"].Loaded()
	if err := sim.Simulator.SetAccountFault(acct.ClientID, simulator.Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "a failed listing is logged", func() bool {
		return strings.Contains(tr.String(), "keeping the last list")
	})
	resp := tr.query(t, gw.URL, `{ environment(name: "solo") { bots { id } } }`)
	var data struct {
		Environment struct{ Bots []struct{ ID string } }
	}
	resp.Decode(t, &data)
	if len(data.Environment.Bots) != 60 {
		t.Fatalf("%d bots while Kore fails, want the last list's 60", len(data.Environment.Bots))
	}
	tr.get(t, gw.URL+"/metrics")
	for _, s := range secrets {
		if strings.Contains(tr.String(), s) {
			t.Fatalf("the secret %q leaked", s)
		}
	}
}

// TestDiscoveredBotsArePricedByTheComplexityLimit: a query over an
// environment's bots costs what the discovered list makes it, not what the
// configuration listed at start-up.
func TestDiscoveredBotsArePricedByTheComplexityLimit(t *testing.T) {
	acct, _ := discoveryAccount("wide", 120)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Environments[0].DiscoverBots = true
	cfg.Environments[0].Bots = cfg.Environments[0].Bots[:1]
	// One configured bot: bots { id } costs 1 + 1×1 + 1 (environment) = 3.
	// 120 discovered: 1 + 120×1 + 1 = 122.
	cfg.Limits.MaxComplexity = 100
	q := `{ environment(name: "wide") { bots { id } } }`

	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	<-gw.Discovery["wide"].Loaded()
	resp := testkit.Query(t, gw.URL, q, nil)
	if len(resp.Errors) != 1 || !strings.Contains(resp.Errors[0].Message, "complexity") {
		t.Fatalf("a 120-bot list under a limit of 100: errors %+v, want the complexity refusal", resp.Errors)
	}
	cfg.Limits.MaxComplexity = 200
	gw = testkit.MustGateway(t, cfg, gateway.Options{})
	<-gw.Discovery["wide"].Loaded()
	var data struct {
		Environment struct{ Bots []struct{ ID string } }
	}
	testkit.Query(t, gw.URL, q, nil).Decode(t, &data)
	if len(data.Environment.Bots) != 120 {
		t.Fatalf("%d bots under a limit of 200, want 120", len(data.Environment.Bots))
	}
}

package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// clock is a settable clock for freshness tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type botJSON struct {
	ID            string `json:"id"`
	Name          *string
	PublishStatus *struct {
		Status             string `json:"status"`
		PercentageComplete int    `json:"percentageComplete"`
		Freshness          struct {
			FromCache bool    `json:"fromCache"`
			Stale     bool    `json:"stale"`
			Age       float64 `json:"ageSeconds"`
		} `json:"freshness"`
	} `json:"publishStatus"`
}

const botsQuery = `query($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus { status percentageComplete freshness { fromCache stale ageSeconds } } } }`

func refs(env string, ids ...string) []map[string]string {
	out := make([]map[string]string, len(ids))
	for i, id := range ids {
		out[i] = map[string]string{"environment": env, "botId": id}
	}
	return out
}

func ids(a simulator.Account) []string {
	out := make([]string, len(a.Bots))
	for i, b := range a.Bots {
		out[i] = b.ID
	}
	return out
}

func TestRepeatedRefsMakeOneRequestPerDistinctBot(t *testing.T) {
	acct := testkit.Account("prod", 180)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})

	want := ids(acct)
	for i := range 20 { // 20 bots named twice, the repeats spread through the list
		want = append(want[:i*9+5], append([]string{want[i*7]}, want[i*9+5:]...)...)
	}
	if len(want) != 200 {
		t.Fatalf("built %d refs", len(want))
	}
	resp := testkit.Query(t, gw.URL, botsQuery, map[string]any{"refs": refs("prod", want...)})
	if len(resp.Errors) > 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	var data struct{ Bots []botJSON }
	resp.Decode(t, &data)
	if len(data.Bots) != len(want) {
		t.Fatalf("%d bots, want %d", len(data.Bots), len(want))
	}
	for i, b := range data.Bots {
		if b.ID != want[i] || b.PublishStatus == nil || b.PublishStatus.Status != "SUCCESSFUL" {
			t.Fatalf("bots[%d] = %+v, want %s answered", i, b, want[i])
		}
	}
	if n := sim.Simulator.Stats().Total; n != 180 {
		t.Fatalf("%d upstream requests, want 180 (one per distinct bot)", n)
	}
}

func TestBadInputIsRefusedAtItsPathAndTheRestAnswers(t *testing.T) {
	acct := testkit.Account("prod", 2)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})

	cases := []struct {
		name     string
		ref      map[string]string
		wantCode string
	}{
		{name: "path traversal bot ID", ref: map[string]string{"environment": "prod", "botId": "../../bots"}, wantCode: "BAD_USER_INPUT"},
		{name: "encoded slash", ref: map[string]string{"environment": "prod", "botId": "st-x%2f..%2fadmin"}, wantCode: "BAD_USER_INPUT"},
		{name: "CRLF", ref: map[string]string{"environment": "prod", "botId": acct.Bots[0].ID + "\r\nX: y"}, wantCode: "BAD_USER_INPUT"},
		{name: "10 kB bot ID", ref: map[string]string{"environment": "prod", "botId": "st-" + strings.Repeat("a", 10_000)}, wantCode: "BAD_USER_INPUT"},
		{name: "unknown environment", ref: map[string]string{"environment": "nowhere", "botId": acct.Bots[0].ID}, wantCode: "NOT_FOUND"},
		{name: "bot unknown upstream", ref: map[string]string{"environment": "prod", "botId": testkit.BotID("ghost")}, wantCode: "NOT_FOUND"},
	}
	// Warm the siblings, so that what reaches the simulator below is what
	// the bad ref caused.
	testkit.Query(t, gw.URL, botsQuery, map[string]any{"refs": refs("prod", ids(acct)...)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.Simulator.Reset()
			all := []map[string]string{refs("prod", acct.Bots[0].ID)[0], tc.ref, refs("prod", acct.Bots[1].ID)[0]}
			resp := testkit.Query(t, gw.URL, botsQuery, map[string]any{"refs": all})
			var data struct{ Bots []*botJSON }
			resp.Decode(t, &data)
			if len(data.Bots) != 3 || data.Bots[0] == nil || data.Bots[2] == nil || data.Bots[0].PublishStatus == nil || data.Bots[2].PublishStatus == nil {
				t.Fatalf("siblings not answered: %s", resp.Data)
			}
			if len(resp.Errors) != 1 {
				t.Fatalf("errors = %+v, want one", resp.Errors)
			}
			e := resp.Errors[0]
			if e.Code() != tc.wantCode || !strings.HasPrefix(e.PathString(), "bots.1") {
				t.Fatalf("error %+v, want %s at bots.1", e, tc.wantCode)
			}
			if e.Extensions["environment"] != tc.ref["environment"] {
				t.Fatalf("extensions %v lack the environment", e.Extensions)
			}
			wantUpstream := int64(0)
			if tc.name == "bot unknown upstream" {
				wantUpstream = 1
			}
			if n := sim.Simulator.Stats().Total; n != wantUpstream {
				t.Fatalf("%d upstream requests, want %d", n, wantUpstream)
			}
		})
	}
}

func TestFailingBotIsAnErrorAtItsPathAndSiblingsAnswer(t *testing.T) {
	acct := testkit.Account("prod", 3)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	if err := sim.Simulator.SetBotFault(acct.Bots[1].ID, simulator.Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	resp := testkit.Query(t, gw.URL, `{ environment(name: "prod") { bots { id publishStatus { status } } } }`, nil)
	if len(resp.Errors) != 1 {
		t.Fatalf("errors = %+v", resp.Errors)
	}
	e := resp.Errors[0]
	if e.Code() != "UPSTREAM_UNAVAILABLE" || e.PathString() != "environment.bots.1.publishStatus" ||
		e.Extensions["botId"] != acct.Bots[1].ID || e.Extensions["environment"] != "prod" {
		t.Fatalf("error = %+v", e)
	}
	var data struct{ Environment struct{ Bots []botJSON } }
	resp.Decode(t, &data)
	if data.Environment.Bots[0].PublishStatus == nil || data.Environment.Bots[2].PublishStatus == nil {
		t.Fatalf("siblings lost: %s", resp.Data)
	}
}

func TestCacheFreshnessAndStaleOnError(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		name := "in-process cache"
		if withRedis {
			name = "redis cache"
		}
		t.Run(name, func(t *testing.T) { testCacheFreshnessAndStaleOnError(t, withRedis) })
	}
}

func testCacheFreshnessAndStaleOnError(t *testing.T, withRedis bool) {
	acct := testkit.Account("prod", 5)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	clk := &clock{now: time.Now()}
	cfg := testkit.Config(t, sim.URL, acct)
	opts := gateway.Options{Now: clk.Now}
	if withRedis {
		cfg.Redis.URL = testkit.MustRedis(t).URL
		opts.LocalCacheEntries = 1 // read through Redis every time
		opts.RedisTimeout = 5 * time.Second
	}
	gw := testkit.MustGateway(t, cfg, opts)
	vars := map[string]any{"refs": refs("prod", ids(acct)...)}
	get := func() ([]botJSON, testkit.Response) {
		resp := testkit.Query(t, gw.URL, botsQuery, vars)
		var data struct{ Bots []botJSON }
		resp.Decode(t, &data)
		return data.Bots, resp
	}

	first, _ := get()
	if first[0].PublishStatus.Freshness.FromCache {
		t.Fatal("first answer claims to come from the cache")
	}
	clk.Add(10 * time.Second)
	second, _ := get()
	if n := sim.Simulator.Stats().Total; n != 5 {
		t.Fatalf("%d upstream requests after a warm repeat, want 5", n)
	}
	f := second[0].PublishStatus.Freshness
	if !f.FromCache || f.Stale || f.Age < 9.9 || f.Age > 11 {
		t.Fatalf("warm freshness = %+v", f)
	}

	// Past the TTL (within the stale-while-revalidate window): the stale
	// answer at once, while one refresh runs in the background.
	clk.Add(25 * time.Second)
	sim.Simulator.SetFault(simulator.Fault{ErrorRate: 1, ErrorStatus: 503})
	third, resp := get()
	if len(resp.Errors) != 0 || resp.Extensions["warnings"] != nil {
		t.Fatalf("stale-while-revalidate answer: errors %+v, extensions %v", resp.Errors, resp.Extensions)
	}
	for i, b := range third {
		if b.PublishStatus == nil || !b.PublishStatus.Freshness.Stale || !b.PublishStatus.Freshness.FromCache {
			t.Fatalf("bots[%d] = %+v (%+v), want the stale answer", i, b, b.PublishStatus)
		}
	}
	testkit.Eventually(t, 5*time.Second, "the background refreshes never reached the upstream", func() bool {
		return sim.Simulator.Stats().ByStatus["503"] == 5
	})
	// The refreshes failed: the next answers are still the stale ones, now
	// with the failure reported as a warning, not an error, and no new
	// upstream request until the retry interval has passed.
	var warnings []any
	testkit.Eventually(t, 5*time.Second, "the failed refresh was never reported", func() bool {
		_, resp = get()
		warnings, _ = resp.Extensions["warnings"].([]any)
		return len(warnings) == 5
	})
	if len(resp.Errors) != 0 || !strings.Contains(fmt.Sprint(warnings[0]), "UPSTREAM_UNAVAILABLE") {
		t.Fatalf("errors %+v, warnings %v", resp.Errors, warnings)
	}
	if n := sim.Simulator.Stats().ByStatus["503"]; n != 5 {
		t.Fatalf("%d failing requests, want 5: a failed refresh is not retried at once", n)
	}

	// Beyond the window, within staleFor: fetched now, failing, stale served.
	clk.Add(time.Minute)
	fourth, resp := get()
	warnings, _ = resp.Extensions["warnings"].([]any)
	if len(resp.Errors) != 0 || len(warnings) != 5 || !fourth[0].PublishStatus.Freshness.Stale {
		t.Fatalf("errors %+v, warnings %v, data %+v", resp.Errors, warnings, fourth[0])
	}

	// Past staleFor the entry is gone: the failure is an error again.
	clk.Add(11 * time.Minute)
	_, resp = get()
	if len(resp.Errors) != 5 || resp.Errors[0].Code() != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("errors = %+v", resp.Errors)
	}
}

func TestRefreshBypassesTheCache(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	q := fmt.Sprintf(`{ bots(refs: [{environment: "prod", botId: %q}]) { publishStatus(refresh: true) { freshness { fromCache } } } }`, acct.Bots[0].ID)
	for range 3 {
		if resp := testkit.Query(t, gw.URL, q, nil); len(resp.Errors) > 0 || strings.Contains(string(resp.Data), `"fromCache":true`) {
			t.Fatalf("refresh answer: %s %+v", resp.Data, resp.Errors)
		}
	}
	if n := sim.Simulator.Stats().Total; n != 3 {
		t.Fatalf("%d upstream requests for 3 refreshes, want 3", n)
	}
}

func TestSummaryAndStateFilter(t *testing.T) {
	acct := simulator.Account{Name: "prod", ClientID: "cs-p", ClientSecret: "secret-prod-0123456789abcdefghijkl", Bots: []simulator.Bot{
		{ID: testkit.BotID("a"), State: simulator.StateSuccessful},
		{ID: testkit.BotID("b"), State: simulator.StateFailed},
		{ID: testkit.BotID("c"), State: simulator.StateInProgress, PublishDuration: time.Hour},
		{ID: testkit.BotID("d"), State: simulator.StateNeverPublished},
		{ID: testkit.BotID("e"), State: simulator.StateSuccessful},
	}}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	if err := sim.Simulator.SetBotFault(acct.Bots[4].ID, simulator.Fault{Malformed: true}); err != nil {
		t.Fatal(err)
	}
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	resp := testkit.Query(t, gw.URL, `{
		summary { total successful failed inProgress unknown neverPublished errors }
		other: summary(environments: ["prod", "nowhere"]) { total }
		environment(name: "prod") { failed: bots(states: [FAILED, INPROGRESS]) { id } summary { total errors } }
	}`, nil)
	var data struct {
		Summary     map[string]int
		Other       map[string]int
		Environment struct {
			Failed  []botJSON
			Summary map[string]int
		}
	}
	resp.Decode(t, &data)
	want := map[string]int{"total": 5, "successful": 1, "failed": 1, "inProgress": 1, "unknown": 0, "neverPublished": 1, "errors": 1}
	for k, v := range want {
		if data.Summary[k] != v {
			t.Fatalf("summary = %v, want %v", data.Summary, want)
		}
	}
	if data.Other["total"] != 5 || len(resp.Errors) != 1 || resp.Errors[0].Code() != "NOT_FOUND" {
		t.Fatalf("summary with an unknown environment: %v, errors %+v", data.Other, resp.Errors)
	}
	if len(data.Environment.Failed) != 2 || data.Environment.Failed[0].ID != acct.Bots[1].ID || data.Environment.Failed[1].ID != acct.Bots[2].ID {
		t.Fatalf("state filter = %+v", data.Environment.Failed)
	}
	if n := sim.Simulator.Stats().Total; n != 5 {
		t.Fatalf("%d upstream requests, want 5: the summaries and the filter share one load per bot", n)
	}
}

func TestMalformedAndUnknownQueriesAreBadUserInput(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	for _, q := range []string{`{ environments { name `, `{ nope }`, `{ environment { name } }`} {
		resp := testkit.Query(t, gw.URL, q, nil)
		if len(resp.Errors) == 0 || resp.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Fatalf("%q: errors = %+v", q, resp.Errors)
		}
	}
	resp := testkit.Query(t, gw.URL, `{ environment(name: "nowhere") { name } environments { name } }`, nil)
	if len(resp.Errors) != 1 || resp.Errors[0].Code() != "NOT_FOUND" || resp.Errors[0].PathString() != "environment" {
		t.Fatalf("errors = %+v", resp.Errors)
	}
	if !strings.Contains(string(resp.Data), `"environments":[{"name":"prod"}]`) {
		t.Fatalf("data = %s", resp.Data)
	}
}

func TestOperationalRoutes(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		path, wantType string
		want           int
	}{
		{"/healthz", "text/plain", 200},
		{"/readyz", "application/json", 200},
		{"/playground", "text/html", 200},
		{"/", "", http.StatusFound},
		{"/nope", "", http.StatusNotFound},
	}
	for _, tc := range cases {
		resp, err := client.Get(gw.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
			t.Fatalf("GET %s: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	resp, err := http.Get(gw.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil || ready["status"] != "ready" {
		t.Fatalf("readyz = %v (%v)", ready, err)
	}
}

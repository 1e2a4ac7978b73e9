package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// hangingSetup is two healthy environments and one whose host hangs, with
// an upstream timeout short enough for a test and no breaker (the host
// keeps hanging however often it is asked). tune may change the
// configuration before the gateway starts.
func hangingSetup(t testing.TB, perEnv int, tune ...func(*config.Config)) (*simulator.Server, *testkit.Gateway, []simulator.Account) {
	t.Helper()
	accts := []simulator.Account{testkit.Account("east", perEnv), testkit.Account("west", perEnv), testkit.Account("stuck", perEnv)}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(accts...))
	if err := sim.Simulator.SetAccountFault(accts[2].ClientID, simulator.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	cfg := testkit.Config(t, sim.URL, accts...)
	cfg.Environments[2].Timeout = config.Duration(2 * time.Second)
	cfg.Upstream.Breaker.Failures = 0
	for _, f := range tune {
		f(cfg)
	}
	return sim, testkit.MustGateway(t, cfg, gateway.Options{}), accts
}

func TestDeferredDashboardDoesNotWaitForAHangingHost(t *testing.T) {
	const perEnv = 3
	for _, tr := range deferTransports {
		t.Run(tr.name, func(t *testing.T) {
			sim, gw, accts := hangingSetup(t, perEnv)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := postDeferred(ctx, tr, gw.URL, deferredDashboard, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()

			// The first part: every environment and bot, statuses to come.
			first, err := s.next()
			if err != nil || len(first) != 1 {
				t.Fatalf("first part: %v %+v", err, first)
			}
			if first[0].HasNext == nil || !*first[0].HasNext {
				t.Fatalf("first part without hasNext: true: %s", first[0].Data)
			}
			var initial struct {
				Environments []struct {
					Name string
					Bots []struct{ ID, Name string }
				}
			}
			if err := json.Unmarshal(first[0].Data, &initial); err != nil {
				t.Fatal(err)
			}
			if len(initial.Environments) != len(accts) {
				t.Fatalf("first part has %d environments, want %d", len(initial.Environments), len(accts))
			}
			for i, e := range initial.Environments {
				if e.Name != accts[i].Name || len(e.Bots) != perEnv {
					t.Fatalf("first part: environment %d is %s with %d bots, want %s with %d", i, e.Name, len(e.Bots), accts[i].Name, perEnv)
				}
			}

			// The stuck host's requests reach the simulator and stay there.
			testkit.Eventually(t, 5*time.Second, "the hanging host's requests are held", func() bool {
				return sim.Simulator.Held() == perEnv
			})

			// Every healthy bot's status arrives while they are held, and
			// before anything of the stuck host.
			healthy := map[[2]int]string{}
			for len(healthy) < 2*perEnv {
				parts, err := s.next()
				if err != nil {
					t.Fatalf("after %d healthy statuses: %v", len(healthy), err)
				}
				for _, p := range parts {
					b := botOf(t, p)
					if b.env == 2 {
						t.Fatalf("the stuck host's bot %d arrived before the healthy ones (%d of %d): %+v", b.bot, len(healthy), 2*perEnv, b)
					}
					if b.err != nil || b.status != "SUCCESSFUL" {
						t.Fatalf("healthy bot %d/%d: %+v", b.env, b.bot, b)
					}
					healthy[[2]int{b.env, b.bot}] = b.status
				}
			}
			if held, gone := sim.Simulator.Held(), sim.Simulator.Stats().ByStatus[simulator.StatusClientGone]; held != perEnv || gone != 0 {
				t.Fatalf("when the healthy statuses had all arrived the simulator held %d requests (%d abandoned); want all %d still held", held, gone, perEnv)
			}

			// Then the stuck host's bots, each with UPSTREAM_TIMEOUT at its path.
			stuck := map[int]bool{}
			for _, p := range s.rest(t) {
				b := botOf(t, p)
				if b.env != 2 || b.err == nil {
					t.Fatalf("after the healthy ones, want only the stuck host's errors: %+v", b)
				}
				wantPath := fmt.Sprintf("environments.2.bots.%d.publishStatus", b.bot)
				if b.err.Code() != "UPSTREAM_TIMEOUT" || b.err.PathString() != wantPath ||
					b.err.Extensions["environment"] != "stuck" || b.err.Extensions["botId"] != initial.Environments[2].Bots[b.bot].ID {
					t.Fatalf("stuck bot %d: error %+v, want UPSTREAM_TIMEOUT at %s naming it", b.bot, *b.err, wantPath)
				}
				stuck[b.bot] = true
			}
			if len(stuck) != perEnv {
				t.Fatalf("%d of the stuck host's bots answered, want %d", len(stuck), perEnv)
			}
			// One request in the metrics, partial: its deferred parts had errors.
			m := scrape(t, gw.URL)
			if got := sum(m, `publishgate_graphql_requests_total{operation="Dashboard"`); got != 1 || m[`publishgate_graphql_requests_total{operation="Dashboard",outcome="partial"}`] != 1 {
				t.Fatalf("publishgate_graphql_requests_total of the deferred dashboard: %v requests, want 1 partial", got)
			}
		})
	}
}

func TestDeferredQueriesPassTheSameChecks(t *testing.T) {
	sim := testkit.MustSimulator(t, simulator.WithAccounts(testkit.Account("dev", 2)))
	cfg := authConfig(t, sim.URL, config.Auth{HMACSecret: testHMACSecret}, testkit.Account("dev", 2))
	cfg.Limits.MaxDepth = 4
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	bearer := http.Header{"Authorization": {"Bearer " + signHS(t, callerClaims("dev"), testHMACSecret)}}
	tooDeep := `{ environments { bots { environment { bots { ... @defer { id } } } } } }`
	for _, tr := range deferTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := postDeferred(ctx, tr, gw.URL, deferredDashboard, nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
				t.Fatalf("without a token: %v, want HTTP 401", err)
			}
			if code := refusedCode(t, tr, gw.URL, tooDeep, bearer); code != "QUERY_TOO_COMPLEX" && code != "BAD_USER_INPUT" {
				t.Fatalf("a query past limits.maxDepth: code %q, want it refused with a code", code)
			}
			s, err := postDeferred(ctx, tr, gw.URL, deferredDashboard, bearer)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if n := len(s.rest(t)); n != 3 { // the initial payload and one per bot
				t.Fatalf("with a token: %d payloads, want 3", n)
			}
		})
	}
	// Counted once per request, not per payload.
	if got := scrape(t, gw.URL)[`publishgate_graphql_requests_total{operation="Dashboard",outcome="ok"}`]; got != float64(len(deferTransports)) {
		t.Fatalf("deferred dashboards counted %v times, want %d", got, len(deferTransports))
	}
}

// refusedCode sends a query that must be refused before any resolver runs
// and returns the code of the first error (as JSON, an event, or a part:
// whatever the transport answers a refused operation with), failing if the
// answer carries data.
func refusedCode(t *testing.T, tr transport, baseURL, query string, header http.Header) string {
	t.Helper()
	resp, err := sendDeferred(context.Background(), tr, baseURL, query, header)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	if i := strings.Index(text, "{"); i >= 0 {
		text = text[i:]
	}
	if j := strings.LastIndex(text, "}"); j >= 0 {
		text = text[:j+1]
	}
	var r testkit.Response
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		t.Fatalf("refusal (HTTP %d): %v\n%s", resp.StatusCode, err, raw)
	}
	if len(r.Errors) == 0 || (len(r.Data) > 0 && string(r.Data) != "null") {
		t.Fatalf("refusal (HTTP %d) with data or without errors: %s", resp.StatusCode, raw)
	}
	return r.Errors[0].Code()
}

// TestDeferredRefsAcrossHostsDoNotWaitForAHangingOne: one list naming bots
// of three hosts by reference, publishStatus deferred: the healthy hosts'
// statuses arrive while the hanging host still holds its requests (each
// environment's bots load on their own).
func TestDeferredRefsAcrossHostsDoNotWaitForAHangingOne(t *testing.T) {
	const perEnv = 2
	sim, gw, accts := hangingSetup(t, perEnv)
	var refs []string
	var envOf []int
	for e, a := range accts {
		for _, b := range a.Bots {
			refs = append(refs, fmt.Sprintf(`{environment: %q, botId: %q}`, a.Name, b.ID))
			envOf = append(envOf, e)
		}
	}
	q := `{ bots(refs: [` + strings.Join(refs, ", ") + `]) { id ... @defer(label: "status") { publishStatus { status } } } }`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postDeferred(ctx, deferTransports[0], gw.URL, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if first, err := s.next(); err != nil || len(first) != 1 {
		t.Fatalf("first part: %v %+v", err, first)
	}
	testkit.Eventually(t, 5*time.Second, "the hanging host's requests are held", func() bool {
		return sim.Simulator.Held() == perEnv
	})
	for healthy := 0; healthy < 2*perEnv; {
		parts, err := s.next()
		if err != nil {
			t.Fatalf("after %d healthy statuses: %v", healthy, err)
		}
		for _, p := range parts {
			if len(p.Path) != 2 || p.Path[0] != "bots" {
				t.Fatalf("deferred payload at %v, want bots.N", p.Path)
			}
			i := int(p.Path[1].(float64))
			if envOf[i] == 2 {
				t.Fatalf("the hanging host's bot %d arrived after only %d of %d healthy statuses: %s %+v", i, healthy, 2*perEnv, p.Data, p.Errors)
			}
			var d struct {
				PublishStatus *struct{ Status string } `json:"publishStatus"`
			}
			if err := json.Unmarshal(p.Data, &d); err != nil || d.PublishStatus == nil || len(p.Errors) > 0 {
				t.Fatalf("healthy bot %d: %s %+v", i, p.Data, p.Errors)
			}
			healthy++
		}
	}
	if held := sim.Simulator.Held(); held != perEnv {
		t.Fatalf("when the healthy statuses had arrived the simulator held %d requests, want all %d of the hanging host", held, perEnv)
	}
}

// TestDeferredClientGoneEndsItsRequest: a client that goes away while
// deferred statuses are still pending (the hanging host holds their
// requests) ends its request on the gateway: the handler returns, nothing
// stays in flight, and the gateway keeps serving. (gqlgen's generated code
// waited forever for the results its fragments drop once the request is
// done; graph.nextDeferred ends the wait.)
func TestDeferredClientGoneEndsItsRequest(t *testing.T) {
	const perEnv = 2
	for _, tr := range deferTransports {
		t.Run(tr.name, func(t *testing.T) {
			sim, gw, _ := hangingSetup(t, perEnv, func(cfg *config.Config) {
				cfg.Environments[2].Timeout = config.Duration(time.Minute) // held until the client goes
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := postDeferred(ctx, tr, gw.URL, deferredDashboard, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.next(); err != nil {
				t.Fatalf("first part: %v", err)
			}
			testkit.Eventually(t, 5*time.Second, "the hanging host's requests are held", func() bool {
				return sim.Simulator.Held() == perEnv
			})
			inFlight := func() float64 { return scrape(t, gw.URL)["publishgate_in_flight_requests"] }
			if n := inFlight(); n != 1 {
				t.Fatalf("%v requests in flight while the deferred one is open, want 1", n)
			}
			s.close()
			cancel()
			testkit.Eventually(t, 10*time.Second, "the deferred request ended after its client went away", func() bool {
				return inFlight() == 0
			})
			if resp := testkit.Query(t, gw.URL, `{ environment(name: "east") { bots { id publishStatus { status } } } }`, nil); len(resp.Errors) > 0 || resp.Status != 200 {
				t.Fatalf("after the client went away: HTTP %d %+v", resp.Status, resp.Errors)
			}
		})
	}
}

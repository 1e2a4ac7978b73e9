package gateway_test

import (
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

const dashboardQuery = `query Dashboard { environments { name bots { id publishStatus { status } } } }`

type dashboardJSON struct {
	Environments []struct {
		Name string
		Bots []struct {
			ID            string
			PublishStatus *struct{ Status string }
		}
	}
}

// botErrors maps "environment/botId" to the error at that bot's path, and
// fails the test on any error that is not about one bot's publishStatus.
func botErrors(t *testing.T, resp testkit.Response, data dashboardJSON) map[string]testkit.Error {
	t.Helper()
	out := map[string]testkit.Error{}
	for _, e := range resp.Errors {
		if len(e.Path) != 5 || e.Path[4] != "publishStatus" {
			t.Fatalf("error not at a bot's publishStatus: %+v", e)
		}
		ei, bi := int(e.Path[1].(float64)), int(e.Path[3].(float64))
		env, bot := data.Environments[ei], data.Environments[ei].Bots[bi]
		if e.Extensions["environment"] != env.Name || e.Extensions["botId"] != bot.ID {
			t.Fatalf("error at %s names %v/%v, want %s/%s", e.PathString(), e.Extensions["environment"], e.Extensions["botId"], env.Name, bot.ID)
		}
		out[env.Name+"/"+bot.ID] = e
	}
	return out
}

func TestFaultSuite(t *testing.T) {
	const (
		retries  = 2
		deadline = 3 * time.Second
		perEnv   = 4
	)
	envs := []struct {
		name      string
		fault     simulator.Fault
		wantCode  string // "" = answered
		wantTries int64  // exact requests per bot, 0 = at most 1+retries
	}{
		{name: "hang", fault: simulator.Fault{Hang: true}, wantCode: "UPSTREAM_TIMEOUT", wantTries: 1},
		{name: "unavailable", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 503}, wantCode: "UPSTREAM_UNAVAILABLE"},
		{name: "ratelimited", fault: simulator.Fault{RateLimited: true, RetryAfter: 30 * time.Second}, wantCode: "UPSTREAM_RATE_LIMITED", wantTries: 1},
		{name: "malformed", fault: simulator.Fault{Malformed: true}, wantCode: "UPSTREAM_BAD_RESPONSE", wantTries: 1},
		{name: "healthy", wantTries: 1},
	}
	var accts []simulator.Account
	for _, e := range envs {
		accts = append(accts, testkit.Account(e.name, perEnv))
	}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(accts...))
	for i, e := range envs {
		if err := sim.Simulator.SetAccountFault(accts[i].ClientID, e.fault); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testkit.Config(t, sim.URL, accts...)
	cfg.Upstream.Retries = retries
	cfg.Limits.RequestTimeout = config.Duration(deadline)
	// The hanging host's own timeout is longer than the request: the
	// request deadline alone must bound it.
	cfg.Environments[0].Timeout = config.Duration(time.Minute)
	gw := testkit.MustGateway(t, cfg, gateway.Options{})

	start := time.Now()
	resp := testkit.Query(t, gw.URL, dashboardQuery, nil)
	elapsed := time.Since(start)
	if elapsed > deadline+time.Second {
		t.Fatalf("the dashboard took %v, past its %v deadline", elapsed, deadline)
	}
	var data dashboardJSON
	resp.Decode(t, &data)
	errs := botErrors(t, resp, data)

	for i, e := range envs {
		t.Run(e.name, func(t *testing.T) {
			got := data.Environments[i]
			if got.Name != e.name || len(got.Bots) != perEnv {
				t.Fatalf("environments[%d] = %s with %d bots", i, got.Name, len(got.Bots))
			}
			for _, b := range got.Bots {
				err, failed := errs[e.name+"/"+b.ID]
				switch {
				case e.wantCode == "" && (failed || b.PublishStatus == nil || b.PublishStatus.Status != "SUCCESSFUL"):
					t.Errorf("healthy bot %s: %+v, error %+v", b.ID, b.PublishStatus, err)
				case e.wantCode != "" && (!failed || err.Code() != e.wantCode || b.PublishStatus != nil):
					t.Errorf("bot %s: error %+v, want %s at its path", b.ID, err, e.wantCode)
				case e.wantCode == "UPSTREAM_RATE_LIMITED" && err.Extensions["retryAfterSeconds"] != float64(30):
					t.Errorf("bot %s: retryAfterSeconds %v, want 30", b.ID, err.Extensions["retryAfterSeconds"])
				}
			}
		})
	}

	// The hanging host records its requests when the gateway abandons them.
	testkit.Eventually(t, 5*time.Second, "the hanging host never saw its requests end", func() bool {
		return sim.Simulator.Stats().ByAccount["hang"] >= perEnv
	})
	stats := sim.Simulator.Stats()
	for i, e := range envs {
		for _, b := range accts[i].Bots {
			n := stats.ByBot[b.ID]
			if n < 1 || n > 1+retries || (e.wantTries > 0 && n != e.wantTries) {
				t.Errorf("%s bot %s: %d requests, want %s", e.name, b.ID, n, tries(e.wantTries, retries))
			}
		}
	}
}

func tries(exact int64, retries int) string {
	if exact > 0 {
		return fmt.Sprintf("exactly %d", exact)
	}
	return fmt.Sprintf("1 to %d", 1+retries)
}

// readyz fetches /readyz and returns its breaker states.
func readyz(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Status   string
		Breakers map[string]string
	}
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: HTTP %d %s (%v)", resp.StatusCode, raw, err)
	}
	return body.Breakers
}

func TestBreakerIsolatesASickEnvironment(t *testing.T) {
	const threshold = 3
	sick, well := testkit.Account("sick", 5), testkit.Account("well", 3)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(sick, well))
	cfg := testkit.Config(t, sim.URL, sick, well)
	cfg.Upstream.Breaker = config.Breaker{Failures: threshold, OpenFor: config.Duration(3 * time.Second)}
	cfg.Environments[0].Concurrency = 1 // one attempt at a time: the breaker trips at exactly the threshold
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	if err := sim.Simulator.SetAccountFault(sick.ClientID, simulator.Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}

	check := func(step string, wantSickAnswered bool) {
		t.Helper()
		resp := testkit.Query(t, gw.URL, dashboardQuery, nil)
		var data dashboardJSON
		resp.Decode(t, &data)
		errs := botErrors(t, resp, data)
		for _, e := range data.Environments {
			for _, b := range e.Bots {
				err, failed := errs[e.Name+"/"+b.ID]
				answered := b.PublishStatus != nil && !failed
				if e.Name == "well" && !answered {
					t.Fatalf("%s: healthy bot %s failed: %+v", step, b.ID, err)
				}
				if e.Name == "sick" && answered != wantSickAnswered {
					t.Fatalf("%s: sick bot %s answered=%v, error %+v", step, b.ID, answered, err)
				}
				if e.Name == "sick" && !wantSickAnswered && err.Code() != "UPSTREAM_UNAVAILABLE" {
					t.Fatalf("%s: sick bot %s: %+v, want UPSTREAM_UNAVAILABLE", step, b.ID, err)
				}
			}
		}
	}
	sickRequests := func() int64 { return sim.Simulator.Stats().ByAccount["sick"] }

	// The first failures open the breaker; the remaining bots are refused
	// without a request.
	check("opening", false)
	if n := sickRequests(); n != threshold {
		t.Fatalf("%d requests reached the sick host, want %d (the threshold)", n, threshold)
	}
	if got := readyz(t, gw.URL); got["sick"] != "open" || got["well"] != "closed" {
		t.Fatalf("breakers %v, want sick open and well closed", got)
	}
	// While open: no request at all reaches the sick host.
	check("open", false)
	if n := sickRequests(); n != threshold {
		t.Fatalf("%d requests reached the sick host while its breaker was open, want still %d", n, threshold)
	}

	// The host recovers; after openFor the breaker lets a probe through,
	// which closes it, and every sick bot is answered again.
	if err := sim.Simulator.SetAccountFault(sick.ClientID, simulator.Fault{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the breaker never became half-open", func() bool {
		return readyz(t, gw.URL)["sick"] == "half-open"
	})
	if n := sickRequests(); n != threshold {
		t.Fatalf("%d requests before the probe, want %d", n, threshold)
	}
	check("recovered", true)
	if got := readyz(t, gw.URL)["sick"]; got != "closed" {
		t.Fatalf("breaker %s after a successful probe, want closed", got)
	}
	if n := sickRequests(); n != threshold+int64(len(sick.Bots)) {
		t.Fatalf("%d requests, want %d (failures, then one per bot)", n, threshold+len(sick.Bots))
	}
	if !strings.Contains(readyzRaw(t, gw.URL), `"breakers"`) {
		t.Fatal("/readyz lacks its breakers detail")
	}
}

func readyzRaw(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

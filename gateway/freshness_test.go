package gateway_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

func TestAgeSecondsIsRoundedToMilliseconds(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	fetched := time.Now()
	clk := &clock{now: fetched}
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{Now: clk.Now})
	q := `query($id: ID!) { publishStatus(environment: "prod", botId: $id) { freshness { ageSeconds fromCache } } }`
	vars := map[string]any{"id": acct.Bots[0].ID}
	// The number as the answer writes it, not as a decoder reads it back.
	age := regexp.MustCompile(`"ageSeconds":([^,}]*)`)

	cases := []struct { // in order: the clock only moves forward
		name  string
		after time.Duration // since the fetch, within the cache's TTL
		want  string
	}{
		{name: "the fetching answer is 0 old", after: 0, want: "0"},
		{name: "microseconds read 0, not 1.9751e-05", after: 19751 * time.Nanosecond, want: "0"},
		{name: "half a millisecond rounds up", after: 500 * time.Microsecond, want: "0.001"},
		{name: "999.6 ms rounds to a whole second", after: 999600 * time.Microsecond, want: "1"},
		{name: "three decimals at most", after: 1234567800 * time.Nanosecond, want: "1.235"},
		{name: "tenths stay tenths", after: 12300 * time.Millisecond, want: "12.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.mu.Lock()
			clk.now = fetched.Add(tc.after)
			clk.mu.Unlock()
			resp := testkit.Query(t, gw.URL, q, vars)
			if len(resp.Errors) > 0 {
				t.Fatalf("errors: %+v", resp.Errors)
			}
			m := age.FindSubmatch(resp.Data)
			if m == nil {
				t.Fatalf("no ageSeconds in %s", resp.Data)
			}
			if got := string(m[1]); got != tc.want {
				t.Fatalf("ageSeconds %s after %v, want %s (data %s)", got, tc.after, tc.want, resp.Data)
			}
		})
	}
	if n := sim.Simulator.Stats().Total; n != 1 {
		t.Fatalf("%d upstream requests, want 1: every later answer comes from the cache", n)
	}
}

package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// TestSubscriptionsEndCleanly: clients that leave stop their pollers and
// leave no goroutine behind; a shutdown (the serve context ending, as on
// SIGTERM) ends WebSocket subscriptions with a normal closure and SSE ones
// with a complete event, and once the gateway is closed the goroutine count
// is back to what it was before it started.
func TestSubscriptionsEndCleanly(t *testing.T) {
	acct := publishingAccount("bye", 3, time.Hour)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := liveConfig(t, sim.URL, 100*time.Millisecond, acct)
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	before := workingGoroutines()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	gw, err := gateway.New(ctx, cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	defer gw.Close()
	refs := refsOf(acct)
	open := func(t *testing.T) []*liveClient {
		cs := []*liveClient{
			subscribeWS(t, srv.URL, "", refs), subscribeWS(t, srv.URL, "", refs),
			subscribeSSE(t, hc, srv.URL, "", refs), subscribeSSE(t, hc, srv.URL, "", refs),
		}
		awaitInitial(t, cs, len(refs))
		if n := gw.Live.Watching(); n != len(refs) {
			t.Fatalf("%d pollers for %d bots", n, len(refs))
		}
		return cs
	}
	// What a served, idle gateway runs.
	_ = testkit.Query(t, srv.URL, `{ environments { name } }`, nil)
	idle := workingGoroutines()

	// Phases of one test, not subtests: a subtest adds a goroutine.
	{ // the clients disconnect
		for _, c := range open(t) {
			c.Close()
		}
		testkit.Eventually(t, 10*time.Second, "pollers stop when their subscribers leave", func() bool { return gw.Live.Watching() == 0 })
		tr.CloseIdleConnections()
		awaitGoroutines(t, idle, "after the clients left")
	}
	{ // the server shuts down
		clients := open(t)
		stop() // what SIGTERM does to serve's context
		// A WebSocket subscription ends with complete or the socket's normal
		// closure, whichever the server sends first; SSE with complete.
		want := []string{"closed 1000|complete", "closed 1000|complete", "complete", "complete"}
		for i, c := range clients {
			select {
			case end := <-c.End:
				if !slices.Contains(strings.Split(want[i], "|"), end) {
					t.Errorf("client %d ended with %q, want %q", i, end, want[i])
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("client %d: subscription still open after shutdown", i)
			}
		}
		srv.Close()
		if err := gw.Close(); err != nil {
			t.Fatal(err)
		}
		tr.CloseIdleConnections()
		awaitGoroutines(t, before, "after shutdown, as before the gateway started")
	}
}

// workingGoroutines counts the goroutines of the process except those
// parked on idle HTTP keep-alive connections (the upstream client's pool,
// a server waiting for a next request), which come and go with connection
// reuse and are not subscriptions.
func workingGoroutines() int { return len(workingStacks()) }

// awaitGoroutines waits until at most limit working goroutines remain, and
// fails listing them otherwise.
func awaitGoroutines(t *testing.T, limit int, what string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		stacks := workingStacks()
		if len(stacks) <= limit {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: %d goroutines, want at most %d:\n%s", what, len(stacks), limit, strings.Join(stacks, "\n\n"))
		}
	}
}

func workingStacks() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		idleConn := strings.Contains(g, "net/http.(*persistConn)") ||
			(strings.Contains(g, "net/http.(*conn).serve") && !strings.Contains(g, "publishgate") && !strings.Contains(g, "gqlgen")) ||
			strings.Contains(g, "net/http.(*connReader).backgroundRead")
		if strings.TrimSpace(g) != "" && !idleConn {
			out = append(out, g)
		}
	}
	return out
}

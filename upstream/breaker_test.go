package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

func TestBreakerOpensOnlyOnUpstreamHealthFailures(t *testing.T) {
	known := func(f fixture) []string { return []string{f.ok, f.running, f.never} }
	cases := []struct {
		name     string
		fault    simulator.Fault
		bots     func(fixture) []string // one call each, in order
		creds    func(fixture) upstream.Credentials
		wantOpen bool
	}{
		{name: "503s of distinct bots open it", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 503}, wantOpen: true},
		{name: "hangs past the attempt timeout open it", fault: simulator.Fault{Hang: true}, wantOpen: true},
		{name: "one bot failing again and again leaves it closed", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 503},
			bots: func(f fixture) []string { return []string{f.ok, f.ok, f.ok} }},
		{name: "429s leave it closed", fault: simulator.Fault{RateLimited: true, RetryAfter: time.Second}},
		{name: "malformed bodies leave it closed", fault: simulator.Fault{Malformed: true}, bots: func(f fixture) []string { return []string{f.ok, f.running, f.ok} }},
		{name: "400 Invalid StreamId leaves it closed", bots: func(fixture) []string {
			return []string{testkit.BotID("nobody-1"), testkit.BotID("nobody-2"), testkit.BotID("nobody-3")}
		}},
		{name: "401 leaves it closed", creds: func(f fixture) upstream.Credentials {
			return upstream.Credentials{ClientID: f.acct.ClientID, ClientSecret: "not-the-secret"}
		}},
	}
	const threshold = 3
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, simulator.WithFault(tc.fault))
			bots, creds := known(f), f.creds()
			if tc.bots != nil {
				bots = tc.bots(f)
			}
			if tc.creds != nil {
				creds = tc.creds(f)
			}
			c := f.client(t, creds, upstream.WithRetries(0, 0), upstream.WithTimeout(100*time.Millisecond),
				upstream.WithBreaker(upstream.BreakerSettings{Failures: threshold, OpenFor: time.Hour}))
			for _, bot := range bots {
				_, _ = c.PublishStatus(context.Background(), bot)
			}
			bot := f.ok
			testkit.Eventually(t, 5*time.Second, "the simulator did not record the attempts", func() bool {
				return f.srv.Simulator.Stats().Total == threshold
			})
			gotOpen := c.BreakerState() == upstream.BreakerOpen
			if gotOpen != tc.wantOpen {
				t.Fatalf("breaker %v after %d answers, want open=%v", c.BreakerState(), threshold, tc.wantOpen)
			}
			start := time.Now()
			_, err := c.PublishStatus(context.Background(), bot)
			if !tc.wantOpen {
				if errors.Is(err, upstream.ErrCircuitOpen) {
					t.Fatalf("refused by a closed breaker: %v", err)
				}
				return
			}
			if !errors.Is(err, upstream.ErrCircuitOpen) || !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrCircuitOpen that is also ErrUnavailable", err)
			}
			if d := time.Since(start); d > 250*time.Millisecond {
				t.Fatalf("an open breaker took %v to answer", d)
			}
			if n := f.srv.Simulator.Stats().Total; n != threshold {
				t.Fatalf("%d requests reached the host, want %d: an open breaker sends none", n, threshold)
			}
		})
	}
}

func TestBreakerCutsRetriesShort(t *testing.T) {
	f := newFixture(t, nil, simulator.WithFault(simulator.Fault{ErrorRate: 1, ErrorStatus: 503}))
	c := f.client(t, f.creds(), upstream.WithRetries(5, time.Millisecond),
		upstream.WithBreaker(upstream.BreakerSettings{Failures: 2, OpenFor: time.Hour}))
	// A bot's retries count once: six attempts, one failure in the run.
	if _, err := c.PublishStatus(context.Background(), f.ok); errors.Is(err, upstream.ErrCircuitOpen) {
		t.Fatalf("one bot's retries opened the breaker: %v", err)
	}
	// A second bot's first failure opens it, and its retries are refused.
	_, err := c.PublishStatus(context.Background(), f.running)
	if !errors.Is(err, upstream.ErrCircuitOpen) {
		t.Fatalf("err = %v, want the breaker to cut the retries short", err)
	}
	if n := f.srv.Simulator.Stats().Total; n != 6+1 {
		t.Fatalf("%d requests, want 7 (1+5 for the first bot, 1 for the second)", n)
	}
}

// gatedHost answers 200 {} (never published) or 503, and can hold requests
// until released, to see what a half-open breaker lets through.
type gatedHost struct {
	mu      sync.Mutex
	status  int
	hold    chan struct{} // nil: answer at once
	arrived chan struct{}
	count   int
}

func (h *gatedHost) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	h.count++
	status, hold := h.status, h.hold
	h.mu.Unlock()
	if hold != nil {
		h.arrived <- struct{}{}
		<-hold
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{}`))
}

func (h *gatedHost) set(status int, hold chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.hold = status, hold
}

func (h *gatedHost) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	cases := []struct {
		name        string
		probeStatus int
		wantAfter   upstream.BreakerState
	}{
		{name: "a successful probe closes it", probeStatus: http.StatusOK, wantAfter: upstream.BreakerClosed},
		{name: "a failed probe opens it again", probeStatus: http.StatusServiceUnavailable, wantAfter: upstream.BreakerOpen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := &gatedHost{status: http.StatusServiceUnavailable, arrived: make(chan struct{}, 1)}
			srv := httptest.NewServer(host)
			t.Cleanup(srv.Close)
			changes := make(chan [2]upstream.BreakerState, 16)
			c, err := upstream.New(srv.URL, upstream.Credentials{ClientID: "cs-1", ClientSecret: "s"},
				upstream.WithRetries(0, 0),
				upstream.WithBreaker(upstream.BreakerSettings{Failures: 2, OpenFor: 50 * time.Millisecond,
					OnStateChange: func(from, to upstream.BreakerState) { changes <- [2]upstream.BreakerState{from, to} }}))
			if err != nil {
				t.Fatal(err)
			}
			bot := testkit.BotID("probe")
			for _, b := range []string{testkit.BotID("first"), testkit.BotID("second")} {
				_, _ = c.PublishStatus(context.Background(), b)
			}
			if got := <-changes; got != [2]upstream.BreakerState{upstream.BreakerClosed, upstream.BreakerOpen} {
				t.Fatalf("transition %v, want closed→open", got)
			}
			if _, err := c.PublishStatus(context.Background(), bot); !errors.Is(err, upstream.ErrCircuitOpen) || host.requests() != 2 {
				t.Fatalf("open breaker: err %v, %d requests; want refused with 2 requests", err, host.requests())
			}

			// After OpenFor the breaker lets exactly one probe through.
			testkit.Eventually(t, 5*time.Second, "the breaker never became half-open", func() bool {
				return c.BreakerState() == upstream.BreakerHalfOpen
			})
			hold := make(chan struct{})
			host.set(tc.probeStatus, hold)
			probe := make(chan error, 1)
			go func() { _, err := c.PublishStatus(context.Background(), bot); probe <- err }()
			<-host.arrived
			if _, err := c.PublishStatus(context.Background(), bot); !errors.Is(err, upstream.ErrCircuitOpen) {
				t.Fatalf("a second call during the probe: err %v, want refused", err)
			}
			close(hold)
			<-probe
			if got := c.BreakerState(); got != tc.wantAfter {
				t.Fatalf("after the probe: %v, want %v", got, tc.wantAfter)
			}
			if host.requests() != 3 {
				t.Fatalf("%d requests, want 3 (2 failures and 1 probe)", host.requests())
			}
		})
	}
}

func TestBulkheadBoundsQueuedCalls(t *testing.T) {
	f := newFixture(t, nil, simulator.WithFault(simulator.Fault{Hang: true}))
	c := f.client(t, f.creds(), upstream.WithRetries(0, 0), upstream.WithTimeout(time.Minute),
		upstream.WithConcurrency(1), upstream.WithMaxQueued(2))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 { // one in flight, two queued
		wg.Go(func() { _, _ = c.PublishStatus(ctx, f.ok) })
	}
	testkit.Eventually(t, 5*time.Second, "two calls never queued behind the hanging one", func() bool { return c.Queued() == 2 })

	start := time.Now()
	_, err := c.PublishStatus(context.Background(), f.ok)
	if !errors.Is(err, upstream.ErrQueueFull) || !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrQueueFull that is also ErrUnavailable", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("a full queue took %v to refuse", d)
	}
	cancel()
	wg.Wait()
	if q := c.Queued(); q != 0 {
		t.Fatalf("%d calls still queued after their callers left", q)
	}
}

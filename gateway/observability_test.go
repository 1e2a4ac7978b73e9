package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/telemetry"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// scrape reads /metrics into series ("name{labels}" or "name") -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the series whose name and labels start with prefix.
func sum(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			s += v
		}
	}
	return s
}

func TestMetricsAfterAFaultyRun(t *testing.T) {
	names := []string{"healthy", "unavailable", "ratelimited", "hang"}
	faults := []simulator.Fault{{}, {ErrorRate: 1, ErrorStatus: 503}, {RateLimited: true, RetryAfter: 30 * time.Second}, {Hang: true}}
	var accts []simulator.Account
	for _, n := range names {
		accts = append(accts, testkit.Account(n, 3))
	}
	sim := testkit.MustSimulator(t, simulator.WithAccounts(accts...))
	for i, f := range faults {
		if err := sim.Simulator.SetAccountFault(accts[i].ClientID, f); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testkit.Config(t, sim.URL, accts...)
	cfg.Upstream.Retries = 1
	cfg.Upstream.Breaker.Failures = 3
	cfg.Limits.RequestTimeout = config.Duration(2 * time.Second)
	cfg.Environments[3].Timeout = config.Duration(300 * time.Millisecond) // hang
	gw := testkit.MustGateway(t, cfg, gateway.Options{})

	for range 2 { // the second run finds the healthy bots in the cache
		if resp := testkit.Query(t, gw.URL, dashboardQuery, nil); len(resp.Errors) != 9 {
			t.Fatalf("%d errors, want 9 (every bot of the three faulty environments)", len(resp.Errors))
		}
	}
	if resp := testkit.Query(t, gw.URL, `{ environments { name } }`, nil); len(resp.Errors) != 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	if resp := testkit.Query(t, gw.URL, `{ nope }`, nil); len(resp.Errors) == 0 {
		t.Fatal("an invalid query had no error")
	}

	// Every attempt the gateway counted reached the simulator, and the
	// other way round (the hanging host records its requests when the
	// gateway gives up on them).
	var m map[string]float64
	testkit.Eventually(t, 5*time.Second, "the upstream counter never matched the simulator's count", func() bool {
		m = scrape(t, gw.URL)
		return sum(m, "publishgate_upstream_requests_total{") == float64(sim.Simulator.Stats().Total)
	})
	stats := sim.Simulator.Stats()
	checks := []struct {
		name      string
		got, want float64
	}{
		{"dashboard partial answers", m[`publishgate_graphql_requests_total{operation="Dashboard",outcome="partial"}`], 2},
		{"anonymous ok answers", m[`publishgate_graphql_requests_total{operation="anonymous",outcome="ok"}`], 1},
		{"anonymous error answers", m[`publishgate_graphql_requests_total{operation="anonymous",outcome="error"}`], 1},
		{"dashboard latencies", m[`publishgate_graphql_request_duration_seconds_count{operation="Dashboard"}`], 2},
		{"healthy 2xx", m[`publishgate_upstream_requests_total{environment="healthy",status_class="2xx"}`], 3},
		{"healthy latencies", m[`publishgate_upstream_request_duration_seconds_count{environment="healthy"}`], 3},
		{"unavailable 5xx", m[`publishgate_upstream_requests_total{environment="unavailable",status_class="5xx"}`], float64(stats.ByAccount["unavailable"])},
		{"ratelimited 4xx", m[`publishgate_upstream_requests_total{environment="ratelimited",status_class="4xx"}`], float64(stats.ByAccount["ratelimited"])},
		{"hang: no answer", m[`publishgate_upstream_requests_total{environment="hang",status_class="error"}`], float64(stats.ByAccount["hang"])},
		{"unavailable breaker open", m[`publishgate_breaker_state{environment="unavailable"}`], 2},
		{"healthy breaker closed", m[`publishgate_breaker_state{environment="healthy"}`], 0},
		{"ratelimited breaker closed (429 is not a health failure)", m[`publishgate_breaker_state{environment="ratelimited"}`], 0},
		{"cache hits: the healthy bots of the second run", m[`publishgate_cache_hits_total`], 3},
		{"cache misses: 12 bots, then the 9 faulty again", m[`publishgate_cache_misses_total`], 21},
		{"no stale answers", m[`publishgate_cache_stale_served_total`], 0},
		{"no Redis errors", m[`publishgate_redis_errors_total`], 0},
		{"nothing in flight but the scrape, which is not counted", m[`publishgate_in_flight_requests`], 0},
		{"nothing queued", m[`publishgate_upstream_queued_calls{environment="hang"}`], 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if stats.ByAccount["unavailable"] < 3 {
		t.Errorf("the unavailable host saw %d requests, want at least the breaker threshold", stats.ByAccount["unavailable"])
	}
	if n, s := m["publishgate_loader_batch_size_count"], m["publishgate_loader_batch_size_sum"]; n < 2 || s < 24 {
		t.Errorf("loader batches: %v batches of %v keys, want at least 2 batches and 24 keys", n, s)
	}
	for k := range m {
		if strings.Contains(k, "st-") {
			t.Errorf("a bot ID in a label: %s", k)
		}
	}
}

// logBuffer collects JSON log lines safely.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the records whose msg is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func post(t *testing.T, url, query string, header http.Header) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestAccessLogLineWithRequestID(t *testing.T) {
	acct := testkit.Account("prod", 4)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	logs := &logBuffer{}
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	cases := []struct {
		name   string
		header string
		wantID func(string) bool
	}{
		{name: "the caller's ID is kept", header: "req-42.abc", wantID: func(id string) bool { return id == "req-42.abc" }},
		{name: "none is generated", header: "", wantID: func(id string) bool { return len(id) == 32 }},
		{name: "an implausible one is replaced", header: "x y\"z", wantID: func(id string) bool { return len(id) == 32 }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("X-Request-ID", tc.header)
			}
			resp := post(t, gw.URL, dashboardQuery, h)
			id := resp.Header.Get("X-Request-ID")
			if !tc.wantID(id) {
				t.Fatalf("X-Request-ID %q", id)
			}
			lines := logs.lines(t, "request")
			if len(lines) != i+1 {
				t.Fatalf("%d access lines after %d requests", len(lines), i+1)
			}
			line := lines[i]
			calls := float64(0)
			if i == 0 {
				calls = 4 // then cached
			}
			if line["request_id"] != id || line["operation"] != "Dashboard" || line["status"] != float64(200) ||
				line["upstream_calls"] != calls || line["upstream_errors"] != float64(0) || line["errors"] != float64(0) ||
				line["path"] != "/graphql" || line["duration_ms"] == nil || line["component"] != "access" {
				t.Fatalf("access line %v", line)
			}
		})
	}
	if n := sim.Simulator.Stats().Total; n != 4 {
		t.Fatalf("%d upstream requests, want 4", n)
	}
}

func TestTracingFollowsTheCallersTraceContext(t *testing.T) {
	acct := testkit.Account("prod", 2)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	rec := tracetest.NewSpanRecorder()
	tracing := &telemetry.Tracing{Provider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), Enabled: true}
	logs := &logBuffer{}
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{
		Tracing: tracing,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
	})
	const (
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
	)
	post(t, gw.URL, dashboardQuery, http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}})

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q is in trace %s, want the caller's %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	op := byName["graphql query Dashboard"]
	if len(op) != 1 || op[0].Parent().SpanID().String() != parentID || !op[0].Parent().IsRemote() {
		t.Fatalf("operation spans %v, want one child of the caller's span", op)
	}
	calls := byName["kore.publishStatus"]
	attempts := byName["GET"]
	if len(calls) != 2 || len(attempts) != 2 {
		t.Fatalf("%d call spans and %d attempt spans, want 2 and 2 (spans: %v)", len(calls), len(attempts), byName)
	}
	callIDs := map[string]bool{}
	for _, c := range calls {
		callIDs[c.SpanContext().SpanID().String()] = true
	}
	for _, a := range attempts {
		if !callIDs[a.Parent().SpanID().String()] {
			t.Errorf("attempt span is not a child of a call span")
		}
		found := false
		for _, kv := range a.Attributes() {
			if kv.Key == "http.response.status_code" && kv.Value.AsInt64() == 200 {
				found = true
			}
		}
		if !found {
			t.Errorf("attempt span lacks http.response.status_code 200: %v", a.Attributes())
		}
	}
	if lines := logs.lines(t, "request"); len(lines) != 1 || lines[0]["trace_id"] != traceID {
		t.Fatalf("access line %v, want trace_id %s", lines, traceID)
	}
}

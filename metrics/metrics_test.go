package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/metrics"
)

func TestOperationLabelIsBounded(t *testing.T) {
	m := metrics.New()
	cases := []struct {
		name, in, want string
	}{
		{"unnamed is anonymous", "", metrics.OperationAnonymous},
		{"a GraphQL name is kept", "Dashboard", "Dashboard"},
		{"not a GraphQL name is other", "drop table; --", metrics.OperationOther},
		{"too long is other", strings.Repeat("a", 65), metrics.OperationOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.OperationLabel(tc.in); got != tc.want {
				t.Fatalf("OperationLabel(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for i := range metrics.MaxOperations * 2 {
		m.OperationLabel(fmt.Sprintf("Op%d", i))
	}
	if got := m.OperationLabel("OneTooMany"); got != metrics.OperationOther {
		t.Fatalf("a new name past the cap is %q, want other", got)
	}
	if got := m.OperationLabel("Dashboard"); got != "Dashboard" {
		t.Fatalf("a name seen before the cap is %q, want kept", got)
	}
}

func TestStatusClass(t *testing.T) {
	cases := []struct {
		status int
		want   string
	}{{200, "2xx"}, {204, "2xx"}, {400, "4xx"}, {429, "4xx"}, {503, "5xx"}, {0, "error"}}
	for _, tc := range cases {
		if got := metrics.StatusClass(tc.status); got != tc.want {
			t.Errorf("StatusClass(%d) = %q, want %q", tc.status, got, tc.want)
		}
	}
}

func TestScrapeShowsEveryFamily(t *testing.T) {
	m := metrics.New()
	state := 0
	if err := m.Environment("prod-us", func() int { return state }, func() int { return 3 }); err != nil {
		t.Fatal(err)
	}
	m.GraphQLRequest(m.OperationLabel("Dashboard"), metrics.OutcomePartial, 20*time.Millisecond)
	m.UpstreamRequest("prod-us", 503, 10*time.Millisecond)
	m.CacheHits(3)
	m.CacheMisses(2)
	m.StaleServed(1)
	m.RedisError()
	m.Batch(40)
	m.RequestStarted()
	state = 2

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`publishgate_graphql_requests_total{operation="Dashboard",outcome="partial"} 1`,
		`publishgate_graphql_request_duration_seconds_count{operation="Dashboard"} 1`,
		`publishgate_upstream_requests_total{environment="prod-us",status_class="5xx"} 1`,
		`publishgate_upstream_requests_total{environment="prod-us",status_class="2xx"} 0`,
		`publishgate_upstream_request_duration_seconds_count{environment="prod-us"} 1`,
		`publishgate_cache_hits_total 3`,
		`publishgate_cache_misses_total 2`,
		`publishgate_cache_stale_served_total 1`,
		`publishgate_redis_errors_total 1`,
		`publishgate_breaker_state{environment="prod-us"} 2`,
		`publishgate_upstream_queued_calls{environment="prod-us"} 3`,
		`publishgate_in_flight_requests 1`,
		`publishgate_loader_batch_size_sum 40`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// Package metrics holds publishgate's Prometheus metrics (SPEC §3): one
// registry per gateway (no global state), the collectors under their SPEC
// names and labels, and the /metrics handler. Label values are bounded:
// environments come from the configuration, operation names are capped
// (OperationLabel), and no bot ID is ever a label.
package metrics

import (
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a GraphQL request (the outcome label).
const (
	OutcomeOK      = "ok"      // no error
	OutcomePartial = "partial" // data with errors (some bots failed)
	OutcomeError   = "error"   // errors and no data
)

// Status classes of an upstream attempt (the status_class label).
const (
	Class2xx   = "2xx"
	Class4xx   = "4xx"
	Class5xx   = "5xx"
	ClassError = "error" // no answer: connection failure or timeout
)

// Operation labels for names that cannot be used as they are.
const (
	OperationAnonymous = "anonymous" // an unnamed operation
	OperationOther     = "other"     // past the cap, or not a GraphQL name
)

// MaxOperations caps the distinct operation names used as labels; later
// new names count as OperationOther.
const MaxOperations = 100

var operationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Metrics are the collectors of one gateway.
type Metrics struct {
	reg *prometheus.Registry

	graphqlRequests *prometheus.CounterVec
	graphqlDuration *prometheus.HistogramVec
	inFlight        prometheus.Gauge

	upstreamRequests *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec

	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	staleServed prometheus.Counter
	redisErrors prometheus.Counter
	batchSize   prometheus.Histogram

	// Background work: bot discovery and refresh-ahead watching.
	discoverySyncs *prometheus.CounterVec
	discoveredBots *prometheus.GaugeVec
	watchPolls     *prometheus.CounterVec
	watchLeader    *prometheus.GaugeVec
	watchLag       *prometheus.GaugeVec

	mu  sync.Mutex
	ops map[string]bool
}

// New returns metrics on a fresh registry that also holds the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ops: map[string]bool{},
		graphqlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "publishgate_graphql_requests_total",
			Help: "GraphQL requests by operation name and outcome (ok, partial: data with errors, error: no data).",
		}, []string{"operation", "outcome"}),
		graphqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "publishgate_graphql_request_duration_seconds",
			Help:    "Duration of GraphQL requests, from the start of parsing to the response, by operation name.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "publishgate_in_flight_requests",
			Help: "HTTP requests being served (not counting /metrics, /healthz, /readyz).",
		}),
		upstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "publishgate_upstream_requests_total",
			Help: "Requests sent to Kore.ai (each attempt, retries included) by environment and status class (2xx, 4xx, 5xx, error: no answer).",
		}, []string{"environment", "status_class"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "publishgate_upstream_request_duration_seconds",
			Help:    "Duration of requests to Kore.ai by environment.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"environment"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publishgate_cache_hits_total",
			Help: "Publish-status lookups answered fresh from the cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publishgate_cache_misses_total",
			Help: "Publish-status lookups the cache could not answer fresh.",
		}),
		staleServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publishgate_cache_stale_served_total",
			Help: "Lookups answered with an entry past its freshness (the upstream failed or a refresh was on its way).",
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publishgate_redis_errors_total",
			Help: "Failed cache operations against Redis (the gateway carried on without the cache).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "publishgate_loader_batch_size",
			Help:    "Keys per dataloader batch.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000},
		}),
	}
	m.newBackground()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.graphqlRequests, m.graphqlDuration, m.inFlight,
		m.upstreamRequests, m.upstreamDuration,
		m.cacheHits, m.cacheMisses, m.staleServed, m.redisErrors, m.batchSize,
	)
	return m
}

// Registry is where the collectors live; more may be registered on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// OperationLabel bounds an operation name for use as a label value: an
// empty name is OperationAnonymous; a name that is not a plain GraphQL name,
// or a new one once MaxOperations names are in use, is OperationOther.
func (m *Metrics) OperationLabel(name string) string {
	if name == "" {
		return OperationAnonymous
	}
	if !operationName.MatchString(name) {
		return OperationOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops[name] {
		return name
	}
	if len(m.ops) >= MaxOperations {
		return OperationOther
	}
	m.ops[name] = true
	return name
}

// GraphQLRequest records one finished GraphQL request; operation must come
// from OperationLabel.
func (m *Metrics) GraphQLRequest(operation, outcome string, d time.Duration) {
	m.graphqlRequests.WithLabelValues(operation, outcome).Inc()
	m.graphqlDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// RequestStarted and RequestFinished track the requests in flight.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestFinished ends what RequestStarted began.
func (m *Metrics) RequestFinished() { m.inFlight.Dec() }

// StatusClass is the status_class of an HTTP status; 0 (no answer) is
// ClassError.
func StatusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return Class2xx
	case status >= 400 && status < 500:
		return Class4xx
	case status >= 500 && status < 600:
		return Class5xx
	case status == 0:
		return ClassError
	}
	return ClassError
}

// UpstreamRequest records one attempt against environment's host; status 0
// means no answer arrived.
func (m *Metrics) UpstreamRequest(environment string, status int, d time.Duration) {
	m.upstreamRequests.WithLabelValues(environment, StatusClass(status)).Inc()
	m.upstreamDuration.WithLabelValues(environment).Observe(d.Seconds())
}

// Environment declares an environment: its upstream series exist (at 0)
// from the start, and its breaker state (0 closed, 1 half-open, 2 open) and
// the lookups queued for its concurrency slots are read at every scrape.
// Call it once per environment.
func (m *Metrics) Environment(name string, breakerState, queued func() int) error {
	for _, c := range []string{Class2xx, Class4xx, Class5xx, ClassError} {
		m.upstreamRequests.WithLabelValues(name, c)
	}
	m.upstreamDuration.WithLabelValues(name)
	labels := prometheus.Labels{"environment": name}
	if err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "publishgate_breaker_state",
		Help:        "Circuit breaker of each environment: 0 closed, 1 half-open, 2 open.",
		ConstLabels: labels,
	}, func() float64 { return float64(breakerState()) })); err != nil {
		return err
	}
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "publishgate_upstream_queued_calls",
		Help:        "Lookups waiting for one of the environment's concurrency slots (bounded by maxQueued).",
		ConstLabels: labels,
	}, func() float64 { return float64(queued()) }))
}

// CacheHits counts n lookups answered fresh from the cache.
func (m *Metrics) CacheHits(n int) { m.cacheHits.Add(float64(n)) }

// CacheMisses counts n lookups the cache could not answer fresh.
func (m *Metrics) CacheMisses(n int) { m.cacheMisses.Add(float64(n)) }

// StaleServed counts n lookups answered with stale entries.
func (m *Metrics) StaleServed(n int) { m.staleServed.Add(float64(n)) }

// RedisError counts one failed cache operation.
func (m *Metrics) RedisError() { m.redisErrors.Inc() }

// Batch records the size of one dataloader batch.
func (m *Metrics) Batch(size int) { m.batchSize.Observe(float64(size)) }

// newBackground makes the collectors of bot discovery and watching.
func (m *Metrics) newBackground() {
	m.discoverySyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "publishgate_discovery_syncs_total",
		Help: "Changes of an environment's discovered bot list by outcome (fetched: listed with Kore.ai here, shared: taken from another replica, failed: the last list stays).",
	}, []string{"environment", "outcome"})
	m.discoveredBots = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "publishgate_discovered_bots",
		Help: "Bots of an environment listed by Kore.ai's Get Bots API in the list in use.",
	}, []string{"environment"})
	m.watchPolls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "publishgate_watch_polls_total",
		Help: "Bots read in the background by refresh-ahead watching, by outcome (ok, failed).",
	}, []string{"environment", "outcome"})
	m.watchLeader = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "publishgate_watch_leader",
		Help: "1 while this replica is the one polling a watched environment.",
	}, []string{"environment"})
	m.watchLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "publishgate_watch_lag_seconds",
		Help: "How long the last background read of a watched environment took to reach every replica, from its round's start: each bot's next read starts that much (at most a quarter interval) before an interval has passed, so that no answer served is older than watchInterval.",
	}, []string{"environment"})
	m.reg.MustRegister(m.discoverySyncs, m.discoveredBots, m.watchPolls, m.watchLeader, m.watchLag)
}

// DiscoverySync records a change of env's discovered list (outcome fetched,
// shared or failed) and the number of discovered bots in use.
func (m *Metrics) DiscoverySync(env, outcome string, bots int) {
	m.discoverySyncs.WithLabelValues(env, outcome).Inc()
	m.discoveredBots.WithLabelValues(env).Set(float64(bots))
}

// WatchPolls records polled bots of env read in the background, failed of
// them failing, and the lag after which the other replicas had them.
func (m *Metrics) WatchPolls(env string, polled, failed int, lag time.Duration) {
	m.watchLag.WithLabelValues(env).Set(lag.Seconds())
	m.watchPolls.WithLabelValues(env, "ok").Add(float64(polled - failed))
	if failed > 0 {
		m.watchPolls.WithLabelValues(env, "failed").Add(float64(failed))
	}
}

// WatchLeader records whether this replica polls env.
func (m *Metrics) WatchLeader(env string, leading bool) {
	v := 0.0
	if leading {
		v = 1
	}
	m.watchLeader.WithLabelValues(env).Set(v)
}

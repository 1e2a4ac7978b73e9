package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/publishgate/publishgate/alerts"
	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/metrics"
	"github.com/publishgate/publishgate/telemetry"
	"github.com/publishgate/publishgate/upstream"
)

// observability is what lets operators see the gateway work: Prometheus
// metrics, OpenTelemetry spans and one access-log line per request.
type observability struct {
	metrics *metrics.Metrics
	// alerts exports the publish and reachability metrics alerts page on.
	alerts  *alerts.Observer
	tracing *telemetry.Tracing
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	log     *slog.Logger

	mu      sync.Mutex
	clients []namedClient // configuration order, for /readyz
}

type namedClient struct {
	name   string
	client *upstream.Client
}

// newObservability builds the metrics and tracing of a gateway from cfg,
// unless opts supplies them. The logger gains the request ID of the context
// of each record.
func newObservability(cfg *config.Config, opts Options) (*observability, error) {
	o := &observability{metrics: opts.Metrics, tracing: opts.Tracing, prop: telemetry.Propagator()}
	if o.metrics == nil {
		o.metrics = metrics.New()
	}
	names := make([]string, 0, len(cfg.Environments))
	for _, e := range cfg.Environments {
		names = append(names, e.Name)
	}
	var err error
	o.alerts, err = alerts.New(o.metrics.Registry(), names, alerts.WithClock(opts.Now),
		alerts.WithMaxAge(cfg.Cache.TTL.Duration()+cfg.Cache.StaleFor.Duration()))
	if err != nil {
		return nil, err
	}
	if o.tracing == nil {
		t, err := telemetry.New(telemetry.Config{OTLPEndpoint: cfg.Tracing.OTLPEndpoint, SampleRatio: cfg.Tracing.SampleRatio})
		if err != nil {
			return nil, err
		}
		o.tracing = t
	}
	o.tracer = o.tracing.Provider.Tracer("github.com/publishgate/publishgate/gateway")
	o.log = slog.New(requestIDHandler{opts.Logger.Handler()}).With("component", "access")
	return o, nil
}

// close flushes the spans not yet exported.
func (o *observability) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return o.tracing.Shutdown(ctx)
}

// clientOption makes an environment's client observable and resilient: its
// name, breaker, bulkhead, observer and tracer.
func (o *observability) clientOption(cfg *config.Config, e config.Environment, logger *slog.Logger) upstream.Option {
	name := e.Name
	blog := logger.With("component", "breaker", "environment", name)
	opts := []upstream.Option{
		upstream.WithEnvironment(name),
		upstream.WithMaxQueued(e.MaxQueued),
		upstream.WithBreaker(upstream.BreakerSettings{
			Failures: cfg.Upstream.Breaker.Failures,
			OpenFor:  cfg.Upstream.Breaker.OpenFor.Duration(),
			OnStateChange: func(from, to upstream.BreakerState) {
				blog.Warn("circuit breaker "+to.String(), "from", from.String(), "to", to.String())
			},
		}),
		upstream.WithObserver(o.upstreamObserver(name)),
		upstream.WithTracerProvider(o.tracing.Provider),
	}
	return func(c *upstream.Client) {
		for _, opt := range opts {
			opt(c)
		}
	}
}

// addClient registers an environment's client for the breaker metric and
// /readyz.
func (o *observability) addClient(name string, c *upstream.Client) error {
	o.mu.Lock()
	o.clients = append(o.clients, namedClient{name, c})
	o.mu.Unlock()
	o.alerts.Breaker(name, func() bool { return c.BreakerState() == upstream.BreakerOpen })
	return o.metrics.Environment(name, func() int { return int(c.BreakerState()) }, c.Queued)
}

// breakerStates maps each environment to the state of its breaker.
func (o *observability) breakerStates() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]string, len(o.clients))
	for _, c := range o.clients {
		out[c.name] = c.client.BreakerState().String()
	}
	return out
}

// upstreamObserver counts each attempt in the metrics and in the access log
// line of the request that made it.
func (o *observability) upstreamObserver(env string) func(context.Context, upstream.Observation) {
	return func(ctx context.Context, ob upstream.Observation) {
		o.metrics.UpstreamRequest(env, ob.StatusCode, ob.Duration)
		if !errors.Is(ob.Err, context.Canceled) { // the caller left: says nothing of the host
			o.alerts.Upstream(env, ob.StatusCode)
		}
		if s, ok := ctx.Value(statsKey{}).(*requestStats); ok {
			s.upstreamCalls.Add(1)
			if ob.Err != nil {
				s.upstreamErrors.Add(1)
			}
		}
	}
}

// loaderHooks feed the cache and batch metrics.
func (o *observability) loaderHooks() loader.Hooks {
	return loader.Hooks{
		BatchSpan: func(ctx context.Context, size int) (context.Context, func()) {
			ctx, span := o.tracer.Start(ctx, "loader.batch", trace.WithAttributes(attribute.Int("publishgate.batch.size", size)))
			return ctx, func() { span.End() }
		},
		Batch:     o.metrics.Batch,
		CacheHit:  o.metrics.CacheHits,
		CacheMiss: o.metrics.CacheMisses,
		Stale:     o.metrics.StaleServed,
		CacheErr:  func(error) { o.metrics.RedisError() },
		Seen:      o.alerts.Seen,
		Stored:    o.alerts.Stored,
		// The coordinator's refusals; those of the budget itself are
		// counted by alerts.CountingBudget.
		BudgetRefused: o.alerts.BudgetExhausted,
	}
}

// requestStats are collected while a request is served, for its access line.
type requestStats struct {
	operation      atomic.Pointer[string]
	graphqlErrors  atomic.Int64
	upstreamCalls  atomic.Int64
	upstreamErrors atomic.Int64
}

type statsKey struct{}

type requestIDKey struct{}

// requestIDPattern is what an incoming X-Request-ID must look like to be
// kept (it ends up in logs); anything else is replaced.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@/+=-]{1,128}$`)

// RequestIDFromContext returns the request ID the access log and the
// response's X-Request-ID carry.
func RequestIDFromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey{}).(string)
	return id, ok
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// quietPaths are probed by machines every few seconds: logged at debug and
// not counted in flight.
var quietPaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// middleware gives every request an ID (X-Request-ID, taken from the caller
// when plausible, returned in the response), the caller's W3C trace
// context, an in-flight count and one access-log line.
func (o *observability) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		quiet := quietPaths[r.URL.Path]
		if !quiet {
			o.metrics.RequestStarted()
			defer o.metrics.RequestFinished()
		}
		stats := &requestStats{}
		ctx := o.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx = context.WithValue(ctx, statsKey{}, stats)
		ctx = context.WithValue(ctx, requestIDKey{}, id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))

		level := slog.LevelInfo
		if quiet {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
		}
		if op := stats.operation.Load(); op != nil {
			attrs = append(attrs,
				slog.String("operation", *op),
				slog.Int64("errors", stats.graphqlErrors.Load()),
				slog.Int64("upstream_calls", stats.upstreamCalls.Load()),
				slog.Int64("upstream_errors", stats.upstreamErrors.Load()),
			)
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		o.log.LogAttrs(ctx, level, "request", attrs...)
	})
}

// statusWriter records the status and size of a response. It keeps
// flushing and hijacking available to the handlers behind it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Flush sends buffered data (server-sent events need it).
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack hands the connection over (WebSocket upgrades need it).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the original writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestIDHandler adds the request ID of a record's context to it, so
// that every log line written while serving a request can be tied to its
// access line.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := RequestIDFromContext(ctx); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// graphqlObserver is the gqlgen extension that measures each operation:
// the request metrics, the operation span (a child of the caller's trace
// context) and the operation name of the access line.
type graphqlObserver struct{ o *observability }

var (
	_ graphql.HandlerExtension     = graphqlObserver{}
	_ graphql.ResponseInterceptor  = graphqlObserver{}
	_ graphql.OperationInterceptor = graphqlObserver{}
)

func (graphqlObserver) ExtensionName() string { return "Observability" }

func (graphqlObserver) Validate(graphql.ExecutableSchema) error { return nil }

func (x graphqlObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	opType := "query"
	if oc.Operation != nil {
		if oc.Operation.Operation == ast.Subscription {
			return next(ctx) // called per event: not a request
		}
		opType = string(oc.Operation.Operation)
	}
	// A deferred query answers in several payloads (defer.go): the request
	// is measured once, from the first to the last.
	m, _ := ctx.Value(measureKey{}).(*measure)
	if m != nil && m.started() {
		resp := next(ctx)
		m.add(resp)
		if !hasNext(resp) {
			m.finish()
		}
		return resp
	}
	name := oc.OperationName
	if name == "" && oc.Operation != nil {
		name = oc.Operation.Name
	}
	label := x.o.metrics.OperationLabel(name)
	start := oc.Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	ctx, span := x.o.tracer.Start(ctx, "graphql "+opType+" "+label, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("graphql.operation.name", label), attribute.String("graphql.operation.type", opType)))
	if m == nil {
		m = &measure{}
	}
	m.begin(x.o, ctx, span, label, start)
	resp := next(ctx)
	m.add(resp)
	if hasNext(resp) {
		// Later payloads finish it; a client that leaves first ends ctx.
		context.AfterFunc(ctx, m.finish)
		return resp
	}
	m.finish()
	return resp
}

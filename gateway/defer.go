package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/metrics"
)

// multipartDelivery is how long the multipart transport gathers incremental
// payloads that complete together into one part: a bot's answer waits at
// most this long, and the answers of a whole fast environment travel
// together instead of one part per bot.
const multipartDelivery = 5 * time.Millisecond

// addIncrementalTransport adds @defer over multipart/mixed (the GraphQL
// over HTTP incremental delivery RFC, what Apollo Client and meros read).
// It must come before POST: gqlgen uses the first transport that supports
// a request, and such a request is a JSON POST that accepts
// multipart/mixed. Deferred queries over SSE need nothing more: gqlgen's
// SSE transport sends each payload as a "next" event.
func addIncrementalTransport(gql *handler.Server) {
	gql.AddTransport(transport.MultipartMixed{Boundary: "-", DeliveryTimeout: multipartDelivery})
}

// streamedQueries gives a query or mutation that came over SSE what every
// other request gets from the HTTP layer: a per-request dataloader, which
// routes skips for event streams because a subscription would keep it (and
// its cached futures) for the life of the connection, and the request
// deadline, which limitRequest leaves off event streams because
// subscriptions last. It is an operation interceptor because only the
// parsed operation says which of the two an SSE request is.
type streamedQueries struct {
	source  *loader.Source
	timeout time.Duration
}

var (
	_ graphql.HandlerExtension     = streamedQueries{}
	_ graphql.OperationInterceptor = streamedQueries{}
)

func (streamedQueries) ExtensionName() string { return "StreamedQueries" }

func (streamedQueries) Validate(graphql.ExecutableSchema) error { return nil }

func (s streamedQueries) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	if _, ok := loader.FromContext(ctx); ok {
		return next(ctx)
	}
	ctx = loader.NewContext(ctx, s.source.NewLoaders())
	if s.timeout <= 0 {
		return next(ctx)
	}
	// Released when the last payload has been produced; if the client
	// leaves first, the timer does it within the timeout.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil || resp.HasNext == nil || !*resp.HasNext {
			cancel()
		}
		return resp
	}
}

// hasNext reports whether more payloads of the same operation follow resp.
func hasNext(resp *graphql.Response) bool {
	return resp != nil && resp.HasNext != nil && *resp.HasNext
}

// measureKey carries an operation's measure from InterceptOperation to
// every payload's InterceptResponse.
type measureKey struct{}

// measure is what graphqlObserver records of one operation, accumulated
// over its payloads: the operation metric, span and access-log fields are
// written once, by finish.
type measure struct {
	mu       sync.Mutex
	o        *observability
	ctx      context.Context
	span     trace.Span
	label    string
	start    time.Time
	nerr     int
	firstErr string
	hasData  bool
	begun    bool
	done     bool
}

// InterceptOperation gives the operation a measure that its payloads share.
func (x graphqlObserver) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, measureKey{}, &measure{}))
}

func (m *measure) started() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.begun
}

func (m *measure) begin(o *observability, ctx context.Context, span trace.Span, label string, start time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.o, m.ctx, m.span, m.label, m.start, m.begun = o, ctx, span, label, start, true
}

// add counts a payload's errors and whether it carried data.
func (m *measure) add(resp *graphql.Response) {
	if resp == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(resp.Errors) > 0 && m.firstErr == "" {
		m.firstErr = resp.Errors[0].Message
	}
	m.nerr += len(resp.Errors)
	m.hasData = m.hasData || (len(resp.Data) > 0 && string(resp.Data) != "null")
}

// finish records the operation once: its outcome over every payload, its
// duration to the last one.
func (m *measure) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done || !m.begun {
		return
	}
	m.done = true
	outcome := metrics.OutcomeOK
	if m.nerr > 0 {
		outcome = metrics.OutcomeError
		if m.hasData {
			outcome = metrics.OutcomePartial
		}
		m.span.SetAttributes(attribute.Int("graphql.errors", m.nerr))
		if outcome == metrics.OutcomeError {
			m.span.SetStatus(codes.Error, m.firstErr)
		}
	}
	m.span.End()
	m.o.metrics.GraphQLRequest(m.label, outcome, time.Since(m.start))
	if s, ok := m.ctx.Value(statsKey{}).(*requestStats); ok {
		s.operation.Store(&m.label)
		s.graphqlErrors.Add(int64(m.nerr))
	}
}

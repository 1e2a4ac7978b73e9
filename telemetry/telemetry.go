// Package telemetry sets up OpenTelemetry tracing: an OTLP/HTTP exporter
// when an endpoint is configured, no tracing at all otherwise, and W3C trace
// context (traceparent, tracestate, baggage) for propagation. Nothing is
// installed globally: the provider and propagator are handed to whoever
// makes spans.
package telemetry

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config says where spans go.
type Config struct {
	// OTLPEndpoint is the OTLP/HTTP collector, such as
	// http://otel-collector:4318; /v1/traces is added when the URL has no
	// path. Empty turns tracing off.
	OTLPEndpoint string
	// SampleRatio is the share of root traces recorded (0 to 1); a caller's
	// sampled flag is followed either way.
	SampleRatio float64
	// ServiceName names this process in the traces (default publishgate).
	ServiceName string
}

// Tracing is a configured tracer provider.
type Tracing struct {
	// Provider makes tracers; a no-op one when tracing is off.
	Provider trace.TracerProvider
	// Enabled is true when spans are exported.
	Enabled bool
	sdk     *sdktrace.TracerProvider
}

// Propagator is W3C trace context plus baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// New returns the tracing cfg asks for. Spans are exported in batches; call
// Shutdown to flush them.
func New(cfg Config) (*Tracing, error) {
	if cfg.OTLPEndpoint == "" {
		return &Tracing{Provider: noop.NewTracerProvider()}, nil
	}
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: otlpEndpoint must be an http or https URL")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "publishgate"
	}
	return NewWithExporter(exp, cfg.SampleRatio, name), nil
}

// NewWithExporter returns tracing that hands spans to exp (tests pass an
// in-memory exporter), sampling ratio of root traces.
func NewWithExporter(exp sdktrace.SpanExporter, ratio float64, serviceName string) *Tracing {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", serviceName))),
	)
	return &Tracing{Provider: tp, Enabled: true, sdk: tp}
}

// Shutdown flushes the spans not yet exported and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

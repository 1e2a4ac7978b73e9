package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/publishgate/publishgate/telemetry"
)

func TestTracingIsOffWithoutAnEndpoint(t *testing.T) {
	tr, err := telemetry.New(telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	if tr.Enabled || span.IsRecording() {
		t.Fatalf("enabled=%v recording=%v, want tracing off", tr.Enabled, span.IsRecording())
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSpansAreExportedOverOTLPHTTP(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
		types []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		types = append(types, r.Header.Get("Content-Type"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)

	tr, err := telemetry.New(telemetry.Config{OTLPEndpoint: collector.URL, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "op")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown (flush): %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/v1/traces" || types[0] != "application/x-protobuf" {
		t.Fatalf("collector saw %v %v, want one POST /v1/traces in protobuf", paths, types)
	}
}

func TestBadEndpointIsRefused(t *testing.T) {
	if _, err := telemetry.New(telemetry.Config{OTLPEndpoint: "collector:4318"}); err == nil {
		t.Fatal("an endpoint without a scheme was accepted")
	}
}

func TestPropagatorReadsW3CTraceContext(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.Propagator().Extract(context.Background(), propagation.HeaderCarrier(http.Header{"Traceparent": {traceparent}}))
	carrier := propagation.HeaderCarrier(http.Header{})
	telemetry.Propagator().Inject(ctx, carrier)
	if got := carrier.Get("traceparent"); got != traceparent {
		t.Fatalf("round trip gave %q, want %q", got, traceparent)
	}
}

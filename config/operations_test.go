package config

import (
	"testing"
	"time"
)

func TestOperationsKeysParseWithDefaults(t *testing.T) {
	cases := []struct {
		name        string
		yaml        string
		failures    int
		openFor     time.Duration
		endpoint    string
		ratio       float64
		maxQueued   int
		wantProblem string
	}{
		{name: "absent keys take the defaults", yaml: minimal, failures: 5, openFor: 30 * time.Second, ratio: 1},
		{name: "written keys are kept", yaml: minimal + `    maxQueued: 12
upstream:
  breaker: { failures: 0, openFor: 5s }
tracing:
  otlpEndpoint: http://otel-collector:4318
  sampleRatio: 0.25
`, failures: 0, openFor: 5 * time.Second, endpoint: "http://otel-collector:4318", ratio: 0.25, maxQueued: 12},
		{name: "negative failures are refused", yaml: minimal + "upstream:\n  breaker: { failures: -1 }\n", wantProblem: "upstream.breaker.failures"},
		{name: "zero openFor is refused", yaml: minimal + "upstream:\n  breaker: { openFor: 0s }\n", wantProblem: "upstream.breaker.openFor"},
		{name: "sample ratio above 1 is refused", yaml: minimal + "tracing:\n  sampleRatio: 1.5\n", wantProblem: "tracing.sampleRatio"},
		{name: "endpoint without a scheme is refused", yaml: minimal + "tracing:\n  otlpEndpoint: otel-collector:4318\n", wantProblem: "tracing.otlpEndpoint"},
		{name: "negative maxQueued is refused", yaml: minimal + "    maxQueued: -1\n", wantProblem: "environments[0].maxQueued"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantProblem != "" {
				verr := mustProblems(t, tc.yaml, nil)
				if len(verr.Problems) != 1 || verr.Problems[0].Key != tc.wantProblem {
					t.Fatalf("problems %v, want one at %s", verr.Problems, tc.wantProblem)
				}
				return
			}
			c := mustParse(t, tc.yaml, nil)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.Upstream.Breaker.Failures != tc.failures || c.Upstream.Breaker.OpenFor.Duration() != tc.openFor {
				t.Errorf("breaker = %+v, want failures %d openFor %v", c.Upstream.Breaker, tc.failures, tc.openFor)
			}
			if c.Tracing.OTLPEndpoint != tc.endpoint || c.Tracing.SampleRatio != tc.ratio {
				t.Errorf("tracing = %+v, want endpoint %q ratio %v", c.Tracing, tc.endpoint, tc.ratio)
			}
			if c.Environments[0].MaxQueued != tc.maxQueued {
				t.Errorf("maxQueued = %d, want %d", c.Environments[0].MaxQueued, tc.maxQueued)
			}
		})
	}
}

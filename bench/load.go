package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Queries of the benchmark: the same selection for every workload; cold adds
// refresh: true, which bypasses the cache (but not the coalescing).
const (
	queryWarm = `query Bench($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus { status percentageComplete lastModifiedOn statusSummary { resourceType status } } } }`
	queryCold = `query Bench($refs: [BotRef!]!) { bots(refs: $refs) { id publishStatus(refresh: true) { status percentageComplete lastModifiedOn statusSummary { resourceType status } } } }`
)

// body is a GraphQL request body for refs (the REST floor reads the same).
func body(query string, refs []botRef) []byte {
	type ref struct {
		Environment string `json:"environment"`
		BotID       string `json:"botId"`
	}
	rs := make([]ref, len(refs))
	for i, r := range refs {
		rs[i] = ref{r.Env, r.ID}
	}
	b, err := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"refs": rs}})
	if err != nil {
		panic(err) // only strings: cannot fail
	}
	return b
}

// targets posts each body to each base URL's /graphql, interleaved (vegeta's
// static targeter takes them round-robin, so replicas share the load).
func targets(bases []string, bodies ...[]byte) []vegeta.Target {
	var out []vegeta.Target
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	for _, b := range bodies {
		for _, base := range bases {
			out = append(out, vegeta.Target{Method: http.MethodPost, URL: base + "/graphql", Body: b, Header: hdr})
		}
	}
	return out
}

// loadResult is what one attack measured.
type loadResult struct {
	latencies []time.Duration // successful requests only
	failed    int             // transport errors, non-200, or GraphQL errors
	firstErr  string
	rate      float64 // achieved request rate
}

// ok is the number of successful requests.
func (r loadResult) ok() int { return len(r.latencies) }

// quantile returns the q-quantile (nearest rank) of the successful latencies.
func (r loadResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// attackSpec says how to drive one attack.
type attackSpec struct {
	rate     float64       // requests a second
	duration time.Duration // how long
	// sequential allows one request in flight at a time: a request is never
	// overlapped by the next (cold passes, whose per-query upstream count
	// must not be blurred by coalescing), at the cost of the rate when a
	// request takes longer than 1/rate.
	sequential bool
	// burst, when > 0, fires exactly that many requests at once instead.
	burst int
}

// burstPacer lets exactly n hits go at once, then stops.
type burstPacer struct{ n uint64 }

func (p burstPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= p.n }
func (p burstPacer) Rate(time.Duration) float64                              { return math.Inf(1) }

// attack drives tgts with vegeta as spec says and collects the results. A
// request counts as failed on a transport error, a status other than 200, or
// a GraphQL "errors" member in the answer.
func (h *harness) attack(ctx context.Context, tgts []vegeta.Target, spec attackSpec) loadResult {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(60 * time.Second), vegeta.MaxBody(-1)}
	var pacer vegeta.Pacer
	dur := spec.duration
	switch {
	case spec.burst > 0:
		pacer, dur = burstPacer{uint64(spec.burst)}, 0
		opts = append(opts, vegeta.Workers(uint64(spec.burst)), vegeta.Connections(spec.burst))
	case spec.sequential:
		pacer = vegeta.ConstantPacer{Freq: max(1, int(spec.rate)), Per: time.Second}
		opts = append(opts, vegeta.Workers(1), vegeta.MaxWorkers(1))
	default:
		pacer = vegeta.ConstantPacer{Freq: max(1, int(spec.rate)), Per: time.Second}
		opts = append(opts, vegeta.Workers(8), vegeta.Connections(256))
	}
	atk := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var out loadResult
	first, last := time.Time{}, time.Time{}
	tr := vegeta.NewStaticTargeter(tgts...)
	for res := range atk.Attack(tr, pacer, dur, "bench") {
		if first.IsZero() {
			first = res.Timestamp
		}
		last = res.Timestamp
		switch {
		case res.Error != "":
			out.failed++
			out.firstErr = cmp(out.firstErr, res.Error)
		case res.Code != http.StatusOK:
			out.failed++
			out.firstErr = cmp(out.firstErr, fmt.Sprintf("HTTP %d: %.200s", res.Code, res.Body))
		case bytes.Contains(res.Body, []byte(`"errors"`)):
			out.failed++
			out.firstErr = cmp(out.firstErr, fmt.Sprintf("GraphQL errors: %.300s", res.Body))
		default:
			out.latencies = append(out.latencies, res.Latency)
		}
	}
	if n := out.ok() + out.failed; n > 1 && last.After(first) {
		out.rate = float64(n-1) / last.Sub(first).Seconds()
	}
	return out
}

// cmp returns a unless it is empty, else b.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sustained finds the highest rate, doubling from start, at which a step of
// the ladder keeps p99 within slo with no failure and the rate achieved
// within 10% of the rate asked. It returns 0 when even start misses.
func (h *harness) sustained(ctx context.Context, tgts []vegeta.Target, start float64, slo time.Duration) float64 {
	best := 0.0
	for i := range h.opts.ladderSteps {
		rate := start * math.Pow(2, float64(i))
		r := h.attack(ctx, tgts, attackSpec{rate: rate, duration: h.opts.ladderStep})
		if ctx.Err() != nil || r.failed > 0 || r.quantile(0.99) > slo || r.rate < 0.9*rate {
			break
		}
		best = rate
	}
	return best
}

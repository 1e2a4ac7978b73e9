package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// queryDeferred is the cold query with every bot's status deferred: the
// first part lists the bots, each status follows in its own part as soon as
// its host answered.
const queryDeferred = `query Bench($refs: [BotRef!]!) { bots(refs: $refs) { id ... @defer(label: "status") { publishStatus(refresh: true) { status percentageComplete lastModifiedOn statusSummary { resourceType status } } } } }`

// deferredRun is one repetition of the defer workload with binary b: on
// fresh replicas and an empty Redis (no breaker opened by the last
// repetition's timeouts, no request of it still held, no fill lock its killed
// replicas left on the hanging bots). Its floor is the replica's own answer
// without @defer, so each binary has its own.
func (h *harness) deferredRun(ctx context.Context, t *topology, b binary, _ map[string]sample) ([]result, error) {
	if err := t.restart(ctx, b, gatewayConfig{ttl: time.Hour}); err != nil {
		return nil, err
	}
	first, healthy, err := h.deferred(ctx, t)
	if err != nil {
		return nil, err
	}
	return []result{{workDeferFirst, first}, {workDeferHealthy, healthy}}, nil
}

// deferred: the topology's last host hangs (a simulator fault: it holds
// every request open), the others answer after the upstream latency. One
// replica gets, one at a time, a dashboard over every bot that defers each
// status (refresh: true) and is read as multipart/mixed until every healthy
// bot's status has arrived; it is measured twice, to its first part
// (first) and to the last healthy status (healthy). The floor of both is
// the same replica asked for the healthy hosts' bots alone, without @defer:
// what a dashboard would wait for if the hanging host did not exist.
func (h *harness) deferred(ctx context.Context, t *topology) (first, healthy rep, err error) {
	first, healthy = rep{gw: newSample(), floor: newSample()}, rep{gw: newSample(), floor: newSample()}
	if len(t.envs) < 2 {
		return first, healthy, errors.New("defer needs two hosts or more (one hangs)")
	}
	hanging := t.envs[len(t.envs)-1].Name
	var healthyRefs []botRef
	isHealthy := make([]bool, len(t.refs))
	for i, r := range t.refs {
		if r.Env != hanging {
			healthyRefs = append(healthyRefs, r)
			isHealthy[i] = true
		}
	}
	sim := t.sims[len(t.sims)-1]
	if err := h.setFault(ctx, sim.URL, `{"global":{"hang":true}}`); err != nil {
		return first, healthy, err
	}
	// The hanging host's requests stay open until the replica's upstream
	// timeout; the topology's processes stop after this workload.
	defer func() {
		if ferr := h.setFault(context.WithoutCancel(ctx), sim.URL, `{"global":{}}`); ferr != nil && err == nil {
			err = ferr
		}
	}()
	gw := t.gateways[0]
	floorBody, deferBody := body(queryCold, healthyRefs), body(queryDeferred, t.refs)
	if _, err := h.post(ctx, gw.URL, floorBody); err != nil { // connections, parsing
		return first, healthy, fmt.Errorf("defer, floor warm-up: %w", err)
	}
	var fl, f1, fh loadResult
	// Redis round trips of each kind of query, read around each (the
	// queries alternate on one replica, so one pass's counters would mix
	// them); work the hanging host's requests finish later is counted in
	// whichever query runs then.
	var floorRedis, deferRedis redisTally
	proxies := []*redisProxy{h.gwProxy}
	for range h.opts.floorIters {
		before := floorRedis.start(proxies)
		d, err := h.post(ctx, gw.URL, floorBody)
		if err != nil {
			return first, healthy, fmt.Errorf("defer, floor: %w", err)
		}
		floorRedis.stop(proxies, before)
		fl.latencies = append(fl.latencies, d)
		before = deferRedis.start(proxies)
		d1, dh, err := h.postDeferred(ctx, gw.URL, deferBody, isHealthy)
		if err != nil {
			return first, healthy, fmt.Errorf("defer: %w", err)
		}
		deferRedis.stop(proxies, before)
		f1.latencies, fh.latencies = append(f1.latencies, d1), append(fh.latencies, dh)
		// The order of events, not a clock: the healthy statuses came while
		// the hanging host still held the replica's requests open.
		st, err := h.simStats(ctx, sim.URL)
		if err != nil {
			return first, healthy, err
		}
		if st.Held == 0 {
			return first, healthy, errors.New("defer: the healthy statuses came after the hanging host let go of its requests: they waited for it")
		}
	}
	first.gw.latencies(f1)
	healthy.gw.latencies(fh)
	first.floor.latencies(fl)
	healthy.floor.latencies(fl)
	for _, s := range []*sample{&first.gw, &healthy.gw} {
		deferRedis.fill(s)
	}
	for _, s := range []*sample{&first.floor, &healthy.floor} {
		floorRedis.fill(s)
	}
	return first, healthy, nil
}

// redisTally sums the Redis round trips of a series of queries.
type redisTally struct {
	queries           int
	turns, handshakes int64
	byNode            []int64
}

// start returns the counters before one query.
func (r *redisTally) start(proxies []*redisProxy) counters {
	var c counters
	c.redisTurns, c.redisHandshakes, c.redisByNode = redisCounts(proxies)
	return c
}

// stop adds one query's round trips since before.
func (r *redisTally) stop(proxies []*redisProxy, before counters) {
	after := r.start(proxies)
	d := after.sub(before)
	r.queries++
	r.turns += d.redisTurns
	r.handshakes += d.redisHandshakes
	for i, n := range d.redisByNode {
		if i >= len(r.byNode) {
			r.byNode = append(r.byNode, 0)
		}
		r.byNode[i] += n
	}
}

// fill sets the per-query Redis figures of s.
func (r *redisTally) fill(s *sample) {
	if r.queries == 0 {
		return
	}
	n := float64(r.queries)
	s.redisRT, s.handshakes = float64(r.turns)/n, float64(r.handshakes)/n
	s.redisNodes = float64(counters{redisByNode: r.byNode}.nodes())
}

// setFault puts faults (the JSON of PUT /_simulator/faults) on the simulator at base.
func (h *harness) setFault(ctx context.Context, base, faults string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/_simulator/faults", bytes.NewBufferString(faults))
	if err != nil {
		return fmt.Errorf("simulator faults: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("simulator faults: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("simulator faults: HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}

// post sends one GraphQL request and returns how long its whole answer
// took, failing on any error in it.
func (h *harness) post(ctx context.Context, base string, b []byte) (time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	switch {
	case err != nil:
		return 0, err
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	case bytes.Contains(raw, []byte(`"errors"`)):
		return 0, fmt.Errorf("GraphQL errors: %.300s", raw)
	}
	return d, nil
}

// incremental is one deferred payload of a multipart/mixed answer.
type incremental struct {
	Path   []json.RawMessage `json:"path"`
	Errors []json.RawMessage `json:"errors"`
}

// postDeferred sends a deferred query accepting multipart/mixed and reads
// its parts until every bot i with healthy[i] has its status; it returns
// the time to the first part and to the last healthy status, and stops
// reading there (the hanging host's statuses are still to come).
func (h *harness) postDeferred(ctx context.Context, base string, b []byte, healthy []bool) (first, all time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the rest of the stream is not read
	want := 0
	for _, ok := range healthy {
		if ok {
			want++
		}
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "multipart/mixed")
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || err != nil || mt != "multipart/mixed" {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, 0, fmt.Errorf("HTTP %d, %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	seen := make([]bool, len(healthy))
	for got, n := 0, 0; got < want; n++ {
		part, err := mr.NextPart()
		if err != nil {
			return 0, 0, fmt.Errorf("part %d, after %d of %d healthy statuses: %w", n, got, want, err)
		}
		raw, err := io.ReadAll(part)
		if err != nil {
			return 0, 0, fmt.Errorf("part %d: %w", n, err)
		}
		if n == 0 {
			first = time.Since(start)
			if bytes.Contains(raw, []byte(`"errors"`)) {
				return 0, 0, fmt.Errorf("first part: %.300s", raw)
			}
			continue
		}
		var inc struct {
			Incremental []incremental `json:"incremental"`
		}
		if err := json.Unmarshal(raw, &inc); err != nil {
			return 0, 0, fmt.Errorf("part %d: %w: %.200s", n, err, raw)
		}
		for _, p := range inc.Incremental {
			var i int
			if len(p.Path) != 2 || json.Unmarshal(p.Path[1], &i) != nil || i < 0 || i >= len(healthy) {
				return 0, 0, fmt.Errorf("part %d: unexpected path %s", n, raw)
			}
			if !healthy[i] {
				continue // the hanging host's: an error once its requests time out or its breaker opens
			}
			if len(p.Errors) > 0 {
				return 0, 0, fmt.Errorf("part %d: healthy bot %d: %s", n, i, p.Errors[0])
			}
			if !seen[i] {
				seen[i] = true
				got++
			}
		}
	}
	return first, time.Since(start), nil
}

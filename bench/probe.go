package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// counters is what the harness reads before and after a measured pass; the
// difference divided by the queries of the pass gives the per-query figures.
type counters struct {
	upstream    int64   // requests the simulators answered (all hosts)
	connections int64   // new TCP connections the simulators accepted
	cpuTicks    int64   // CPU time of the measured processes, /proc clock ticks
	mallocs     float64 // go_memstats_mallocs_total of the measured processes
	// redisTurns and redisHandshakes are the round trips (connection
	// set-ups apart) through the measured processes' Redis proxies;
	// redisByNode is redisTurns per proxy, that is per Redis node.
	redisTurns      int64
	redisHandshakes int64
	redisByNode     []int64
	byBot           map[string]int64
}

// maxPerBot is the most upstream requests any one bot received.
func (c counters) maxPerBot() int64 {
	var m int64
	for _, n := range c.byBot {
		m = max(m, n)
	}
	return m
}

// nodes is the number of Redis nodes with at least one round trip.
func (c counters) nodes() int {
	n := 0
	for _, t := range c.redisByNode {
		if t > 0 {
			n++
		}
	}
	return n
}

// sub returns c - o.
func (c counters) sub(o counters) counters {
	d := counters{
		upstream: c.upstream - o.upstream, connections: c.connections - o.connections, cpuTicks: c.cpuTicks - o.cpuTicks,
		mallocs: c.mallocs - o.mallocs, redisTurns: c.redisTurns - o.redisTurns, redisHandshakes: c.redisHandshakes - o.redisHandshakes,
		byBot: map[string]int64{},
	}
	for i, n := range c.redisByNode {
		if i < len(o.redisByNode) {
			n -= o.redisByNode[i]
		}
		d.redisByNode = append(d.redisByNode, n)
	}
	for b, n := range c.byBot {
		if n -= o.byBot[b]; n != 0 {
			d.byBot[b] = n
		}
	}
	return d
}

// simStats is the part of /_simulator/stats the harness reads.
type simStats struct {
	Total       int64            `json:"total"`
	Connections int64            `json:"connections"`
	ByBot       map[string]int64 `json:"byBot"`
	Held        int64            `json:"held"` // requests a hang fault holds open now
}

// measured names the processes whose cost a pass measures.
type measured struct {
	procs []*proc
	// proxies count the processes' Redis round trips, one proxy per Redis
	// node (the harness runs one node, so one proxy: "nodes touched" is 1
	// whenever a pass made a round trip).
	proxies []*redisProxy
	// scrapeMallocs is what one /metrics scrape allocates in these processes,
	// subtracted from every pass (calibrate).
	scrapeMallocs float64
}

// read takes a snapshot of the simulators of t and of m's processes.
func (h *harness) read(ctx context.Context, t *topology, m *measured) (counters, error) {
	c := counters{byBot: map[string]int64{}}
	for _, s := range t.sims {
		st, err := h.simStats(ctx, s.URL)
		if err != nil {
			return c, err
		}
		c.upstream += st.Total
		c.connections += st.Connections
		for b, n := range st.ByBot {
			c.byBot[b] += n
		}
	}
	for _, p := range m.procs {
		ticks, err := cpuTicks(p.Pid())
		if err != nil {
			return c, err
		}
		c.cpuTicks += ticks
		n, err := h.mallocs(ctx, p.URL)
		if err != nil {
			return c, err
		}
		c.mallocs += n
	}
	c.redisTurns, c.redisHandshakes, c.redisByNode = redisCounts(m.proxies)
	return c, nil
}

// redisCounts reads the round trips and handshakes of proxies, and the round
// trips of each.
func redisCounts(proxies []*redisProxy) (turns, handshakes int64, byNode []int64) {
	for _, p := range proxies {
		t := p.Turns()
		turns += t
		handshakes += p.Handshakes()
		byNode = append(byNode, t)
	}
	return turns, handshakes, byNode
}

// calibrate measures what scraping /metrics allocates in m's processes, so
// that passes report the allocations of the requests alone.
func (h *harness) calibrate(ctx context.Context, m *measured) error {
	var total float64
	for _, p := range m.procs {
		a, err := h.mallocs(ctx, p.URL)
		if err != nil {
			return err
		}
		b, err := h.mallocs(ctx, p.URL)
		if err != nil {
			return err
		}
		total += b - a
	}
	m.scrapeMallocs = total
	return nil
}

func (h *harness) simStats(ctx context.Context, base string) (simStats, error) {
	var st simStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_simulator/stats", nil)
	if err != nil {
		return st, fmt.Errorf("simulator stats: %w", err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("simulator stats: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("simulator stats: %w", err)
	}
	return st, nil
}

// mallocs reads go_memstats_mallocs_total from base/metrics (the Go
// collector of client_golang, registered by the gateway and the REST floor).
func (h *harness) mallocs(ctx context.Context, base string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metrics: go_memstats_mallocs_total: %w", err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	return 0, fmt.Errorf("metrics: %s/metrics has no go_memstats_mallocs_total", base)
}

// quiesce waits until the simulators of t have answered nothing new for
// settle (background refreshes finish after the answers that started them),
// bounded by 30 s.
func (h *harness) quiesce(ctx context.Context, t *topology, settle time.Duration) error {
	deadline := time.Now().Add(30 * time.Second)
	last, stable := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		var total int64
		for _, s := range t.sims {
			st, err := h.simStats(ctx, s.URL)
			if err != nil {
				return err
			}
			total += st.Total
		}
		if total != last {
			last, stable = total, time.Now()
		} else if time.Since(stable) >= settle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("the simulators did not settle within 30s")
}

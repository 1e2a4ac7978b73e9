package simulator

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
)

// Stats is what reached the simulator's API routes (never its /_simulator/ control routes).
type Stats struct {
	Total       int64            `json:"total"`
	ByPath      map[string]int64 `json:"byPath"`      // method and route pattern, e.g. "GET /api/public/bot/{botId}/publish/status"
	ByBot       map[string]int64 `json:"byBot"`       // bot ID -> requests naming it (status and publish), whatever the answer
	ByStatus    map[string]int64 `json:"byStatus"`    // "200", "401", "429"...; "499" when the client left first
	ByAccount   map[string]int64 `json:"byAccount"`   // Account.Name -> requests authenticated as it
	Publishes   map[string]int64 `json:"publishes"`   // bot ID -> accepted publish POSTs
	Connections int64            `json:"connections"` // new TCP connections seen by ConnStateHook
	Held        int64            `json:"held"`        // requests a Hang fault holds open now (not zeroed by Reset)
}

// Keys of Stats for requests that did not get an ordinary answer.
const (
	// PathUnknown is the ByPath key (after the method) of a request matching no route.
	PathUnknown = "(unknown)"
	// StatusClientGone is the ByStatus key of a request whose client left before the answer.
	StatusClientGone = "499"
)

// counters holds Stats behind its own lock, so counting never waits on the simulator's state.
type counters struct {
	mu   sync.Mutex
	s    Stats
	held atomic.Int64 // a gauge, apart from the counters Reset zeroes
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = Stats{
		ByPath:    map[string]int64{},
		ByBot:     map[string]int64{},
		ByStatus:  map[string]int64{},
		ByAccount: map[string]int64{},
		Publishes: map[string]int64{},
	}
}

// record counts one answered (or abandoned) request; status 0 means the client left.
func (c *counters) record(pattern, botID, accountName string, status int, published bool) {
	key := StatusClientGone
	if status != 0 {
		key = strconv.Itoa(status)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Total++
	c.s.ByPath[pattern]++
	c.s.ByStatus[key]++
	if botID != "" {
		c.s.ByBot[botID]++
	}
	if accountName != "" {
		c.s.ByAccount[accountName]++
	}
	if published {
		c.s.Publishes[botID]++
	}
}

func (c *counters) connection() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Connections++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.ByPath = maps.Clone(c.s.ByPath)
	out.ByBot = maps.Clone(c.s.ByBot)
	out.ByStatus = maps.Clone(c.s.ByStatus)
	out.ByAccount = maps.Clone(c.s.ByAccount)
	out.Publishes = maps.Clone(c.s.Publishes)
	out.Held = c.held.Load()
	return out
}

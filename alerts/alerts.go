// Package alerts turns what the gateway already observes of Kore.ai — the
// jobs its loader reads from the cache or fetches, the outcome of each
// upstream attempt, the budget's refusals — into the bounded Prometheus
// metrics that deploy/prometheus/alerts.yml pages on. It never makes a
// request of its own.
//
// Counters (transitions, budget refusals) are counted by the replica that
// did the work: a transition only by the replica that fetched the new
// answer (the fill lock makes that one replica per fetch), so they can be
// summed across replicas. Gauges (bots by state, the oldest publish in
// progress, reachability) are each replica's own view; the alert rules
// aggregate them with max by environment. Labels are bounded: the
// configured environment names and the four publish states, never a bot.
package alerts

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// States are the values of the state label, in exposition order.
var States = []upstream.State{upstream.StateSuccessful, upstream.StateFailed, upstream.StateInProgress, upstream.StateUnknown}

// maxBotsPerEnvironment bounds the memory of one environment's view; past
// it, bots not seen for the longest are forgotten first.
const maxBotsPerEnvironment = 100_000

// Observer holds one replica's view of every environment's publish jobs and
// exports it. It is safe for concurrent use.
type Observer struct {
	now     func() time.Time
	started time.Time
	maxAge  time.Duration

	mu   sync.Mutex
	envs map[string]*environment

	transitions *prometheus.CounterVec
	exhausted   *prometheus.CounterVec

	botsDesc, oldestDesc, upDesc *prometheus.Desc
}

// environment is the view of one configured environment.
type environment struct {
	bots        map[string]bot
	breakerOpen func() bool
	// lastOK and lastFailed are when an upstream attempt last got an
	// answer, and last got none or a 5xx.
	lastOK, lastFailed time.Time
}

// bot is the last job observed for one bot.
type bot struct {
	jobID    string
	state    upstream.State
	never    bool      // no job: never published
	started  time.Time // when its job began (initiatedOn, else requestedTime); zero if unknown
	finished time.Time // lastModifiedOn of a finished job
	seenAt   time.Time // when the upstream gave this answer (the entry's FetchedAt)
}

// Option configures an Observer.
type Option func(*Observer)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *Observer) { o.now = now } }

// WithMaxAge sets how old an answer may be and still count in the gauges
// (default 10m): a bot nobody has read for longer leaves them, so that a
// publish which finished unobserved does not look stuck for ever. Use the
// cache's retention (ttl + staleFor): older answers are not served either.
func WithMaxAge(d time.Duration) Option {
	return func(o *Observer) {
		if d > 0 {
			o.maxAge = d
		}
	}
}

// New returns an Observer of the named environments whose metrics are
// registered on reg. Every series of every environment exists from the
// start (counters at 0), so that rate() and absent() behave in rules.
func New(reg prometheus.Registerer, environments []string, opts ...Option) (*Observer, error) {
	o := &Observer{
		now:    time.Now,
		maxAge: 10 * time.Minute,
		envs:   make(map[string]*environment, len(environments)),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "publishgate_publish_transitions_total",
			Help: "Publish jobs seen reaching a final state (to: FAILED or SUCCESSFUL), counted once, by the replica that fetched the answer.",
		}, []string{"environment", "to"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "publishgate_upstream_budget_exhausted_total",
			Help: "Upstream requests not sent because the environment's or the bot's budget was spent (or Kore.ai asked to back off).",
		}, []string{"environment"}),
		botsDesc: prometheus.NewDesc("publishgate_bots",
			"Bots by the state of their last publish job, as this replica last saw them (never-published bots and answers older than the cache's retention are not counted).",
			[]string{"environment", "state"}, nil),
		oldestDesc: prometheus.NewDesc("publishgate_oldest_inprogress_publish_age_seconds",
			"Age of the oldest publish job still in progress, as this replica last saw it; 0 when none is.",
			[]string{"environment"}, nil),
		upDesc: prometheus.NewDesc("publishgate_environment_up",
			"1 when the environment's Kore.ai host answers; 0 when its breaker is open, or its attempts have got no answer or 5xx for a minute (or since the first) with none answered.",
			[]string{"environment"}, nil),
	}
	for _, opt := range opts {
		opt(o)
	}
	o.started = o.now()
	for _, name := range environments {
		if _, dup := o.envs[name]; dup {
			return nil, fmt.Errorf("alerts: environment %q named twice", name)
		}
		o.envs[name] = &environment{bots: map[string]bot{}}
		for _, to := range []upstream.State{upstream.StateFailed, upstream.StateSuccessful} {
			o.transitions.WithLabelValues(name, string(to))
		}
		o.exhausted.WithLabelValues(name)
	}
	for _, c := range []prometheus.Collector{o.transitions, o.exhausted, o} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alerts: register metrics: %w", err)
		}
	}
	return o, nil
}

// Breaker makes env's reachability read its circuit breaker at every
// scrape: an open breaker is down.
func (o *Observer) Breaker(env string, open func() bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.envs[env]; e != nil {
		e.breakerOpen = open
	}
}

// Seen records cached answers read by a lookup (entries[i] answers
// keys[i]; nil or missing entries are misses). It counts no transition:
// whoever stored those answers did.
func (o *Observer) Seen(keys []cache.Key, entries []*cache.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, k := range keys {
		if i >= len(entries) || entries[i] == nil {
			continue
		}
		e := o.envs[k.Environment]
		if e == nil {
			continue
		}
		if prev, ok := e.bots[k.BotID]; ok && !prev.seenAt.Before(entries[i].FetchedAt) {
			continue // seen already, or an older copy (another replica's, or a stale local one)
		}
		e.put(k.BotID, observe(*entries[i]))
	}
}

// Stored records an answer this replica fetched from Kore.ai and wrote to
// the cache, and counts the transition it shows, if any: a job reaching
// FAILED or SUCCESSFUL that was last seen in another state, or a new job
// already finished. A bot this replica has not seen before counts only if
// its job finished after the replica started and within the retention
// (WithMaxAge): a restart does not recount old failures, and another
// replica's fetch of the same finish would have been seen (read from the
// shared cache) before this one.
func (o *Observer) Stored(_ context.Context, k cache.Key, entry cache.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.envs[k.Environment]
	if e == nil {
		return
	}
	b := observe(entry)
	prev, known := e.bots[k.BotID]
	e.put(k.BotID, b)
	if b.never || (b.state != upstream.StateFailed && b.state != upstream.StateSuccessful) {
		return
	}
	switch {
	case known && !prev.never && prev.jobID == b.jobID && prev.state == b.state:
		return // nothing changed
	case !known && (b.finished.IsZero() || !b.finished.After(o.started) || o.now().Sub(b.finished) > o.maxAge):
		return // first sight of an old result
	}
	o.transitions.WithLabelValues(k.Environment, string(b.state)).Inc()
}

// DownAfter is how long an environment's attempts must have failed, with
// none answered, before it is reported down without an open breaker: one
// broken bot among answering ones does not make its host down.
const DownAfter = time.Minute

// Upstream records the outcome of one attempt against env's host: status
// 0 (no answer) and 5xx are failures, any other answer (400, 401 and 429
// included) proves the host up.
func (o *Observer) Upstream(env string, status int) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.envs[env]; e != nil {
		if status == 0 || status >= 500 {
			e.lastFailed = now
		} else {
			e.lastOK = now
		}
	}
}

// up reports whether e's host answers: its breaker is not open, and its
// attempts have not all failed for DownAfter (or since the first one).
func (e *environment) up(now time.Time) bool {
	if e.breakerOpen != nil && e.breakerOpen() {
		return false
	}
	failing := e.lastFailed.After(e.lastOK) && (e.lastOK.IsZero() || now.Sub(e.lastOK) >= DownAfter)
	return !failing
}

// BudgetExhausted counts one upstream request env's budget refused.
func (o *Observer) BudgetExhausted(env string) {
	if _, ok := o.envs[env]; ok { // envs is fixed after New
		o.exhausted.WithLabelValues(env).Inc()
	}
}

// observe reduces a cache entry to what the metrics need.
func observe(entry cache.Entry) bot {
	b := bot{seenAt: entry.FetchedAt, never: entry.Job == nil}
	if j := entry.Job; j != nil {
		b.jobID, b.state = j.ID, j.Status
		switch {
		case j.InitiatedOn != nil:
			b.started = *j.InitiatedOn
		case j.RequestedTime != nil:
			b.started = *j.RequestedTime
		}
		if j.LastModifiedOn != nil && j.Status != upstream.StateInProgress {
			b.finished = *j.LastModifiedOn
		}
	}
	return b
}

// put stores b, forgetting the least recently seen bots past the bound.
func (e *environment) put(id string, b bot) {
	if _, ok := e.bots[id]; !ok && len(e.bots) >= maxBotsPerEnvironment {
		var oldest string
		for k, v := range e.bots {
			if oldest == "" || v.seenAt.Before(e.bots[oldest].seenAt) {
				oldest = k
			}
		}
		delete(e.bots, oldest)
	}
	e.bots[id] = b
}

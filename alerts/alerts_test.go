package alerts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publishgate/publishgate/alerts"
	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/upstream"
)

// clock is a clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newObserver(t *testing.T, envs ...string) (*alerts.Observer, *prometheus.Registry, *clock) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := &clock{t: t0}
	o, err := alerts.New(reg, envs, alerts.WithClock(c.Now), alerts.WithMaxAge(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return o, reg, c
}

// job is a publish job in state s that started at started and, when
// finished, ended at ended.
func job(id string, s upstream.State, started, ended time.Time) *upstream.Job {
	j := &upstream.Job{ID: id, Status: s, InitiatedOn: &started}
	if s != upstream.StateInProgress {
		j.LastModifiedOn = &ended
	}
	return j
}

func key(env, bot string) cache.Key { return cache.Key{Environment: env, BotID: bot} }

func TestStoredCountsTransitions(t *testing.T) {
	const bot = "st-00000000-0000-4000-8000-000000000001"
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	later := t0.Add(time.Minute)
	tests := []struct {
		name       string
		seen       *upstream.Job // read from the cache before, nil = not seen
		stored     []*upstream.Job
		wantFailed float64
		wantOK     float64
	}{
		{name: "an old failure seen first after a start is not counted",
			stored: []*upstream.Job{job("ds-1", upstream.StateFailed, ago(2*time.Hour), ago(time.Hour))}},
		{name: "a failure that ended after the start is counted on first sight",
			stored:     []*upstream.Job{job("ds-1", upstream.StateFailed, ago(time.Minute), later)},
			wantFailed: 1},
		{name: "in progress then failed is counted once",
			stored: []*upstream.Job{
				job("ds-1", upstream.StateInProgress, ago(time.Minute), time.Time{}),
				job("ds-1", upstream.StateFailed, ago(time.Minute), ago(time.Hour)),
				job("ds-1", upstream.StateFailed, ago(time.Minute), ago(time.Hour)),
			},
			wantFailed: 1},
		{name: "in progress read from the cache then successful is counted",
			seen:   job("ds-1", upstream.StateInProgress, ago(time.Minute), time.Time{}),
			stored: []*upstream.Job{job("ds-1", upstream.StateSuccessful, ago(time.Minute), ago(time.Hour))},
			wantOK: 1},
		{name: "a new job that already failed after a failed one is counted",
			seen:       job("ds-1", upstream.StateFailed, ago(3*time.Hour), ago(2*time.Hour)),
			stored:     []*upstream.Job{job("ds-2", upstream.StateFailed, ago(time.Hour), ago(time.Hour))},
			wantFailed: 1},
		{name: "an answer already read from the cache is not counted again",
			seen:   job("ds-1", upstream.StateFailed, ago(time.Minute), later),
			stored: []*upstream.Job{job("ds-1", upstream.StateFailed, ago(time.Minute), later)}},
		{name: "a bot never published counts nothing",
			stored: []*upstream.Job{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, reg, c := newObserver(t, "prod")
			c.Advance(2 * time.Minute)
			if tt.seen != nil {
				o.Seen([]cache.Key{key("prod", bot)}, []*cache.Entry{{Job: tt.seen, FetchedAt: c.Now()}})
			}
			for _, j := range tt.stored {
				c.Advance(time.Second)
				o.Stored(context.Background(), key("prod", bot), cache.Entry{Job: j, FetchedAt: c.Now()})
			}
			failed := value(t, reg, "publishgate_publish_transitions_total", map[string]string{"environment": "prod", "to": "FAILED"})
			ok := value(t, reg, "publishgate_publish_transitions_total", map[string]string{"environment": "prod", "to": "SUCCESSFUL"})
			if failed != tt.wantFailed || ok != tt.wantOK {
				t.Fatalf("transitions to FAILED %v, to SUCCESSFUL %v; want %v, %v", failed, ok, tt.wantFailed, tt.wantOK)
			}
		})
	}
}

func TestGaugesAreThisReplicasView(t *testing.T) {
	o, reg, c := newObserver(t, "prod", "dev")
	stuck := job("ds-s", upstream.StateInProgress, t0.Add(-40*time.Minute), time.Time{})
	young := job("ds-y", upstream.StateInProgress, t0.Add(-time.Minute), time.Time{})
	o.Seen(
		[]cache.Key{key("prod", "a"), key("prod", "b"), key("prod", "c"), key("prod", "d"), key("prod", "e"), key("elsewhere", "f")},
		[]*cache.Entry{
			{Job: stuck, FetchedAt: t0},
			{Job: young, FetchedAt: t0},
			{Job: job("ds-f", upstream.StateFailed, t0.Add(-time.Hour), t0.Add(-time.Hour)), FetchedAt: t0},
			{Job: nil, FetchedAt: t0}, // never published: not a state
			nil,                       // a miss
			{Job: stuck, FetchedAt: t0},
		})
	o.Seen([]cache.Key{key("prod", "a")}, []*cache.Entry{{Job: young, FetchedAt: t0.Add(-time.Minute)}}) // older copy: ignored
	c.Advance(5 * time.Minute)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"publishgate_bots", map[string]string{"environment": "prod", "state": "FAILED"}, 1},
		{"publishgate_bots", map[string]string{"environment": "prod", "state": "INPROGRESS"}, 2},
		{"publishgate_bots", map[string]string{"environment": "prod", "state": "SUCCESSFUL"}, 0},
		{"publishgate_bots", map[string]string{"environment": "prod", "state": "UNKNOWN"}, 0},
		{"publishgate_bots", map[string]string{"environment": "dev", "state": "INPROGRESS"}, 0},
		{"publishgate_oldest_inprogress_publish_age_seconds", map[string]string{"environment": "prod"}, 45 * 60},
		{"publishgate_oldest_inprogress_publish_age_seconds", map[string]string{"environment": "dev"}, 0},
	} {
		if got := value(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if n := seriesCount(t, reg, "publishgate_bots"); n != 2*len(alerts.States) {
		t.Errorf("%d publishgate_bots series, want %d: an unknown environment must not add any", n, 2*len(alerts.States))
	}
	// Past the retention nobody has read them: they leave the gauges.
	c.Advance(6 * time.Minute)
	if got := gaugeValue(t, reg, "publishgate_oldest_inprogress_publish_age_seconds", "prod"); got != 0 {
		t.Fatalf("oldest in progress after the retention = %v, want 0", got)
	}
}

func TestEnvironmentUp(t *testing.T) {
	tests := []struct {
		name     string
		breaker  bool
		attempts []int // status per attempt, 0 = no answer
		advance  time.Duration
		want     float64
	}{
		{name: "no attempt yet is up", want: 1},
		{name: "answers, 4xx included, are up", attempts: []int{200, 400, 401, 429}, want: 1},
		{name: "an open breaker is down", breaker: true, attempts: []int{200}, want: 0},
		{name: "failures and never an answer are down", attempts: []int{0, 503}, want: 0},
		{name: "one broken bot among answers stays up", attempts: []int{200, 503, 200, 0}, want: 1},
		{name: "failures for a minute since the last answer are down", attempts: []int{200, 0}, advance: time.Minute, want: 0},
		{name: "an answer after failures is up", attempts: []int{0, 0, 200}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, reg, c := newObserver(t, "prod")
			o.Breaker("prod", func() bool { return tt.breaker })
			for i, st := range tt.attempts {
				if i == len(tt.attempts)-1 {
					c.Advance(tt.advance)
				}
				o.Upstream("prod", st)
			}
			if got := gaugeValue(t, reg, "publishgate_environment_up", "prod"); got != tt.want {
				t.Fatalf("publishgate_environment_up = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCountingBudgetCountsRefusals(t *testing.T) {
	o, reg, _ := newObserver(t, "prod")
	b := o.CountingBudget(budget.NewLocal(func(string) budget.Limits { return budget.Limits{BotPerMinute: 5} }))
	ctx := context.Background()
	refused := 0
	for range 10 {
		if err := b.Allow(ctx, "prod", "st-x"); err != nil {
			refused++
		}
	}
	got := gaugeValue(t, reg, "publishgate_upstream_budget_exhausted_total", "prod")
	if refused == 0 || got != float64(refused) {
		t.Fatalf("refused %d, counted %v", refused, got)
	}
}

func TestNewRefusesADuplicateEnvironment(t *testing.T) {
	if _, err := alerts.New(prometheus.NewRegistry(), []string{"a", "a"}); err == nil {
		t.Fatal("no error for an environment named twice")
	}
}

// value gathers reg and returns the value of the gauge or counter name
// whose labels include want.
func value(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}

// seriesCount returns how many series name has.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// gaugeValue returns the value of name{environment=env}.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, env string) float64 {
	t.Helper()
	return value(t, reg, name, map[string]string{"environment": env})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/internal/keyspace"
)

// The budget cells (cold-budget, herd-budget) run the cold and herd
// workloads with the gateway's upstream budgets at their production
// defaults (config.DefaultEnvironment: 600 requests a minute per host, 50 a
// minute and 1,500 an hour per bot), so that what the budget costs a query
// (its Redis round trips, its latency) is measured; the simulators' own Kore
// limits stay off.
//
// The budget must not be what the cell measures, and the benchmark asks far
// more of it than production does: cold sends -cold-rate queries a second
// over the same bots, where a bot's 50 a minute is a burst of 10 and then
// one every 1.5 s (the budget package takes N/5 as a hard window's burst),
// and herd-budget refreshes every bot twice a -herd-ttl apart (3 s), where
// production's lifetime of 30 s refills the windows in between. So every
// budget window is refilled before each measured query of cold-budget and
// before the fill and the herd of herd-budget (resetBudgets), rather than
// giving each repetition fresh bot IDs: fresh IDs would need the bots of
// every query of every repetition of both binaries in the configurations
// and simulators (tens of thousands at 1,000 bots), and would still leave a
// repetition's queries to drain the same bots' windows. Each measured query
// thus meets the windows a dashboard's first query meets: full.
//
// A full window must still admit one query: a topology whose host holds
// more bots than the environment's budget allows at once is refused by
// design, not by the gateway's coordination, and its budget cells are
// skipped (budgetSkip).

// budgetLimits are the budgets the budget cells run with.
func budgetLimits() (envPerMinute, botPerMinute, botPerHour int) {
	d := config.DefaultEnvironment()
	return d.RatePerMinute, d.BotRatePerMinute, d.BotRatePerHour
}

// budgetSkip says why the budget cells cannot run on t ("" when they can):
// one cold query of a host's bots must fit the environment's window whole
// (600: a soft window lets a full minute's worth go at once), and, since the
// window is split evenly over the keyspace buckets so that each bot takes it
// in its own bucket's slot (internal/keyspace.EnvBudget), the bots of the
// host's fullest bucket must fit one share of it (600/16 = 37.5).
func (t *topology) budgetSkip() string {
	env, _, _ := budgetLimits()
	if env <= 0 {
		return ""
	}
	share := float64(env) / keyspace.Buckets
	for _, e := range t.envs {
		if len(e.Bots) > env {
			return fmt.Sprintf("a host holds %d bots: one cold query of them is more than the environment budget of %d a minute admits (refused by design)", len(e.Bots), env)
		}
		per := map[int]int{}
		for _, id := range e.Bots {
			per[keyspace.Bucket(id)]++
		}
		for b, n := range per {
			if float64(n) > share {
				return fmt.Sprintf("bucket %d of host %s holds %d bots, more than its share (%.1f) of the environment budget of %d a minute admits at once (refused by design)", b, e.Name, n, share, env)
			}
		}
	}
	return ""
}

// budgetKeys matches the budget windows and back-offs of every key version:
// publishgate:v2:budget:... and, before internal/keyspace, go-redis/
// redis_rate's rate:publishgate:v1:budget:... (it prefixes its own).
const budgetKeys = "*publishgate:*budget:*"

// resetBudgets deletes every budget window and back-off from Redis, so that
// every budget is full again: the shared budget keeps nothing else (its
// in-process fallback is used only while Redis fails). It returns how many
// keys it deleted, and talks to Redis directly, not through a counting proxy.
func (h *harness) resetBudgets(ctx context.Context) (int, error) {
	c := redis.NewClient(&redis.Options{Addr: h.redis.Addr})
	defer c.Close()
	it := c.Scan(ctx, 0, budgetKeys, 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("reset budgets: %w", err)
	}
	for start := 0; start < len(keys); start += 1000 {
		if err := c.Unlink(ctx, keys[start:min(start+1000, len(keys))]...).Err(); err != nil {
			return 0, fmt.Errorf("reset budgets: %w", err)
		}
	}
	return len(keys), nil
}

// mustResetBudgets is resetBudgets right after a query that spent every
// bot's budget (a window's key lives until the window is full again, 1.5 s
// and more for a bot's): finding nothing to reset means the budget keys are
// named in a way budgetKeys does not match (or kept outside Redis), and the
// budget cell would drain them instead of measuring.
func (h *harness) mustResetBudgets(ctx context.Context) error {
	n, err := h.resetBudgets(ctx)
	if err == nil && n == 0 {
		err = fmt.Errorf("reset budgets: no key matches %q after a cold query with the budgets on: how does the gateway keep its budget windows now?", budgetKeys)
	}
	return err
}

// coldBudget: cold with the budgets at their defaults. The queries go one
// at a time at -cold-rate for -duration, as in cold, every budget window
// refilled before each (untimed, outside the query); no ladder (the budget
// bounds the rate by design).
func (h *harness) coldBudget(ctx context.Context, t *topology, b binary, floors map[string]sample) ([]result, error) {
	if _, err := t.use(ctx, b, gatewayConfig{ttl: time.Hour, budgets: true}); err != nil {
		return nil, err
	}
	gw := t.gateways[0]
	m := &measured{procs: []*proc{gw}, proxies: []*redisProxy{h.gwProxy}}
	q := body(queryCold, t.refs)
	if _, err := h.resetBudgets(ctx); err != nil {
		return nil, err
	}
	if err := h.warmUp(ctx, targets([]string{gw.URL}, q)); err != nil {
		return nil, err
	}
	if err := h.mustResetBudgets(ctx); err != nil {
		return nil, err
	}
	if err := h.calibrate(ctx, m); err != nil {
		return nil, err
	}
	n := max(1, int(h.opts.coldRate*h.opts.duration.Seconds()))
	interval := time.Duration(float64(time.Second) / max(h.opts.coldRate, 1e-3))
	var resetErr error
	drive := func() loadResult {
		var r loadResult
		next := time.Now()
		for i := range n {
			if i > 0 {
				if err := h.mustResetBudgets(ctx); err != nil {
					resetErr = err
					break
				}
			}
			select {
			case <-ctx.Done():
				return r
			case <-time.After(time.Until(next)):
			}
			next = time.Now().Add(interval)
			d, err := h.post(ctx, gw.URL, q)
			if err != nil {
				r.failed++
				r.firstErr = cmp(r.firstErr, err.Error())
				continue
			}
			r.latencies = append(r.latencies, d)
		}
		return r
	}
	rec := h.record(ctx, gw, workColdBudget, t, h.opts.duration)
	s, _, err := h.passOf(ctx, t, m, drive, 0)
	if perr := rec.wait(); err == nil {
		err = errors.Join(resetErr, perr)
	}
	if err != nil {
		return nil, fmt.Errorf("cold-budget: %w", err)
	}
	return []result{{workColdBudget, rep{s, floors[workCold]}}}, nil
}

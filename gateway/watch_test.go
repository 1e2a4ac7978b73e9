package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
	"github.com/publishgate/publishgate/watch"
)

// watchedBots is the answer of a query over every bot of an environment.
type watchedBots struct {
	Environment struct {
		Bots []struct {
			ID            string
			PublishStatus *struct {
				Status    string
				Freshness struct {
					FromCache bool
					Stale     bool
				}
			}
		}
	}
}

const watchedQuery = `{ environment(name: "watched") { bots { id publishStatus { status freshness { fromCache stale } } } } }`

// queryWatched queries every bot on base and checks that each answer came
// from the cache, fresh.
func queryWatched(t *testing.T, base string) watchedBots {
	t.Helper()
	resp := testkit.Query(t, base, watchedQuery, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	var data watchedBots
	resp.Decode(t, &data)
	for _, b := range data.Environment.Bots {
		if b.PublishStatus == nil || !b.PublishStatus.Freshness.FromCache || b.PublishStatus.Freshness.Stale {
			t.Fatalf("%s was not answered warm: %+v", b.ID, b.PublishStatus)
		}
	}
	return data
}

// leader returns the replica whose watcher polls env, once exactly one does.
func leader(t *testing.T, reps []*testkit.Gateway, env string) int {
	t.Helper()
	lead := -1
	testkit.Eventually(t, 10*time.Second, "exactly one replica polls "+env, func() bool {
		n := 0
		for i, r := range reps {
			if r.Watchers[env].Leading() {
				n, lead = n+1, i
			}
		}
		return n == 1
	})
	return lead
}

// TestWatchIntervalKeepsQueriesWarmAcrossReplicas: with watchInterval 2s on
// an environment of 200 bots and three replicas, a query makes no upstream
// request after one interval, Kore.ai sees one request per bot per interval
// whatever the number of replicas and dashboards, and a publish started
// upstream shows in a query within one interval.
func TestWatchIntervalKeepsQueriesWarmAcrossReplicas(t *testing.T) {
	const (
		interval = 2 * time.Second
		window   = 30 * time.Second
		bots     = 200
	)
	acct := testkit.Account("watched", bots)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	rdb := testkit.MustRedis(t)
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Redis.URL = rdb.URL
	env := &cfg.Environments[0]
	env.WatchInterval = config.Duration(interval)
	// 200 bots every 2 s is 6,000 requests a minute: the environment's
	// budget must allow it (the per-bot one, 30 a minute, does).
	env.RatePerMinute = 0
	var reps []*testkit.Gateway
	for range 3 {
		reps = append(reps, testkit.MustGateway(t, cfg, gateway.Options{RedisTimeout: 3 * time.Second}))
	}
	lead := leader(t, reps, "watched")
	w := reps[lead].Watchers["watched"]

	// After one interval (the first round, then the next), every replica
	// answers all 200 bots warm: the followers never asked Kore.ai at all.
	testkit.Eventually(t, 20*time.Second, "the first round reads every bot", func() bool {
		return len(sim.Simulator.Stats().ByBot) == bots
	})
	awaitRound(t, w)
	for i, r := range reps {
		data := queryWatched(t, r.URL)
		if len(data.Environment.Bots) != bots {
			t.Fatalf("replica %d answered %d bots", i, len(data.Environment.Bots))
		}
		if i != lead {
			if n := sum(scrape(t, r.URL), "publishgate_upstream_requests_total"); n != 0 {
				t.Fatalf("follower %d made %v upstream requests", i, n)
			}
		}
	}

	// Over 30 s, with a dashboard polling every replica, Kore.ai sees each
	// bot once per interval. The watcher starts a bot's next read early by
	// its round's lag (publishgate_watch_lag_seconds, at most a quarter
	// interval) so that no answer is older than the interval: under load
	// the period is that much shorter, and the bound follows the largest
	// lag the poller reported over the window.
	lagKey := `publishgate_watch_lag_seconds{environment="watched"}`
	maxLag := scrape(t, reps[lead].URL)[lagKey]
	sim.Simulator.Reset()
	start := time.Now()
	timer := time.NewTimer(window)
	ticker := time.NewTicker(500 * time.Millisecond)
	for done, i := false, 0; !done; i++ {
		select {
		case <-timer.C:
			done = true
		case <-ticker.C:
			queryWatched(t, reps[i%len(reps)].URL)
			maxLag = max(maxLag, scrape(t, reps[lead].URL)[lagKey])
		}
	}
	ticker.Stop()
	elapsed := time.Since(start)
	st := sim.Simulator.Stats()
	early := min(time.Duration(maxLag*float64(time.Second)), interval/4)
	maxReads := int64(elapsed/(interval-early)) + 1
	var total, lo, hi int64 = 0, 1 << 62, 0
	for _, b := range acct.Bots {
		n := st.ByBot[b.ID]
		total += n
		lo, hi = min(lo, n), max(hi, n)
	}
	t.Logf("over %v: %d requests for %d bots (%.2f per bot per interval), per bot %d..%d; 429s: %d; largest lag %v",
		elapsed.Round(time.Millisecond), total, bots, float64(total)/bots/(float64(elapsed)/float64(interval)), lo, hi, st.ByStatus["429"], early)
	if hi > maxReads {
		t.Fatalf("a bot was read %d times in %v: more than once per %v less the largest lag %v (at most %d)", hi, elapsed, interval, early, maxReads)
	}
	if lo < maxReads/2 {
		t.Fatalf("a bot was read only %d times in %v: the watcher fell behind", lo, elapsed)
	}
	if st.Total != total {
		t.Fatalf("%d requests besides the bots' status reads", st.Total-total)
	}

	// A publish started upstream shows in a query on a follower within one
	// interval, even when it starts right after the poller read the bot
	// (the worst case: the whole interval until the next read, then the
	// read and its way to the follower).
	follower := (lead + 1) % len(reps)
	target := acct.Bots[bots/2].ID
	awaitRound(t, w)
	if err := sim.Simulator.StartPublish(target); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	q := fmt.Sprintf(`{ publishStatus(environment: "watched", botId: %q) { status freshness { fromCache } } }`, target)
	testkit.Eventually(t, 2*interval+5*time.Second, "the publish shows on a follower", func() bool {
		var data struct {
			PublishStatus struct {
				Status    string
				Freshness struct{ FromCache bool }
			}
		}
		testkit.Query(t, reps[follower].URL, q, nil).Decode(t, &data)
		if !data.PublishStatus.Freshness.FromCache {
			t.Fatal("the follower asked Kore.ai itself")
		}
		return data.PublishStatus.Status == "INPROGRESS"
	})
	seen := time.Since(started)
	t.Logf("the publish showed on a follower after %v", seen.Round(time.Millisecond))
	if seen > interval {
		t.Fatalf("the publish showed after %v, want within one interval (%v)", seen, interval)
	}
	if lag := scrape(t, reps[lead].URL)[`publishgate_watch_lag_seconds{environment="watched"}`]; lag <= 0 {
		t.Fatalf("publishgate_watch_lag_seconds = %v on the poller, want the last batch's lag", lag)
	}
}

// awaitRound waits for the end of the watcher's round under way or next.
func awaitRound(t *testing.T, w *watch.Watcher) {
	t.Helper()
	select {
	case <-w.Rounds():
	case <-time.After(20 * time.Second):
		t.Fatal("no watch round within 20s")
	}
}
